"""State counts in the past, reconstructed from the sweep's recorded transitions (`state_event`).

A document's state at time t is the `to_state` of its latest event at or before t; documents
with no event by then are not counted (they were not registered or not yet swept).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import bindparam, text
from sqlmodel import Session
from sqlmodel.sql.sqltypes import UTCDateTime

WEEKS = 8
# Latest event per document at or before :t, counted per state. Window functions run on
# SQLite >= 3.25 and PostgreSQL alike; (at, id) breaks ties between events of one sweep.
_COUNTS_AT = text(
    "SELECT to_state, COUNT(*) FROM ("
    " SELECT to_state, ROW_NUMBER() OVER (PARTITION BY document_id ORDER BY at DESC, id DESC) AS rn"
    " FROM state_event WHERE at <= :t) latest"
    " WHERE rn = 1 GROUP BY to_state"
).bindparams(bindparam("t", type_=UTCDateTime()))


def aware(dt: datetime) -> datetime:
    """A datetime with UTC attached when it came back naive."""
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def counts_at(session: Session, t: datetime) -> dict[str, int]:
    """How many documents were in each state at `t`, from recorded transitions (empty: nothing recorded)."""
    return {state: int(n) for state, n in session.execute(_COUNTS_AT, {"t": t}).all()}


def weekly_counts(session: Session, now: datetime, current: dict[str, int], weeks: int = WEEKS
                  ) -> tuple[list[tuple[datetime, dict[str, int]]], dict[str, int] | None]:
    """State counts at weekly points over the last `weeks` weeks (the last point is `current`),
    and the counts one week ago (None when nothing was recorded by then)."""
    points: list[tuple[datetime, dict[str, int]]] = []
    week_ago = None
    for k in range(weeks - 1, 0, -1):
        t = now - timedelta(days=7 * k)
        counts = counts_at(session, t)
        if counts:
            points.append((t, {s: counts.get(s, 0) for s in current}))
            if k == 1:
                week_ago = points[-1][1]
    points.append((now, dict(current)))
    return points, week_ago
