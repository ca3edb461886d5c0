"""Decision receipts and unanswered topics: writes (one INSERT + link rows) and reads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import case, func, insert, update
from sqlmodel import Session, select

from freshgate.embeddings.embedder import from_blob, to_blob
from freshgate.errors import NotFound
from freshgate.lookup.models import LookupReceipt, ReceiptDocument, UnansweredTopic
from freshgate.lookup.reliance import count_reliance


def new_receipt_id() -> str:
    """A receipt id: 32 hex characters."""
    return uuid.uuid4().hex


def record_receipt(session: Session, *, receipt_id: str, at: datetime, query: str, risk: str,
                   scope: dict[str, Any] | None, decision: str, reasons: list[dict], citations: list[dict],
                   principal: str | None = None) -> str:
    """Store one receipt and its links to the exact document versions cited; flushes nothing else."""
    # Core INSERTs (no ORM unit of work): a receipt costs two statements, not a flush.
    session.execute(insert(LookupReceipt).values(
        id=receipt_id, at=at, query=query, risk=risk, scope=scope, decision=decision, reasons=reasons,
        citations=citations, principal=principal))
    links = {c["document_id"]: c["version"] for c in citations}
    if links:
        session.execute(insert(ReceiptDocument), [
            {"receipt_id": receipt_id, "document_id": d, "version": v} for d, v in links.items()])
        count_reliance(session, at, decision, links)  # per-day reliance for the review list
    return receipt_id


def receipts_for(session: Session, document_id: str, limit: int = 100, since: datetime | None = None,
                 principal: str | None = None) -> list[LookupReceipt]:
    """Receipts that relied on a document, newest first (only one principal's when given)."""
    q = (select(LookupReceipt).join(ReceiptDocument, ReceiptDocument.receipt_id == LookupReceipt.id)
         .where(ReceiptDocument.document_id == document_id))
    if principal is not None:
        q = q.where(LookupReceipt.principal == principal)
    if since is not None:
        q = q.where(LookupReceipt.at >= since)
    return list(session.exec(q.order_by(LookupReceipt.at.desc(), LookupReceipt.id).limit(limit)).all())


def reliance(session: Session, since: datetime) -> dict[str, tuple[int, int]]:
    """{document: (lookups citing it, of which stop_and_ask)} since a time (for the review list)."""
    stops = func.sum(case((LookupReceipt.decision == "stop_and_ask", 1), else_=0))
    q = (select(ReceiptDocument.document_id, func.count(), stops)
         .join(LookupReceipt, LookupReceipt.id == ReceiptDocument.receipt_id)
         .where(LookupReceipt.at >= since).group_by(ReceiptDocument.document_id))
    return {d: (int(n), int(s or 0)) for d, n, s in session.exec(q).all()}


def recent_receipts(session: Session, limit: int = 100, principal: str | None = None) -> list[LookupReceipt]:
    """The most recent receipts (only one principal's when given)."""
    q = select(LookupReceipt)
    if principal is not None:
        q = q.where(LookupReceipt.principal == principal)
    return list(session.exec(q.order_by(LookupReceipt.at.desc()).limit(limit)).all())


def get_receipt(session: Session, receipt_id: str) -> LookupReceipt:
    """One receipt, or NotFound."""
    r = session.get(LookupReceipt, receipt_id)
    if r is None:
        raise NotFound(f"no receipt with id {receipt_id!r}")
    return r


def record_unanswered(session: Session, query: str, vector: np.ndarray | None, at: datetime,
                      similarity: float) -> int:
    """Count a question nothing answered under the most similar known topic, or start a new one."""
    best_id, best = None, -1.0
    if vector is not None:
        for tid, blob in session.exec(select(UnansweredTopic.id, UnansweredTopic.embedding)).all():
            if blob is None:
                continue
            s = float(from_blob(blob) @ vector)
            if s > best:
                best_id, best = tid, s
    if best_id is not None and best >= similarity:
        session.execute(update(UnansweredTopic).where(UnansweredTopic.id == best_id).values(
            count=UnansweredTopic.count + 1, last_seen=at, last_query=query))
        return best_id
    topic = UnansweredTopic(query=query, last_query=query, count=1, first_seen=at, last_seen=at,
                            embedding=to_blob(vector) if vector is not None else None)
    session.add(topic)
    session.flush()
    return topic.id


def unanswered(session: Session, limit: int = 100) -> list[UnansweredTopic]:
    """Unanswered topics, most asked first."""
    q = select(UnansweredTopic).order_by(UnansweredTopic.count.desc(), UnansweredTopic.last_seen.desc())
    return list(session.exec(q.limit(limit)).all())
