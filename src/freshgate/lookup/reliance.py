"""Reliance per document and UTC day, kept in step with decision receipts.

Every receipt adds 1 to `lookups` (and to `stops` when it stopped the agent) of each document it
cited, on the receipt's UTC day. The review list then sums at most ~30 days per document instead
of joining every receipt link ever written.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Iterable

from sqlalchemy import Date, Integer, bindparam, func, text
from sqlmodel import Field, Session, SQLModel, select


class RelianceDaily(SQLModel, table=True):
    """How many lookups (and stops) cited a document on one UTC day."""

    __tablename__ = "reliance_daily"

    document_id: str = Field(primary_key=True, max_length=200)
    day: date = Field(primary_key=True, index=True)
    lookups: int = Field(default=0)
    stops: int = Field(default=0)


# The same upsert on SQLite (>= 3.24) and PostgreSQL.
_UPSERT = text(
    "INSERT INTO reliance_daily (document_id, day, lookups, stops) VALUES (:document_id, :day, 1, :stop)"
    " ON CONFLICT (document_id, day) DO UPDATE SET lookups = reliance_daily.lookups + excluded.lookups,"
    " stops = reliance_daily.stops + excluded.stops"
).bindparams(bindparam("day", type_=Date()), bindparam("stop", type_=Integer()))


def utc_day(at: datetime) -> date:
    """The UTC calendar day of a time (a naive time is taken as UTC)."""
    return (at.astimezone(timezone.utc) if at.tzinfo else at).date()


def count_reliance(session: Session, at: datetime, decision: str, document_ids: Iterable[str]) -> None:
    """Count one receipt citing `document_ids` at `at` (call in the receipt's transaction)."""
    day, stop = utc_day(at), int(decision == "stop_and_ask")
    # Sorted so concurrent writers lock the same rows in the same order (no deadlock on PostgreSQL).
    rows = [{"document_id": d, "day": day, "stop": stop} for d in sorted(set(document_ids))]
    if rows:
        session.execute(_UPSERT, rows)


_UPSERT_N = text(
    "INSERT INTO reliance_daily (document_id, day, lookups, stops) VALUES (:document_id, :day, :n, :stop)"
    " ON CONFLICT (document_id, day) DO UPDATE SET lookups = reliance_daily.lookups + excluded.lookups,"
    " stops = reliance_daily.stops + excluded.stops"
).bindparams(bindparam("day", type_=Date()), bindparam("n", type_=Integer()), bindparam("stop", type_=Integer()))


def count_reliance_many(conn, counts: dict[tuple[str, date], list[int]]) -> None:
    """Add {(document, day): [lookups, stops]} at once (a batch of receipts; sorted: same lock order)."""
    rows = [{"document_id": d, "day": day, "n": n, "stop": s} for (d, day), (n, s) in sorted(counts.items())]
    if rows:
        conn.execute(_UPSERT_N, rows)


def reliance(session: Session, since: datetime) -> dict[str, tuple[int, int]]:
    """{document: (lookups citing it, of which stop_and_ask)} on the UTC days from `since`'s day on."""
    q = (select(RelianceDaily.document_id, func.sum(RelianceDaily.lookups), func.sum(RelianceDaily.stops))
         .where(RelianceDaily.day >= utc_day(since)).group_by(RelianceDaily.document_id))
    return {d: (int(n), int(s or 0)) for d, n, s in session.execute(q).all()}
