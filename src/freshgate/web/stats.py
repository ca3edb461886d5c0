"""Read models of the console: open conflicts, receipts that relied on a document (no web imports).

Decision counts (by outcome, stop reason, served stale) live in `reports.rollup`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from freshgate.conflicts.models import ACTIVE_STATUSES, ConflictRecord
from freshgate.lookup.models import LookupReceipt
from freshgate.reports import history

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
