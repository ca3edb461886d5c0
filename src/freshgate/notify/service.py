"""Notifications with exactly-once deliveries.

Protocol: every message has a `dedupe_key` (e.g. `digest:<owner>:<ISO week>:email:<addr>`). It is
claimed with INSERT ... ON CONFLICT DO NOTHING *before* anything is sent and the claim is
committed by the caller; a process whose insert did nothing (another replica, an earlier run)
skips it. After sending, the caller records the outcome and commits. A failed delivery keeps its
row (`failed`) and is re-claimed by a later run (compare-and-set on status and attempts), up to
`max_attempts`; a claim left `sending` past the lease (a crashed sender) is re-claimed too: that
crash window is the only way a message can go out twice.
The event stream is read past a cursor row that is locked (UPDATE) first, so two replicas never
batch the same events differently.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy import and_, or_, select, update
from sqlmodel import Session

from freshgate.config import NotifySettings
from freshgate.freshness.models import StateEvent
from freshgate.notify import email, messages, webhook
from freshgate.notify.models import Delivery, NotifyCursor
from freshgate.notify.webhook import SendError
from freshgate.registry.models import Owner
from freshgate.registry.service import RegistryService

log = logging.getLogger(__name__)
EVENT_CURSOR = "state_event"
CONFLICT_CURSOR = "conflict"


def iso_week(now: datetime) -> str:
    """'2026-W47'."""
    y, w, _ = now.isocalendar()
    return f"{y}-W{w:02d}"


def _insert_ignore(session: Session, table, values: dict[str, Any], key: str, returning: str) -> Any:
    """INSERT that silently does nothing on a duplicate `key`: the new row's `returning` column, or None.
    The one dialect-specific statement of this domain (SQLite and PostgreSQL both have ON CONFLICT);
    RETURNING, not rowcount, because psycopg 3 reports rowcount -1 for it."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table).values(**values).on_conflict_do_nothing(index_elements=[key]).returning(table.c[returning])
    return session.execute(stmt).scalar()


