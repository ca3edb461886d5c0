"""Decisions per UTC day, rolled up from the receipts once a day is closed (read-only on receipts).

The overview's "last N days" are the N UTC days ending today. A closed day (ended more than `GRACE`
ago, so receipts a writer queued late are in) is read from `decision_daily`, materialised by the
scheduled `decision_rollup` job (reports.jobs): one transaction per day claims the day in `decision_day`
(its primary key decides: a second process or replica racing for the same day loses the insert and
leaves the day to the winner) and writes the day's groups. A page load rolls a day itself only when it
closed more than `REQUEST_SLACK` ago and is still not rolled (the job is off or failing); until then it
counts it like an open day. The days still open (today, and yesterday during the grace) are counted
from the receipts with an index range on `lookup_receipt.at`, incrementally: what settled (older than
`SETTLE`) is kept per process, only the newest minutes are read on each load. No page scans the
receipts of 30 days, and the overview needs no cache in front of its decision counts.

The first-reason JSON expression is the only dialect-specific SQL here (SQLite json_extract /
PostgreSQL ->>).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import Engine, String, case, cast, func, insert, literal_column, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel

from freshgate.lookup.models import LookupReceipt

log = logging.getLogger(__name__)
DECISIONS = ("proceed", "caution", "stop_and_ask")
NOT_FRESH = ("expired", "changed", "orphaned", "unreachable", "stale", "suspect", "due")
GRACE = timedelta(hours=1)  # a day is closed this long after its end (late-written receipts are in)
SETTLE = timedelta(minutes=2)  # an open day's receipts older than this are counted once per process
WINDOWS = (7, 30)
REQUEST_SLACK = timedelta(hours=1)  # the job's head start: a page rolls a closed day only this long after it closed


class DecisionDay(SQLModel, table=True):
    """A UTC day whose decisions are rolled up in `decision_daily` (the claim of whoever rolled it)."""

    __tablename__ = "decision_day"

    day: date = Field(primary_key=True)
    receipts: int = 0
    rolled_at: datetime


class DecisionDaily(SQLModel, table=True):
    """How many receipts of one closed UTC day had this outcome, first stop reason and served-stale flag."""

    __tablename__ = "decision_daily"

    day: date = Field(primary_key=True)
    decision: str = Field(primary_key=True, max_length=20)
    reason: str = Field(primary_key=True, max_length=100)  # a stop's first reason code; "" otherwise
    served_stale: bool = Field(primary_key=True)
    receipts: int


@dataclass
class Window:
    """Decisions of the last `days` UTC days (today included)."""

    days: int
    by_decision: dict[str, int]
    stop_reasons: list[tuple[str, int]]
    served_stale: int
    since: date | None = None
    live: int = 0  # of which counted live from today's (and maybe yesterday's) receipts

    @property
    def total(self) -> int:
        """All decisions in the window."""
        return sum(self.by_decision.values())


def _first_reason(dialect: str):
    expr = "reasons->0->>'code'" if dialect == "postgresql" else "json_extract(reasons, '$[0].code')"
    return literal_column(expr, String)


def cites_not_fresh():
    """The receipt cited a section whose state was not fresh: a text match on the stored JSON (json.dumps writes
    `"state": "stale"`), ten times cheaper than expanding every citation array."""
    text_ = cast(LookupReceipt.citations, String)
    return or_(*[text_.like(f'%"state": "{s}"%') for s in NOT_FRESH])


def _start(d: date) -> datetime:
    return datetime.combine(d, time(), tzinfo=timezone.utc)


def _group_query(dialect: str, start: datetime, end: datetime | None):
    """Receipts at or after `start` (and before `end`) by outcome, a stop's first reason and served-stale."""
    reason = func.coalesce(case((LookupReceipt.decision == "stop_and_ask", _first_reason(dialect)), else_=""), "")
    stale = case((cites_not_fresh(), True), else_=False)
    # An expression, not the bare column: grouping by `decision` made SQLite walk its index over every receipt
    # instead of the `at` range (1.5 s instead of 15 ms for today's receipts at 1M).
    decision = func.coalesce(LookupReceipt.decision, "")
    cond = [LookupReceipt.at >= start] + ([LookupReceipt.at < end] if end is not None else [])
    return select(decision, reason, stale, func.count()).where(*cond).group_by(decision, reason, stale)


def is_closed(day: date, now: datetime) -> bool:
    """Whether receipts of `day` can still arrive (no) or the day may be rolled up (yes)."""
    return now >= _start(day + timedelta(days=1)) + GRACE


