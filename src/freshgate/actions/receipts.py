"""Action receipts (parameters redacted), their links to the versions relied on, and uncovered actions."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Iterable

from sqlalchemy import Integer, bindparam, text
from sqlmodel import Session, select

from freshgate.actions.models import ActionReceipt, ActionReceiptDocument, UncoveredAction
from freshgate.errors import NotFound
from freshgate.lookup.reliance import count_reliance_many, utc_day
from sqlmodel.sql.sqltypes import UTCDateTime

REDACTED = "[redacted]"
# The same upsert on SQLite (>= 3.24) and PostgreSQL: n checks of one uncovered tool at once (a batch).
_UNCOVERED = text(
    "INSERT INTO uncovered_action (tool, count, first_seen, last_seen, last_reason, last_receipt)"
    " VALUES (:tool, :n, :first, :at, :reason, :receipt) ON CONFLICT (tool) DO UPDATE SET"
    " count = uncovered_action.count + excluded.count, last_seen = excluded.last_seen,"
    " last_reason = excluded.last_reason, last_receipt = excluded.last_receipt"
).bindparams(bindparam("first", type_=UTCDateTime()), bindparam("at", type_=UTCDateTime()),
             bindparam("n", type_=Integer()))
# What a reader must not see behind the receipt queue (actions/wiring.py: read-your-writes).
TABLES = ("action_receipt", "action_receipt_document", "reliance_daily", "uncovered_action")


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
_COLUMNS = ("id", "at", "tool", "parameters", "intent", "risk", "decision", "lane", "reasons", "rules", "documents",
            "principal")


def row(*, receipt_id: str, at: datetime, tool: str, parameters: dict[str, Any], intent: str | None, risk: str,
        decision: str, lane: str | None, reasons: list[dict], rules: list[dict], documents: list[dict],
        principal: str | None, uncovered_reason: str | None) -> dict[str, Any]:
    """One action receipt as `write_batch` stores it (and the receipt queue holds it)."""
    return {"id": receipt_id, "at": at, "tool": tool, "parameters": parameters, "intent": intent, "risk": risk,
            "decision": decision, "lane": lane, "reasons": reasons, "rules": rules, "documents": documents,
            "principal": principal, "uncovered_reason": uncovered_reason}


def record(session: Session, receipt: dict[str, Any]) -> str:
    """Store one action receipt (a `row`) in the session's transaction; its id."""
    write_batch(session.connection(), [receipt])
    return receipt["id"]


def write_batch(conn, rows: list[dict[str, Any]]) -> None:
    """Action receipts in the caller's transaction: one INSERT of the receipts, plus one executemany each
    for their links and reliance counts (checks that rely on documents; counted once per document and
    day), and for the uncovered tools (checks that rely on none; counted once per tool)."""
    conn.execute(_RECEIPT, [{k: r[k] for k in _COLUMNS} for r in rows])
    links: list[dict[str, Any]] = []
    counts: dict[tuple[str, date], list[int]] = {}
    uncovered: dict[str, dict[str, Any]] = {}
    for r in rows:
        versions = {d["document_id"]: d["version"] for d in r["documents"] if d.get("version") is not None}
        links += [{"receipt_id": r["id"], "document_id": d, "version": v} for d, v in versions.items()]
        day, stop = utc_day(r["at"]), int(r["decision"] == "stop_and_ask")
        for d in versions:  # cards and sources relied on count for the review list
            c = counts.setdefault((d, day), [0, 0])
            c[0] += 1
            c[1] += stop
        if r["uncovered_reason"]:
            u = uncovered.get(r["tool"])
            if u is None:
                uncovered[r["tool"]] = {"tool": r["tool"], "n": 1, "first": r["at"], "at": r["at"],
                                        "reason": r["uncovered_reason"], "receipt": r["id"]}
            else:
                u["n"] += 1
                if r["at"] >= u["at"]:
                    u.update(at=r["at"], reason=r["uncovered_reason"], receipt=r["id"])
                u["first"] = min(u["first"], r["at"])
    if links:
        conn.execute(_LINKS, links)
    count_reliance_many(conn, counts)
    if uncovered:  # sorted: concurrent writers lock the same rows in the same order (PostgreSQL)
        conn.execute(_UNCOVERED, [uncovered[t] for t in sorted(uncovered)])


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
