"""State counts in the past, reconstructed from the sweep's recorded transitions (`state_event`).

A document's state at time t is the `to_state` of its latest event at or before t; documents
with no event by then are not counted (they were not registered or not yet swept). All weekly
points come from ONE aggregate, no sort or window: the sweep writes each event's `from_state` as
the document's previous `to_state`, so the count of state s at t is the number of events into s
minus the number out of s, among events at or before t.
"""

from __future__ import annotations

from collections import Counter
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
    order = sorted(range(len(points)), key=points.__getitem__)
    ts = [points[k] for k in order]
    # Which interval between the (sorted) points each event falls in: event counts from that point on.
    bucket = " ".join(f"WHEN at <= :t{k} THEN {k}" for k in range(len(ts)))
    stmt = text(
        f"SELECT to_state, from_state, CASE {bucket} END AS b, COUNT(*) FROM state_event"
        f" WHERE at <= :t{len(ts) - 1} GROUP BY to_state, from_state, b"
    ).bindparams(*(bindparam(f"t{k}", type_=UTCDateTime()) for k in range(len(ts))))
    net: list[Counter] = [Counter() for _ in ts]
    seen = [False] * len(ts)
    for to_state, from_state, b, n in session.connection().execute(stmt, {f"t{k}": t for k, t in enumerate(ts)}):
        for k in range(int(b), len(ts)):
            seen[k] = True
            net[k][to_state] += n
            if from_state is not None:
                net[k][from_state] -= n
    out: list[dict[str, int]] = [{} for _ in points]
    for k, i in enumerate(order):
        if seen[k]:
            out[i] = {s: int(n) for s, n in net[k].items() if n > 0}
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