def roll_day(engine: Engine, day: date, now: datetime) -> bool:
    """Roll up one closed day in its own transaction; False when another process already did (or does)."""
    try:
        with engine.begin() as conn:
            conn.execute(insert(DecisionDay).values(day=day, receipts=0, rolled_at=now))
            rows = conn.execute(_group_query(conn.dialect.name, _start(day), _start(day + timedelta(days=1)))).all()
            if rows:
                conn.execute(insert(DecisionDaily), [
                    {"day": day, "decision": d, "reason": (r or "")[:100], "served_stale": bool(s), "receipts": int(n)}
                    for d, r, s, n in rows])
            conn.execute(update(DecisionDay).where(DecisionDay.day == day)
                         .values(receipts=sum(int(n) for *_, n in rows)))
        return True
    except IntegrityError:  # lost the race for this day: the winner's rows are (or will be) there
        log.debug("decision rollup of %s: another process rolled it", day)
        return False


def ensure_rolled(engine: Engine, days: list[date], now: datetime, slack: timedelta = timedelta(0)) -> int:
    """Roll up the ones of `days` closed (`slack` ago) and not rolled yet (idempotent; safe with several
    processes)."""
    closed = [d for d in days if is_closed(d, now - slack)]
    if not closed:
        return 0
    with engine.connect() as conn:
        done = {d for (d,) in conn.execute(select(DecisionDay.day).where(DecisionDay.day >= min(closed),
                                                                         DecisionDay.day <= max(closed)))}
    return sum(roll_day(engine, d, now) for d in closed if d not in done)


def window_days(now: datetime, sizes: tuple[int, ...] = WINDOWS) -> list[date]:
    """The UTC days of the longest window ending on `now`'s day, oldest first."""
    today = now.astimezone(timezone.utc).date()
    first = today - timedelta(days=max(sizes) - 1)
    return [first + timedelta(days=k) for k in range(max(sizes))]


def windows(session: Session, now: datetime, sizes: tuple[int, ...] = WINDOWS) -> list[Window]:
    """Decisions of the last N UTC days for each N in `sizes`: closed days from the rollup, open days live."""
    now = now.astimezone(timezone.utc)
    today = now.date()
    days = window_days(now, sizes)
    first = days[0]
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    ensure_rolled(engine, days, now, REQUEST_SLACK)  # normally a no-op: the decision_rollup job did it
    conn = session.connection()
    rolled = {d for (d,) in conn.execute(select(DecisionDay.day).where(DecisionDay.day >= first))}
    open_days = [d for d in days if d not in rolled]
    groups: list[tuple[date, str, str, bool, int, bool]] = [  # (day, outcome, reason, stale, receipts, live)
        (d, dec, r, bool(s), int(n), False) for d, dec, r, s, n in conn.execute(
            select(DecisionDaily.day, DecisionDaily.decision, DecisionDaily.reason, DecisionDaily.served_stale,
                   DecisionDaily.receipts).where(DecisionDaily.day >= first)).all()]
    for d in open_days:  # normally today (and yesterday within the grace)
        for (dec, r, s), n in _open_day(conn, str(engine.url), d, today, now).items():
            groups.append((d, dec, r or "", bool(s), int(n), True))
    return [_window(size, today, groups) for size in sizes]


_settled: dict[tuple[str, date], tuple[datetime, Counter]] = {}  # (database, open day) -> (counted up to, groups)
_settled_lock = threading.Lock()


def _open_day(conn, db: str, day: date, today: date, now: datetime) -> Counter:
    """Groups of a day still open: the receipts older than `SETTLE` are counted once per process and kept
    (each load adds only those settled since the last), the newest few minutes are counted live. A receipt
    written more than `SETTLE` after its time is counted when its day is rolled up (exactly, from the table)."""
    start, end = _start(day), _start(day + timedelta(days=1))
    cut = max(start, min(end, now - SETTLE))
    with _settled_lock:
        upto, counts = _settled.get((db, day), (start, Counter()))
    if cut > upto:
        counts = counts.copy()
        for dec, r, s, n in conn.execute(_group_query(conn.dialect.name, upto, cut)).all():
            counts[(dec, r or "", bool(s))] += int(n)
        with _settled_lock:
            if _settled.get((db, day), (start,))[0] < cut:
                _settled[(db, day)] = (cut, counts)
            for key in [k for k in _settled if k[1] < today - timedelta(days=1)]:
                del _settled[key]  # days rolled up by now
    out = counts.copy()
    live_end = None if day == today else end  # today: also receipts stamped ahead of `now`
    for dec, r, s, n in conn.execute(_group_query(conn.dialect.name, max(cut, upto), live_end)).all():
        out[(dec, r or "", bool(s))] += int(n)
    return out


def _window(size: int, today: date, groups: list) -> Window:
    since = today - timedelta(days=size - 1)
    by, stops, stale, live = Counter(), Counter(), 0, 0
    for d, dec, reason, served_stale, n, is_live in groups:
        if d < since:
            continue
        live += n if is_live else 0
        by[dec] += n
        if dec == "stop_and_ask":
            stops[reason or "(none)"] += n
        stale += n if served_stale else 0
    return Window(size, {d: by.get(d, 0) for d in (*DECISIONS, *sorted(set(by) - set(DECISIONS)))},
                  sorted(stops.items(), key=lambda kv: (-kv[1], kv[0])), stale, since, live)
