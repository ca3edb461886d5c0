"""API keys and team membership: create, list, revoke, authenticate (hash-only storage)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from datetime import datetime, timedelta, timezone
from typing import Callable

from sqlmodel import Session, select

from freshgate.auth.models import ApiKey, OwnerMember
from freshgate.auth.principal import ROLES, Principal
from freshgate.errors import Invalid, NotFound

log = logging.getLogger(__name__)
KEY_RE = re.compile(r"^fg_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
LAST_USED_EVERY = timedelta(seconds=60)  # last_used is written at most once a minute per key


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _aware(dt: datetime | None) -> datetime | None:
    return dt.replace(tzinfo=timezone.utc) if dt is not None and dt.tzinfo is None else dt


def hash_key(raw: str) -> str:
    """sha256 of a raw key (keys are 256-bit random: a fast hash is enough)."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class KeyService:
    """API keys and team membership within one session; the edge commits."""

    def __init__(self, session: Session, clock: Callable[[], datetime] = _utcnow) -> None:
        self.session = session
        self.clock = clock

    # ---- keys -----------------------------------------------------------------
    def create(self, label: str, role: str, owner: str | None = None, expires: datetime | None = None,
               *, created_by: str = "") -> tuple[ApiKey, str]:
        """A new key and its raw value (shown once; only its hash is stored)."""
        if role not in ROLES:
            raise Invalid(f"role must be one of {', '.join(ROLES)}, not {role!r}",
                          errors=[{"field": "role", "message": "agent | owner | operator"}])
        if role == "owner" and not owner:
            raise Invalid("an owner key needs the owner (or team) it acts for",
                          errors=[{"field": "owner", "message": "is required for role owner"}])
        if role != "owner" and owner:
            raise Invalid("only owner keys act for an owner", errors=[{"field": "owner", "message": "owner role only"}])
        if not label.strip():
            raise Invalid("a key needs a label", errors=[{"field": "label", "message": "is required"}])
        expires = _aware(expires)
        if expires is not None and expires <= self.clock():
            raise Invalid("expiry is in the past", errors=[{"field": "expires", "message": "must be in the future"}])
        key_id = secrets.token_hex(6)
        raw = f"fg_{key_id}_{secrets.token_urlsafe(32)}"
        row = ApiKey(id=key_id, label=label.strip()[:200], role=role, owner_id=owner, key_hash=hash_key(raw),
                     created_at=self.clock(), created_by=created_by[:200], expires_at=expires)
        self.session.add(row)
        self.session.flush()
        log.info("api key %s (%s, %s) created by %s", key_id, role, label, created_by or "?")
        return row, raw

    def list(self, include_revoked: bool = True) -> list[ApiKey]:
        """Every key, newest first."""
        q = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id)
        if not include_revoked:
            q = q.where(ApiKey.revoked_at.is_(None))
        return list(self.session.exec(q).all())

    def get(self, key_id: str) -> ApiKey:
        """One key by id, or NotFound."""
        row = self.session.get(ApiKey, key_id) if re.fullmatch(r"[0-9a-f]{12}", key_id or "") else None
        if row is None:
            raise NotFound(f"no key with id {key_id!r}")
        return row

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key now (idempotent: an already revoked key keeps its first revocation time)."""
        row = self.get(key_id)
        if row.revoked_at is None:
            row.revoked_at = self.clock()
            self.session.add(row)
            self.session.flush()
            log.info("api key %s revoked", key_id)
        return row

    def has_active_operator_key(self) -> bool:
        """True when some unrevoked, unexpired operator key exists."""
        now = self.clock()
        rows = self.session.exec(select(ApiKey).where(ApiKey.role == "operator", ApiKey.revoked_at.is_(None))).all()
        return any(r.expires_at is None or _aware(r.expires_at) > now for r in rows)

    def authenticate(self, raw: str) -> Principal | None:
        """The principal of a raw key, or None (unknown, malformed, revoked or expired)."""
        m = KEY_RE.match(raw or "")
        if not m:
            return None
        row = self.session.get(ApiKey, m.group(1))
        if row is None or not hmac.compare_digest(row.key_hash, hash_key(raw)):
            return None
        now = self.clock()
        if row.revoked_at is not None or (row.expires_at is not None and _aware(row.expires_at) <= now):
            return None
        if row.last_used_at is None or now - _aware(row.last_used_at) >= LAST_USED_EVERY:
            row.last_used_at = now
            self.session.add(row)
            self.session.flush()
        owners = frozenset({row.owner_id, *self.teams_of(row.owner_id)}) if row.owner_id else frozenset()
        return Principal(id=f"key:{row.id}", name=row.owner_id or row.label, role=row.role, owners=owners,
                         via="api_key")

    # ---- teams ----------------------------------------------------------------
    def teams_of(self, member_id: str) -> set[str]:
        """Teams (owner ids) a member belongs to."""
        q = select(OwnerMember.team_id).where(OwnerMember.member_id == member_id)
        return set(self.session.exec(q).all())

    def members(self, team_id: str) -> list[str]:
        """Members of a team."""
        q = select(OwnerMember.member_id).where(OwnerMember.team_id == team_id).order_by(OwnerMember.member_id)
        return list(self.session.exec(q).all())

    def set_members(self, team_id: str, members: list[str]) -> list[str]:
        """Replace a team's members."""
        for row in self.session.exec(select(OwnerMember).where(OwnerMember.team_id == team_id)).all():
            self.session.delete(row)
        self.session.flush()
        for m in dict.fromkeys(x for x in members if x and x != team_id):
            self.session.add(OwnerMember(team_id=team_id, member_id=m))
        self.session.flush()
        return self.members(team_id)
