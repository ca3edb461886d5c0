"""State counts in the past, reconstructed from the sweep's recorded transitions (`state_event`).

A document's state at time t is the `to_state` of its latest event at or before t; documents
with no event by then are not counted (they were not registered or not yet swept). All weekly
points come from ONE scan: LEAD() gives each event the time it was superseded, and an event
counts at t when at <= t < superseded (window functions: SQLite >= 3.25 and PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import bindparam, text
from sqlmodel import Session
from sqlmodel.sql.sqltypes import UTCDateTime

WEEKS = 8


def aware(dt: datetime) -> datetime:
    """A datetime with UTC attached when it came back naive."""
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def counts_at_many(session: Session, points: list[datetime]) -> list[dict[str, int]]:
    """How many documents were in each state at each of `points` (empty dict: nothing recorded yet)."""
    if not points:
        return []
    sums = ", ".join(f"SUM(CASE WHEN at <= :t{k} AND (nxt IS NULL OR nxt > :t{k}) THEN 1 ELSE 0 END)"
                     for k in range(len(points)))
    stmt = text(
        f"SELECT to_state, {sums} FROM ("
        " SELECT to_state, at, LEAD(at) OVER (PARTITION BY document_id ORDER BY at, id) AS nxt"
        " FROM state_event WHERE at <= :tmax) spans GROUP BY to_state"
    ).bindparams(*(bindparam(f"t{k}", type_=UTCDateTime()) for k in range(len(points))),
                 bindparam("tmax", type_=UTCDateTime()))
    params = {f"t{k}": t for k, t in enumerate(points)} | {"tmax": max(points)}
    out: list[dict[str, int]] = [{} for _ in points]
    for row in session.execute(stmt, params).all():
        for k in range(len(points)):
            if row[k + 1]:
                out[k][row[0]] = int(row[k + 1])
    return out


def counts_at(session: Session, t: datetime) -> dict[str, int]:
    """How many documents were in each state at `t`, from recorded transitions (empty: nothing recorded)."""
    return counts_at_many(session, [t])[0]


def weekly_counts(session: Session, now: datetime, current: dict[str, int], weeks: int = WEEKS
                  ) -> tuple[list[tuple[datetime, dict[str, int]]], dict[str, int] | None]:
    """State counts at weekly points over the last `weeks` weeks (the last point is `current`),
    and the counts one week ago (None when nothing was recorded by then)."""
    past = [now - timedelta(days=7 * k) for k in range(weeks - 1, 0, -1)]
    points: list[tuple[datetime, dict[str, int]]] = []
    week_ago = None
    for t, counts in zip(past, counts_at_many(session, past)):
        if counts:
            points.append((t, {s: counts.get(s, 0) for s in current}))
            if t == past[-1]:
                week_ago = points[-1][1]
    points.append((now, dict(current)))
    return points, week_ago
