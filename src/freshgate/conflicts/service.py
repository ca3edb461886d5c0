"""Conflicts as reviewable items: list, show, confirm, dismiss, and what lookups need to know.

Lifecycle: open -> confirmed | dismissed (a person's verdict, audited on both documents);
open | confirmed -> resolved automatically when a side is retired or updated so that the
passages no longer disagree (see checks.py). A dismissal is remembered by the pair key of
the two texts, so the same pair is not reported again until either text changes.
Services flush; the edge commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable

import sqlalchemy as sa
from sqlalchemy import func, or_
from sqlmodel import Session, select

from freshgate.config import ConflictSettings
from freshgate.conflicts.dated import effective_date, newer_side
from freshgate.conflicts.models import ACTIVE_STATUSES, CONFIRMED, DISMISSED, OPEN, RESOLVED, STATUSES, ConflictRecord
from freshgate.errors import Conflict, Invalid, NotFound
from freshgate.registry.models import Document, Owner
from freshgate.registry.service import RegistryContext, RegistryService

log = logging.getLogger(__name__)
# What a conflict's side shows of its owner, as plain rows (prebuilt; the id list expands per call).
_OWNER_SIDES = sa.select(Owner.id, Owner.name, Owner.contact).where(Owner.id.in_(sa.bindparam("ids", expanding=True)))


@dataclass
class ConflictContext:
    """Everything the conflict service needs besides a session: settings, index, judge."""

    settings: ConflictSettings = field(default_factory=ConflictSettings)
    registry_ctx: RegistryContext = field(default_factory=RegistryContext)
    index: Callable[[], Any] = lambda: None  # the vector index, None while it is not built
    judge_factory: Callable[[], Any] | None = None
    _judge: Any = None
    # Pair keys this process judged "no conflict": a re-scan does not judge the same texts again.
    cleared: dict[str, None] = field(default_factory=dict)
    cleared_max: int = 2_000_000

    def remember_cleared(self, key: str) -> None:
        """Note a pair of texts judged not conflicting (oldest forgotten first beyond `cleared_max`)."""
        self.cleared[key] = None
        if len(self.cleared) > self.cleared_max:
            self.cleared.pop(next(iter(self.cleared)))

    def judge(self) -> Any:
        """The configured judge, made on first use."""
        if self._judge is None:
            if self.judge_factory is None:
                raise RuntimeError("no conflict judge configured")
            self._judge = self.judge_factory()
        return self._judge


def _side(c: ConflictRecord, which: str, docs: dict[str, Document], owners: dict[str, Owner]) -> dict[str, Any]:
    doc_id, anchor = getattr(c, f"doc_{which}"), getattr(c, f"anchor_{which}")
    doc = docs.get(doc_id)
    owner = owners.get(doc.owner_id) if doc and doc.owner_id else None
    return {"document_id": doc_id, "title": doc.title if doc else "", "anchor": anchor, "cite": f"{doc_id}#{anchor}",
            "heading": getattr(c, f"heading_{which}"), "version": getattr(c, f"version_{which}"),
            "text": getattr(c, f"text_{which}"), "text_hash": getattr(c, f"hash_{which}"),
            "owner": owner.id if owner else None, "owner_name": owner.name if owner else None,
            "contact": owner.contact if owner else None, "status": doc.status if doc else "missing",
            "effective": effective_date(doc, getattr(c, f"text_{which}"))}


def describe(c: ConflictRecord, docs: dict[str, Document], owners: dict[str, Owner]) -> dict[str, Any]:
    """The public picture of a conflict (API, CLI JSON, lookup answers).

    `newer` names the side with the later effective date ("a", "b" or None when unknown or
    equal); `older_document` / `older_owner` name the side to update.
    """
    a, b = _side(c, "a", docs, owners), _side(c, "b", docs, owners)
    newer = newer_side(a["effective"], b["effective"]) if (c.doc_a, c.anchor_a) != (c.doc_b, c.anchor_b) else None
    older = {"a": b, "b": a}.get(newer or "")
    return {
        "id": c.id, "status": c.status, "a": a, "b": b, "newer": newer,
        "older_document": older["document_id"] if older else None, "older_owner": older["owner"] if older else None,
        "a_document": c.doc_a, "b_document": c.doc_b, "similarity": round(c.similarity, 4),
        "score": round(c.score, 4), "judge": c.judge, "evidence": list(c.evidence or []),
        "explanation": c.explanation, "detected_at": c.detected_at, "updated_at": c.updated_at,
        "verdict_at": c.verdict_at, "verdict_by": c.verdict_by, "verdict_reason": c.verdict_reason,
        "resolved_at": c.resolved_at, "resolution": c.resolution,
    }


def summary_line(d: dict[str, Any], for_document: str | None = None) -> str:
    """One sentence naming the other document and both owners, for lookup reasons."""
    a, b = d["a"], d["b"]
    if for_document == b["document_id"] and a["document_id"] != b["document_id"]:
        a, b = b, a
    who = " and ".join(dict.fromkeys(f"{s['owner'] or 'no owner'}" for s in (a, b)))
    what = f" ({d['explanation']})" if d.get("explanation") else ""
    if d.get("newer") and d.get("older_document"):
        newer = d[d["newer"]]
        what += (f"; {newer['cite']} is newer ({newer['effective']}), "
                 f"so {d['older_document']} is the one to update")
    if a["document_id"] == b["document_id"]:
        return f"{a['cite']} contradicts {b['cite']} in the same document{what}; ask {who}"
    return f"{a['cite']} conflicts with {b['title'] or b['document_id']} ({b['cite']}){what}; ask {who}"


class ConflictService:
    """Reads and verdicts of conflicts within one session; detection lives in checks.py."""

    def __init__(self, session: Session, ctx: ConflictContext | None = None) -> None:
        self.session = session
        self.ctx = ctx or ConflictContext()
        self.registry = RegistryService(session, self.ctx.registry_ctx)

    # ---- reads ---------------------------------------------------------------
    def get(self, conflict_id: int) -> ConflictRecord:
        """One conflict by id, or NotFound."""
        c = self.session.get(ConflictRecord, conflict_id)
        if c is None:
            raise NotFound(f"no conflict with id {conflict_id}")
        return c

    def list(self, *, status: str | None = None, document: str | None = None, owner: str | None = None,
             limit: int = 500) -> list[ConflictRecord]:
        """Conflicts, newest first; filter by status, a document on either side, or an owner of either side."""
        q = select(ConflictRecord)
        if status:
            if status not in STATUSES:
                raise Invalid(f"status must be one of {', '.join(STATUSES)}",
                              errors=[{"field": "status", "message": f"{status!r} is not a conflict status"}])
            q = q.where(ConflictRecord.status == status)
        if document:
            q = q.where(or_(ConflictRecord.doc_a == document, ConflictRecord.doc_b == document))
        if owner:
            mine = select(Document.id).where(Document.owner_id == owner)
            q = q.where(or_(ConflictRecord.doc_a.in_(mine), ConflictRecord.doc_b.in_(mine)))
        return list(self.session.exec(q.order_by(ConflictRecord.id.desc()).limit(limit)).all())

    def describe(self, records: Iterable[ConflictRecord]) -> list[dict[str, Any]]:
        """Public dicts of conflicts, with titles and owners of both sides."""
        records = list(records)
        ids = {c.doc_a for c in records} | {c.doc_b for c in records}
        docs: dict[str, Any] = {}
        imap, key = self.session.identity_map, self.session.identity_key
        for i in ids:  # a lookup already holds its cited documents: no second SELECT for them
            d = imap.get(key(Document, i))
            if d is not None and "id" in d.__dict__:  # loaded, not expired
                docs[i] = d
        missing = ids - docs.keys()
        if missing:
            docs.update((d.id, d) for d in self.session.exec(select(Document).where(Document.id.in_(missing))).all())
        owner_ids = list({d.owner_id for d in docs.values() if d.owner_id})
        owners = {o.id: o for o in self.session.execute(_OWNER_SIDES, {"ids": owner_ids}).all()} if owner_ids else {}
        return [describe(c, docs, owners) for c in records]

    def opened_since(self, last_id: int, limit: int = 1000) -> list[ConflictRecord]:
        """Open conflicts with an id above `last_id`, oldest first (for owner notifications)."""
        q = (select(ConflictRecord).where(ConflictRecord.id > last_id, ConflictRecord.status == OPEN)
             .order_by(ConflictRecord.id).limit(limit))
        return list(self.session.exec(q).all())

    def for_sections(self, sections: Iterable[tuple[str, str]]) -> list[ConflictRecord]:
        """Open or confirmed conflicts touching any of these (document id, anchor) sections."""
        keys = set(sections)
        if not keys:
            return []
        doc_ids = {d for d, _ in keys}
        q = select(ConflictRecord).where(ConflictRecord.status.in_(ACTIVE_STATUSES),
                                         or_(ConflictRecord.doc_a.in_(doc_ids), ConflictRecord.doc_b.in_(doc_ids)))
        return [c for c in self.session.exec(q.order_by(ConflictRecord.id)).all()
                if (c.doc_a, c.anchor_a) in keys or (c.doc_b, c.anchor_b) in keys]

    def open_counts(self) -> dict[str, int]:
        """{document id: open or confirmed conflicts it is part of}."""
        out: dict[str, int] = {}
        active = ConflictRecord.status.in_(ACTIVE_STATUSES)
        queries = (select(ConflictRecord.doc_a, func.count()).where(active).group_by(ConflictRecord.doc_a),
                   select(ConflictRecord.doc_b, func.count()).where(active, ConflictRecord.doc_b != ConflictRecord.doc_a)
                   .group_by(ConflictRecord.doc_b))
        for q in queries:
            for doc_id, n in self.session.exec(q).all():
                out[doc_id] = out.get(doc_id, 0) + n
        return out

    # ---- verdicts --------------------------------------------------------------
    def confirm(self, conflict_id: int, *, actor: str, reason: str = "") -> ConflictRecord:
        """A person confirms the two passages really disagree (it keeps stopping lookups until resolved)."""
        c = self.get(conflict_id)
        if c.status != OPEN:
            raise Conflict(f"conflict {conflict_id} is {c.status}; only an open conflict can be confirmed",
                           current_status=c.status)
        return self._verdict(c, CONFIRMED, actor, reason, "conflict_confirmed")

    def dismiss(self, conflict_id: int, *, actor: str, reason: str) -> ConflictRecord:
        """A person says it is not a real conflict; the same two texts are not reported again."""
        if not reason or not reason.strip():
            raise Invalid("a dismissal needs a reason", errors=[{"field": "reason", "message": "is required"}])
        c = self.get(conflict_id)
        if c.status not in ACTIVE_STATUSES:
            raise Conflict(f"conflict {conflict_id} is {c.status}; only an open or confirmed conflict can be dismissed",
                           current_status=c.status)
        return self._verdict(c, DISMISSED, actor, reason.strip(), "conflict_dismissed")

    def reopen(self, conflict_id: int, *, actor: str, reason: str) -> ConflictRecord:
        """Undo a dismissal: the conflict is open again and stops lookups touching it."""
        if not reason or not reason.strip():
            raise Invalid("reopening needs a reason", errors=[{"field": "reason", "message": "is required"}])
        c = self.get(conflict_id)
        if c.status != DISMISSED:
            raise Conflict(f"conflict {conflict_id} is {c.status}; only a dismissed conflict can be reopened",
                           current_status=c.status)
        return self._verdict(c, OPEN, actor, reason.strip(), "conflict_reopened")

    def owners_of(self, c: ConflictRecord) -> list[str | None]:
        """The owners of the two documents of a conflict (None for a missing document or no owner)."""
        out = []
        for doc_id in (c.doc_a, c.doc_b):
            doc = self.session.get(Document, doc_id)
            out.append(doc.owner_id if doc else None)
        return out

    def _verdict(self, c: ConflictRecord, status: str, actor: str, reason: str, action: str) -> ConflictRecord:
        now = self.ctx.registry_ctx.clock()
        before = c.status
        c.status, c.verdict_at, c.verdict_by, c.verdict_reason, c.updated_at = status, now, actor, reason[:2000], now
        self.session.add(c)
        self.audit(c, actor, action, before, reason)
        self.session.flush()
        log.info("conflict %s %s by %s", c.id, status, actor)
        return c

    def resolve(self, c: ConflictRecord, why: str, actor: str = "conflict-check") -> None:
        """Close a conflict automatically (a side was retired, or updated so they agree); audited."""
        now = self.ctx.registry_ctx.clock()
        before = c.status
        c.status, c.resolved_at, c.resolution, c.updated_at = RESOLVED, now, why[:500], now
        self.session.add(c)
        self.audit(c, actor, "conflict_resolved", before, why)

    def audit(self, c: ConflictRecord, actor: str, action: str, before: str | None, detail: str) -> None:
        """One audit event on each document of the conflict."""
        if c.id is None:
            self.session.flush()
        after = {"conflict": c.id, "status": c.status, "a": f"{c.doc_a}#{c.anchor_a}", "b": f"{c.doc_b}#{c.anchor_b}"}
        for doc_id in dict.fromkeys((c.doc_a, c.doc_b)):
            self.registry.record_event(actor, action, doc_id, before={"conflict": c.id, "status": before} if before else None,
                                       after=after, detail=detail)

    def now(self) -> datetime:
        """The registry clock."""
        return self.ctx.registry_ctx.clock()
