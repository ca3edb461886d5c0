"""Decision receipts and unanswered topics: writes (one INSERT + link rows) and reads."""

from __future__ import annotations

import threading
import time
import uuid
import weakref
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


class TopicVectors:
    """The unanswered topics' embeddings of one database, held as one matrix per process.

    Topics are only ever added and their embeddings never change, so the matrix follows the table
    by id: each use reads only the rows with a larger id than it holds (one indexed query), and a
    full reload every `RELOAD_SECONDS` picks up a row whose lower id committed after a larger one.
    Without it every unanswered question compared itself with every topic in Python, so a lookup
    answered `no_source` grew slower with each new topic (≈ 2 ms per 1,000 topics)."""

    RELOAD_SECONDS = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clear(0)
        self._loaded_at = 0.0

    def best(self, session: Session, vector: np.ndarray) -> tuple[int | None, float]:
        """(id, similarity) of the topic most similar to `vector` (None, -1.0 when there is none)."""
        with self._lock:
            full = time.monotonic() - self._loaded_at > self.RELOAD_SECONDS
            q = select(UnansweredTopic.id, UnansweredTopic.embedding).where(UnansweredTopic.embedding.is_not(None))
            if not full and len(self.ids):
                q = q.where(UnansweredTopic.id > int(self.ids[-1]))
            rows = session.exec(q.order_by(UnansweredTopic.id)).all()
            fresh = [(tid, from_blob(blob)) for tid, blob in rows if len(blob) == 4 * len(vector)]
            if full:
                self._clear(len(vector))
                self._loaded_at = time.monotonic()
            if fresh:
                ids = np.fromiter((t for t, _ in fresh), dtype=np.int64, count=len(fresh))
                mat = np.stack([v for _, v in fresh]).astype(np.float32)
                if self.mat.shape[1:] != mat.shape[1:]:
                    self._clear(mat.shape[1])
                self.ids, self.mat = np.concatenate([self.ids, ids]), np.concatenate([self.mat, mat])
            ids, mat = self.ids, self.mat
        if not len(ids) or mat.shape[1] != len(vector):
            return None, -1.0
        scores = mat @ np.asarray(vector, dtype=np.float32)
        i = int(np.argmax(scores))
        return int(ids[i]), float(scores[i])

    def _clear(self, dim: int) -> None:
        self.ids, self.mat = np.zeros(0, dtype=np.int64), np.zeros((0, dim), dtype=np.float32)

    def forget(self, topic_id: int) -> None:
        """Drop a topic this process saw but the database does not have (an uncommitted row rolled back)."""
        with self._lock:
            keep = self.ids != topic_id
            self.ids, self.mat = self.ids[keep], self.mat[keep]


_TOPICS: "weakref.WeakKeyDictionary[Any, TopicVectors]" = weakref.WeakKeyDictionary()
_TOPICS_LOCK = threading.Lock()


def _topics_for(session: Session) -> TopicVectors:
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    with _TOPICS_LOCK:
        got = _TOPICS.get(engine)
        if got is None:
            got = _TOPICS[engine] = TopicVectors()
        return got


def record_unanswered(session: Session, query: str, vector: np.ndarray | None, at: datetime,
                      similarity: float) -> int:
    """Count a question nothing answered under the most similar known topic, or start a new one."""
    if vector is not None:
        topics = _topics_for(session)
        best_id, best = topics.best(session, vector)
        if best_id is not None and best >= similarity:
            done = session.execute(update(UnansweredTopic).where(UnansweredTopic.id == best_id).values(
                count=UnansweredTopic.count + 1, last_seen=at, last_query=query))
            if done.rowcount:
                return best_id
            topics.forget(best_id)  # seen uncommitted, then rolled back: start a new topic instead
    topic = UnansweredTopic(query=query, last_query=query, count=1, first_seen=at, last_seen=at,
                            embedding=to_blob(vector) if vector is not None else None)
    session.add(topic)
    session.flush()
    return topic.id


def unanswered(session: Session, limit: int = 100) -> list[UnansweredTopic]:
    """Unanswered topics, most asked first."""
    q = select(UnansweredTopic).order_by(UnansweredTopic.count.desc(), UnansweredTopic.last_seen.desc())
    return list(session.exec(q.limit(limit)).all())