class NotifyService:
    """Plans, claims, sends and records notification deliveries in one session."""

    def __init__(self, session: Session, cfg: NotifySettings, registry: RegistryService, *,
                 sleep: Callable[[float], None] = time.sleep, transport=None,
                 conflicts_since: Callable[[int], list[dict[str, Any]]] | None = None) -> None:
        self.session, self.cfg, self.registry = session, cfg, registry
        self.sleep, self.transport = sleep, transport
        # The conflicts domain's hook (conflicts opened after an id), when that domain is wired.
        self.conflicts_since = conflicts_since

    # ---- who gets what ---------------------------------------------------------
    def operator_targets(self) -> list[tuple[str, str]]:
        """(channel, recipient) pairs of the operators."""
        out = [("webhook", "operators")] if self.cfg.webhook_url else []
        if self.cfg.smtp_host:
            out += [("email", addr) for addr in self.cfg.operator_emails]
        return out

    def owner_targets(self, owner: Owner | None) -> list[tuple[str, str]]:
        """(channel, recipient) pairs of an owner; operators stand in for a missing or inactive owner."""
        if owner is None or not owner.active:
            return self.operator_targets()
        out = [("webhook", owner.id)] if self.cfg.webhook_url else []
        if self.cfg.smtp_host and "@" in owner.contact and not owner.contact.startswith("slack:"):
            out.append(("email", owner.contact))
        return out

    # ---- claims ------------------------------------------------------------------
    def claim(self, kind: str, channel: str, recipient: str, key: str, message: dict[str, Any],
              now: datetime) -> int | None:
        """Claim one delivery; its id, or None when someone already claimed this key."""
        if channel == "webhook":
            payload: dict[str, Any] = {"body": message["webhook"]}
        else:
            payload = {"to": [recipient], "subject": message["subject"], "text": message["text"],
                       "html": message["html"]}
        values = dict(kind=kind, channel=channel, recipient=recipient[:300], dedupe_key=key, created_at=now,
                      claimed_at=now, status="sending", attempts=0, payload=payload)
        return _insert_ignore(self.session, Delivery.__table__, values, "dedupe_key", "id")

    def _claim_targets(self, kind: str, base_key: str, targets: list[tuple[str, str]], message: dict[str, Any],
                       now: datetime) -> list[int]:
        ids = []
        for channel, recipient in targets:
            key = f"{base_key}:webhook" if channel == "webhook" else f"{base_key}:email:{recipient}"
            did = self.claim(kind, channel, recipient, key, message, now)
            if did is not None:
                ids.append(did)
        return ids

    def claim_retries(self, now: datetime) -> list[int]:
        """Re-claim failed deliveries (and claims abandoned past the lease) that may be tried again."""
        lease = now - timedelta(seconds=self.cfg.claim_lease_seconds)
        q = select(Delivery.id, Delivery.status, Delivery.attempts).where(
            Delivery.attempts < self.cfg.max_attempts,
            or_(Delivery.status == "failed", and_(Delivery.status == "sending", Delivery.claimed_at < lease)))
        ids = []
        for did, status, attempts in self.session.execute(q.order_by(Delivery.id)).all():
            won = self.session.execute(
                update(Delivery).where(Delivery.id == did, Delivery.status == status, Delivery.attempts == attempts)
                .values(status="sending", claimed_at=now).returning(Delivery.id)).scalar()
            if won:
                ids.append(did)
        return ids

    # ---- sending -------------------------------------------------------------------
    def send(self, delivery_id: int, now: datetime) -> bool:
        """Send one claimed delivery and record the outcome (the caller commits). True when sent."""
        d = self.session.get(Delivery, delivery_id)
        try:
            if d.channel == "webhook":
                if not self.cfg.webhook_url:
                    raise SendError("no webhook url configured")
                webhook.post(self.cfg.webhook_url, d.payload["body"], secret=self.cfg.webhook_secret,
                             timeout=self.cfg.timeout, retries=self.cfg.retries, backoff=self.cfg.backoff,
                             transport=self.transport, sleep=self.sleep)
            else:
                p = d.payload
                email.send(self.cfg, p["to"], p["subject"], p["text"], p.get("html"),
                           message_id=f"<{d.dedupe_key.replace(':', '.').replace('@', '_')}@freshgate>",
                           sleep=self.sleep)
            d.status, d.sent_at, d.last_error = "sent", now, None
        except SendError as exc:
            d.status, d.last_error = "failed", str(exc)[:2000]
            log.warning("delivery %s (%s to %s) failed: %s", d.dedupe_key, d.channel, d.recipient, exc)
        d.attempts += 1
        self.session.add(d)
        self.session.flush()
        return d.status == "sent"

    # ---- what to send ----------------------------------------------------------------
    def _lock_cursor(self, name: str, now: datetime) -> int:
        # The UPDATE takes the write lock (SQLite) / row lock (PostgreSQL) until the caller commits.
        _insert_ignore(self.session, NotifyCursor.__table__, {"name": name, "last_id": 0, "updated_at": now}, "name",
                       "name")
        self.session.execute(update(NotifyCursor).where(NotifyCursor.name == name).values(updated_at=now))
        return self.session.execute(select(NotifyCursor.last_id).where(NotifyCursor.name == name)).scalar_one()

    def claim_events(self, now: datetime) -> tuple[list[int], dict[str, Any]]:
        """Turn state events and newly opened conflicts past their cursors into one message per owner."""
        last = self._lock_cursor(EVENT_CURSOR, now)
        cols = (StateEvent.id, StateEvent.document_id, StateEvent.owner_id, StateEvent.from_state,
                StateEvent.to_state, StateEvent.reasons)
        rows = self.session.execute(select(*cols).where(StateEvent.id > last).order_by(StateEvent.id)).all()
        wanted = set(self.cfg.event_states)
        by_owner: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            if r.to_state in wanted and r.from_state != r.to_state and \
                    (r.from_state is not None or self.cfg.notify_initial_states):
                by_owner[r.owner_id].append({"document_id": r.document_id, "from_state": r.from_state,
                                             "to_state": r.to_state,
                                             "reason": (r.reasons or [{}])[0].get("message") if r.reasons else None})
        conflicts: list[dict[str, Any]] = []
        last_conflict = 0
        if self.conflicts_since is not None:
            last_conflict = self._lock_cursor(CONFLICT_CURSOR, now)
            conflicts = self.conflicts_since(last_conflict)
            for c in conflicts:
                for mine, other in ((c["a"], c["b"]), (c["b"], c["a"])):
                    by_owner[mine["owner"]].append({
                        "document_id": mine["document_id"], "from_state": None, "to_state": "conflict",
                        "reason": f"{mine['cite']} disagrees with {other['cite']} (owner {other['owner'] or 'none'}): "
                                  f"{c['explanation']}"})
        if not rows and not conflicts:
            return [], {"events": 0, "conflicts": 0, "owners": 0}
        owners = {o.id: o for o in self.registry.owners()}
        event_mark = rows[-1].id if rows else last
        conflict_mark = conflicts[-1]["id"] if conflicts else last_conflict
        ids: list[int] = []
        for owner_id, items in by_owner.items():
            owner = owners.get(owner_id) if owner_id else None
            label = f"{owner.name} ({owner.id})" if owner else (owner_id or "no owner")
            msg = messages.event_message(label, items, self.cfg.max_items)
            base = f"events:{owner_id or '-'}:{event_mark}:{conflict_mark}"
            ids += self._claim_targets("event", base, self.owner_targets(owner), msg, now)
        if rows:
            self.session.execute(update(NotifyCursor).where(NotifyCursor.name == EVENT_CURSOR)
                                 .values(last_id=event_mark, updated_at=now))
        if conflicts:
            self.session.execute(update(NotifyCursor).where(NotifyCursor.name == CONFLICT_CURSOR)
                                 .values(last_id=conflict_mark, updated_at=now))
        return ids, {"events": len(rows), "conflicts": len(conflicts), "owners": len(by_owner)}

    def claim_digests(self, report, now: datetime, *, summary: str, markdown: str | None = None,
                      html: str | None = None) -> list[int]:
        """Claim this ISO week's digest for every active owner with rows, and the operators' full list."""
        week = iso_week(now)
        owners = {o.id: o for o in self.registry.owners()}
        ids: list[int] = []
        for g in report.groups:
            owner = owners.get(g.owner) if g.owner else None
            if owner is None or not owner.active:
                continue  # unowned and orphaned rows reach the operators' list below
            msg = messages.digest_message(f"{owner.name} ({owner.id})", week, [i.to_dict() for i in g.items],
                                          self.cfg.max_items)
            ids += self._claim_targets("digest", f"digest:{owner.id}:{week}", self.owner_targets(owner), msg, now)
        top = [i.to_dict() for i in report.items[: self.cfg.max_items * 4]]
        msg = messages.operator_message(week, summary, top, self.cfg.max_items * 4, markdown, html)
        ids += self._claim_targets("operator", f"operator:{week}", self.operator_targets(), msg, now)
        return ids

    def deliveries(self, *, status: str | None = None, limit: int = 100) -> list[Delivery]:
        """Recorded deliveries, newest first."""
        q = select(Delivery)
        if status:
            q = q.where(Delivery.status == status)
        return list(self.session.exec(q.order_by(Delivery.id.desc()).limit(limit)).all())
