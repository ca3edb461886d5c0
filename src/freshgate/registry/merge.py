"""Files and the API share a document's fields without undoing each other: the three-way rule.

For every front-matter field an action can also change (owner, last_verified/verified_by,
status/successor, criticality, review interval, expiry, tags) the registry keeps, per document,
the file's value as of the last sync and the registry's value right after it (`file_fields`).
A sync then applies a field from the file only when the FILE changed it since the last sync:

- file unchanged                      -> the registry value stands (an owner's action is kept)
- file changed, registry unchanged    -> the file's value is applied
- file changed, registry changed too  -> the file wins, and the report says so

Every field where the registry and the file disagree after a sync is reported, one line each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from sqlmodel import Session, select

from freshgate.markdown.parse import format_duration
from freshgate.registry.models import AuditEvent

FIELDS = ("owner", "last_verified", "status", "criticality", "review_every", "expires", "tags")
# The audit snapshot keys (registration.snapshot) that show which action set a field.
AUDIT_KEYS = {"owner": ("owner",), "last_verified": ("last_verified", "verified_by"), "status": ("status", "successor"),
              "criticality": ("criticality",), "review_every": ("review_every",), "expires": ("expires",),
              "tags": ("tags",)}


@dataclass(frozen=True, eq=False)
class FieldNote:
    """One field where the registry and a file disagree, and what the sync did about it."""

    document_id: str
    field: str
    registry: str
    file: str
    outcome: str  # kept | file_wins
    path: str = ""
    by: str | None = None  # the action that set the registry value: "transfer by dana.kim, 2026-11-30"
    value: Any = None  # the registry value (merge.registry_values form), for --write-back

    def line(self) -> str:
        """The sync report's sentence."""
        origin = f" ({self.by})" if self.by else ""
        if self.outcome == "kept":
            return (f"{self.document_id}: {self.field}: registry says {self.registry}{origin}; file says {self.file}: "
                    f"kept {self.registry} — update the file to match")
        return (f"{self.document_id}: {self.field}: registry said {self.registry}{origin}; file changed it to "
                f"{self.file}: both changed, the file wins")

    def as_dict(self) -> dict:
        """JSON-able."""
        return {"id": self.document_id, "field": self.field, "registry": self.registry, "file": self.file,
                "outcome": self.outcome, "path": self.path, "by": self.by, "message": self.line()}


def _day(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        v = v.replace(tzinfo=timezone.utc) if v.tzinfo is None else v
        return v.astimezone(timezone.utc).isoformat()
    return v.isoformat() if isinstance(v, date) else str(v)


def file_values(fm: dict[str, Any]) -> dict[str, Any]:
    """The governed fields as a file declares them (`FrontMatter.model_dump(mode="json")`), raw:
    a relative `last_verified: -10d` stays `-10d`, so an untouched file never counts as changed."""
    owner = fm.get("owner")
    return {
        "owner": owner.get("id") if isinstance(owner, dict) else owner,
        "last_verified": [_day(fm.get("last_verified")), fm.get("verified_by")],
        "status": [fm.get("status", "active"), fm.get("successor")],
        "criticality": fm.get("criticality", "medium"),
        "review_every": fm.get("review_every", 90),
        "expires": _day(fm.get("expires")),
        "tags": sorted(fm.get("tags") or []),
    }


def registry_values(doc: Any) -> dict[str, Any]:
    """The governed fields as the registry holds them."""
    return {
        "owner": doc.owner_id,
        "last_verified": [_day(doc.last_verified), doc.verified_by if doc.last_verified else None],
        "status": [doc.status, doc.successor],
        "criticality": doc.criticality,
        "review_every": doc.review_every_days,
        "expires": _day(doc.expires),
        "tags": sorted(doc.tags or []),
    }


def base_of(file_now: dict, registry_now: dict, kept: list[str]) -> dict[str, Any]:
    """What `Document.file_fields` stores after a sync."""
    return {"file": file_now, "registry": registry_now, "kept": sorted(kept)}


def decide(base: dict | None, legacy_fm: dict | None, file_now: dict) -> dict[str, str]:
    """field -> apply | keep | file_wins, given the stored base and the registry now (see module doc).

    A document synced before the rule existed has no base: its current version's front matter
    stands in for the last file values, and the registry counts as unchanged."""
    out: dict[str, str] = {}
    file_then = base["file"] if base else (file_values(legacy_fm) if legacy_fm else {})
    for f in FIELDS:
        if f in file_then and file_now.get(f) == file_then.get(f):
            out[f] = "keep"
        else:
            out[f] = "apply"
    return out


def registry_changed(base: dict | None, registry_now: dict, f: str) -> bool:
    """True when an action changed the field since the last sync."""
    return bool(base) and f in base.get("registry", {}) and base["registry"][f] != registry_now[f]


def show(f: str, v: Any) -> str:
    """A field value as the report prints it."""
    if f == "last_verified":
        day, by = v
        return "never" if day is None else f"{str(day)[:10]}" + (f" by {by}" if by else "")
    if f == "status":
        status, succ = v
        return status + (f" (successor {succ})" if succ else "")
    if f == "review_every":
        return format_duration(v) if isinstance(v, int) else str(v)
    if f == "tags":
        return "[" + ", ".join(v) + "]"
    return "none" if v is None else str(v)


def _absolute(v: str) -> bool:
    return len(v) >= 10 and v[4] == "-" and v[7] == "-"


def same(f: str, file_v: Any, registry_v: Any) -> bool:
    """Whether the registry holds what the file says (dates by day; a relative date counts as held)."""
    if f == "last_verified" and file_v[0] is not None and not _absolute(file_v[0]):
        return True
    if f == "expires" and file_v is not None and not _absolute(file_v):
        return True
    if f == "last_verified":
        return (str(file_v[0])[:10] if file_v[0] else None) == (str(registry_v[0])[:10] if registry_v[0] else None) \
            and (file_v[1] == registry_v[1] or file_v[0] is None)
    if f == "expires":
        return (str(file_v)[:10] if file_v else None) == (str(registry_v)[:10] if registry_v else None)
    return file_v == registry_v


def origin(session: Session, doc_id: str, f: str, ignore_actor: str | None = None) -> str | None:
    """"<action> by <actor>, <day>" of the newest audited change of field `f` (None if unknown)."""
    keys = AUDIT_KEYS[f]
    q = select(AuditEvent).where(AuditEvent.document_id == doc_id).order_by(AuditEvent.id.desc()).limit(200)
    for ev in session.exec(q):
        before, after = ev.before or {}, ev.after or {}
        if after and any(before.get(k) != after.get(k) for k in keys) and ev.actor != ignore_actor:
            return f"{ev.action} by {ev.actor}, {ev.at.date().isoformat()}"
    return None


def drifted(f: str, base: dict | None, file_v: Any, registry_now: dict) -> bool:
    """After a sync that kept the registry's value of `f`: do registry and file disagree?"""
    if not base:
        return not same(f, file_v, registry_now[f])
    if f in base.get("kept", ()):
        return not same(f, file_v, registry_now[f])
    return registry_changed(base, registry_now, f)


def unchanged_file_notes(session: Session, doc: Any, path: str, actor: str) -> list[FieldNote]:
    """The disagreements of a document whose file did not change since the last sync."""
    base = doc.file_fields
    if not base:
        return []
    now = registry_values(doc)
    return [FieldNote(doc.id, f, show(f, now[f]), show(f, base["file"][f]), "kept", path,
                      origin(session, doc.id, f, ignore_actor=actor), now[f])
            for f in FIELDS if f in base["file"] and drifted(f, base, base["file"][f], now)]
