"""Read models of the overview: decisions, stop reasons, served-stale, conflicts, jobs (no web imports).

The first-reason JSON expression is the only dialect-specific SQL here (SQLite json_extract / PostgreSQL ->>).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, cast, func, or_, select, text
from sqlmodel import Session

from freshgate.conflicts.models import ACTIVE_STATUSES, ConflictRecord
from freshgate.lookup.models import LookupReceipt
from freshgate.reports import history

DECISIONS = ("proceed", "caution", "stop_and_ask")


@dataclass
class Window:
    """Decisions of one time window."""

    days: int
    by_decision: dict[str, int]
    stop_reasons: list[tuple[str, int]]
    served_stale: int

    @property
    def total(self) -> int:
        """All decisions in the window."""
        return sum(self.by_decision.values())


def _first_reason(dialect: str) -> str:
    return "reasons->0->>'code'" if dialect == "postgresql" else "json_extract(reasons, '$[0].code')"


NOT_FRESH = ("expired", "changed", "orphaned", "unreachable", "stale", "suspect", "due")


def _cites_not_fresh():
    """The receipt cited a section whose state was not fresh: a text match on the stored JSON (json.dumps writes
    `"state": "stale"`), ten times cheaper than expanding every citation array."""
    text_ = cast(LookupReceipt.citations, String)
    return or_(*[text_.like(f'%"state": "{s}"%') for s in NOT_FRESH])


def window(session: Session, now: datetime, days: int) -> Window:
    """Decisions by outcome, stops by first reason, and lookups that cited a not-fresh source, in `days`."""
    since = now - timedelta(days=days)
    conn = session.connection()
    dialect = conn.dialect.name
    at = LookupReceipt.at >= since
    by = {d: int(n) for d, n in conn.execute(select(LookupReceipt.decision, func.count()).where(at)
                                                .group_by(LookupReceipt.decision)).all()}
    reason = text(_first_reason(dialect))
    stops = conn.execute(select(reason, func.count()).select_from(LookupReceipt)
                         .where(at, LookupReceipt.decision == "stop_and_ask").group_by(reason)
                         .order_by(func.count().desc())).all()
    stale = conn.execute(select(func.count()).select_from(LookupReceipt).where(at, _cites_not_fresh()))
    return Window(days, {d: by.get(d, 0) for d in (*DECISIONS, *sorted(set(by) - set(DECISIONS)))},
                  [(r or "(none)", int(n)) for r, n in stops], int(stale.scalar_one()))


def open_conflicts(session: Session, now: datetime) -> tuple[int, int | None]:
    """(open or confirmed conflicts, age in days of the oldest)."""
    n, oldest = session.connection().execute(
        select(func.count(), func.min(ConflictRecord.detected_at)).where(ConflictRecord.status.in_(ACTIVE_STATUSES))).one()
    return int(n), (now - history.aware(oldest)).days if oldest else None


def relied_on(session: Session, document_id: str, limit: int = 25, principal: str | None = None) -> tuple[int, list]:
    """(how many receipts cite a document, the newest `limit` of them), fast for rarely and heavily cited ones.

    A rarely cited document: its links, then their receipts. A heavily cited one (thousands of links):
    walk the receipts newest first and keep those that cite it (the first few hundred hold the answer),
    instead of sorting every receipt that ever cited it.
    """
    from sqlmodel import select as sm_select

    from freshgate.lookup.models import ReceiptDocument
    from freshgate.lookup.receipts import receipts_for

    if principal is not None:  # someone who may read only their own receipts: count only those
        rows = receipts_for(session, document_id, limit, principal=principal)
        return len(rows), rows
    n = session.connection().execute(select(func.count()).select_from(ReceiptDocument)
                                     .where(ReceiptDocument.document_id == document_id)).scalar_one()
    if n <= 2000:
        return int(n), receipts_for(session, document_id, limit)
    cites = (sm_select(ReceiptDocument.receipt_id).where(ReceiptDocument.document_id == document_id,
                                                         ReceiptDocument.receipt_id == LookupReceipt.id).exists())
    q = sm_select(LookupReceipt).where(cites).order_by(LookupReceipt.at.desc()).limit(limit)
    return int(n), list(session.exec(q).all())
