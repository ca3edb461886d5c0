"""Action receipts (parameters redacted), their links to the versions relied on, and uncovered actions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import bindparam, text
from sqlmodel import Session, select

from freshgate.actions.models import ActionReceipt, ActionReceiptDocument, UncoveredAction
from freshgate.errors import NotFound
from freshgate.lookup.reliance import count_reliance
from sqlmodel.sql.sqltypes import UTCDateTime

REDACTED = "[redacted]"
# The same upsert on SQLite (>= 3.24) and PostgreSQL.
_UNCOVERED = text(
    "INSERT INTO uncovered_action (tool, count, first_seen, last_seen, last_reason, last_receipt)"
    " VALUES (:tool, 1, :at, :at, :reason, :receipt) ON CONFLICT (tool) DO UPDATE SET"
    " count = uncovered_action.count + 1, last_seen = excluded.last_seen, last_reason = excluded.last_reason,"
    " last_receipt = excluded.last_receipt"
).bindparams(bindparam("at", type_=UTCDateTime()))


def redact(value: Any, keys: Iterable[str]) -> Any:
    """A copy of the parameters with the values of sensitive keys (name contains a listed key) replaced."""
    needles = [k.casefold() for k in keys if k]

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: REDACTED if any(n in str(k).casefold() for n in needles) else walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    return walk(value)


def new_receipt_id() -> str:
    """A receipt id: 32 hex characters."""
    return uuid.uuid4().hex


_RECEIPT = ActionReceipt.__table__.insert()  # built once: a check only binds values
_LINKS = ActionReceiptDocument.__table__.insert()


def record(session: Session, *, receipt_id: str, at: datetime, tool: str, parameters: dict[str, Any],
           intent: str | None, risk: str, decision: str, lane: str | None, reasons: list[dict], rules: list[dict],
           documents: list[dict], principal: str | None, uncovered_reason: str | None) -> str:
    """Store one action receipt, its document links, reliance counts and (when uncovered) the uncovered tool:
    one INSERT of the receipt, plus one executemany each for its links and their reliance counts (checks that
    rely on documents), or one upsert of the uncovered tool (checks that rely on none)."""
    conn = session.connection()
    conn.execute(_RECEIPT, {"id": receipt_id, "at": at, "tool": tool, "parameters": parameters, "intent": intent,
                            "risk": risk, "decision": decision, "lane": lane, "reasons": reasons, "rules": rules,
                            "documents": documents, "principal": principal})
    links = {d["document_id"]: d["version"] for d in documents if d.get("version") is not None}
    if links:
        conn.execute(_LINKS, [{"receipt_id": receipt_id, "document_id": d, "version": v} for d, v in links.items()])
        count_reliance(session, at, decision, links)  # cards and sources relied on count for the review list
    if uncovered_reason:
        conn.execute(_UNCOVERED, {"tool": tool, "at": at, "reason": uncovered_reason, "receipt": receipt_id})
    return receipt_id


def receipts_for(session: Session, document_id: str, limit: int = 100, principal: str | None = None
                 ) -> list[ActionReceipt]:
    """Action checks that relied on a document (card or source), newest first (only one principal's when given)."""
    q = (select(ActionReceipt).join(ActionReceiptDocument, ActionReceiptDocument.receipt_id == ActionReceipt.id)
         .where(ActionReceiptDocument.document_id == document_id))
    if principal is not None:
        q = q.where(ActionReceipt.principal == principal)
    return list(session.exec(q.order_by(ActionReceipt.at.desc(), ActionReceipt.id).limit(limit)).all())


def recent(session: Session, limit: int = 100, tool: str | None = None, principal: str | None = None
           ) -> list[ActionReceipt]:
    """The most recent action checks (of one tool; of one principal)."""
    q = select(ActionReceipt)
    if tool:
        q = q.where(ActionReceipt.tool == tool)
    if principal is not None:
        q = q.where(ActionReceipt.principal == principal)
    return list(session.exec(q.order_by(ActionReceipt.at.desc()).limit(limit)).all())


def get(session: Session, receipt_id: str) -> ActionReceipt:
    """One action receipt, or NotFound."""
    r = session.get(ActionReceipt, receipt_id)
    if r is None:
        raise NotFound(f"no action receipt with id {receipt_id!r}")
    return r


def uncovered(session: Session, limit: int = 100) -> list[UncoveredAction]:
    """Tools agents tried that no card governs, most tried first."""
    q = select(UncoveredAction).order_by(UncoveredAction.count.desc(), UncoveredAction.last_seen.desc())
    return list(session.exec(q.limit(limit)).all())
