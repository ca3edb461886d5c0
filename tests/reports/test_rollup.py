"""Decision counts per UTC day: closed days rolled up once (idempotent, race-safe), open days live.

Receipts are inserted as rows (the table is the rollup's only input; how the lookup writes them is
not this module's business). Expected counts come from the inserted rows, counted here in Python.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlmodel import Session

from freshgate.lookup.models import LookupReceipt
from freshgate.reports import rollup
from freshgate.reports.rollup import DecisionDaily, DecisionDay

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
CODES = ("conflict", "expired", "no_source")


def _receipts(engine, n: int, seed: int = 3, newest: datetime = NOW, minutes: int = 40 * 24 * 60) -> list[dict]:
    """`n` receipts spread over the `minutes` up to `newest`; returns what was inserted."""
    rng = random.Random(seed)
    rows = []
    for k in range(n):
        decision = rng.choice(("proceed", "caution", "stop_and_ask"))
        reasons = [{"code": rng.choice(CODES), "message": "m", "item": None}] if decision == "stop_and_ask" else []
        state = rng.choice(("fresh", "fresh", "stale"))
        rows.append({"id": f"r{seed}-{k:05d}", "at": newest - timedelta(minutes=rng.randrange(minutes)),
                     "query": "q", "decision": decision, "reasons": reasons,
                     "citations": [{"document_id": "d", "version": 1, "anchor": "a", "state": state}]})
    with Session(engine) as s:
        s.add_all([LookupReceipt(**r) for r in rows])
        s.commit()
    return rows


def _expected(rows: list[dict], now: datetime, days: int) -> tuple[Counter, Counter, int]:
    since = now.date() - timedelta(days=days - 1)
    inside = [r for r in rows if r["at"].date() >= since]
    stops = Counter(r["reasons"][0]["code"] for r in inside if r["decision"] == "stop_and_ask")
    stale = sum(r["citations"][0]["state"] != "fresh" for r in inside)
    return Counter(r["decision"] for r in inside), stops, stale


def _check(windows, rows, now) -> None:
    for w in windows:
        by, stops, stale = _expected(rows, now, w.days)
        assert {k: v for k, v in w.by_decision.items() if v} == dict(by)
        assert dict(w.stop_reasons) == dict(stops)
        assert w.served_stale == stale
        assert w.since == now.date() - timedelta(days=w.days - 1)


def _rolled_days(engine) -> list:
    with Session(engine) as s:
        return sorted(d for (d,) in s.execute(select(DecisionDay.day)))


def test_closed_days_are_rolled_up_once_and_today_is_counted_live(runtime):
    rows = _receipts(runtime.engine, 600)
    with Session(runtime.engine) as s:
        first = rollup.windows(s, NOW)
    _check(first, rows, NOW)
    # 29 closed days of the 30-day window are rolled; today is not (receipts may still arrive)
    days = _rolled_days(runtime.engine)
    assert len(days) == 29 and NOW.date() not in days and max(days) == NOW.date() - timedelta(days=1)
    assert first[1].live == sum(r["at"].date() == NOW.date() for r in rows)
    # a receipt of today shows on the next load; nothing is rolled twice
    more = _receipts(runtime.engine, 5, seed=9, minutes=2)  # written as they happen: within the last minutes
    with Session(runtime.engine) as s:
        second = rollup.windows(s, NOW)
        n_groups = s.execute(select(func.count()).select_from(DecisionDaily)).scalar_one()
        again = rollup.windows(s, NOW)
        assert s.execute(select(func.count()).select_from(DecisionDaily)).scalar_one() == n_groups
    _check(second, rows + more, NOW)
    assert [w.by_decision for w in again] == [w.by_decision for w in second]
    assert _rolled_days(runtime.engine) == days


def test_yesterday_stays_live_during_the_grace_then_is_rolled(runtime):
    rows = _receipts(runtime.engine, 300, newest=NOW.replace(hour=23, minute=59))
    just_after = NOW.replace(hour=0, minute=30) + timedelta(days=1)  # 00:30: yesterday's late receipts may come
    with Session(runtime.engine) as s:
        _check(rollup.windows(s, just_after), rows, just_after)
    assert NOW.date() not in _rolled_days(runtime.engine)
    later = just_after + timedelta(hours=1)  # 01:30: closed, but rolling it is the decision_rollup job's turn
    with Session(runtime.engine) as s:
        _check(rollup.windows(s, later), rows, later)
    assert NOW.date() not in _rolled_days(runtime.engine)
    much_later = later + timedelta(hours=1)  # 02:30: the job did not run (scheduler off): the page rolls it
    with Session(runtime.engine) as s:
        _check(rollup.windows(s, much_later), rows, much_later)
    assert NOW.date() in _rolled_days(runtime.engine)


def test_the_decision_rollup_job_rolls_closed_days_before_a_page_needs_them(runtime):
    from freshgate.scheduler.runner import run_job_now

    rows = _receipts(runtime.engine, 300, newest=NOW.replace(hour=23, minute=59))
    at = NOW.replace(hour=1, minute=15) + timedelta(days=1)  # yesterday closed 15 minutes ago
    outcome = run_job_now(runtime, "decision_rollup", at)
    days = _rolled_days(runtime.engine)
    assert len(days) == 29 and max(days) == NOW.date(), outcome
    with Session(runtime.engine) as s:
        windows = rollup.windows(s, at)
    _check(windows, rows, at)
    assert windows[1].live == 0  # every counted receipt came from the rollup: none scanned on the page load
    run_job_now(runtime, "decision_rollup", at + timedelta(minutes=15))  # the next slot: nothing left to roll
    assert _rolled_days(runtime.engine) == days


def test_processes_racing_for_the_same_days_count_each_receipt_once(runtime):
    rows = _receipts(runtime.engine, 400)
    assert rollup.roll_day(runtime.engine, NOW.date() - timedelta(days=3), NOW) is True
    assert rollup.roll_day(runtime.engine, NOW.date() - timedelta(days=3), NOW) is False  # already rolled
    results, errors, gate = [], [], threading.Barrier(4)

    def load():
        try:
            gate.wait()
            with Session(runtime.engine) as s:
                results.append(rollup.windows(s, NOW))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for windows in results:
        _check(windows, rows, NOW)
    with Session(runtime.engine) as s:
        _check(rollup.windows(s, NOW), rows, NOW)
    assert len(_rolled_days(runtime.engine)) == 29


def test_a_receipt_written_late_counts_once_its_day_is_rolled_up(runtime):
    rows = _receipts(runtime.engine, 200)
    with Session(runtime.engine) as s:
        _check(rollup.windows(s, NOW), rows, NOW)
    # stamped an hour ago but written only now (a queue that was stuck): today's settled counts miss it ...
    late = [{"id": "late-1", "at": NOW - timedelta(hours=1), "query": "q", "decision": "caution", "reasons": [],
             "citations": [{"document_id": "d", "version": 1, "anchor": "a", "state": "fresh"}]}]
    with Session(runtime.engine) as s:
        s.add(LookupReceipt(**late[0]))
        s.commit()
        assert rollup.windows(s, NOW)[0].by_decision["caution"] == _expected(rows, NOW, 7)[0]["caution"]
    # ... and the day's rollup, counted from the table once the day is closed, has it
    tomorrow = NOW + timedelta(days=1)
    with Session(runtime.engine) as s:
        _check(rollup.windows(s, tomorrow), rows + late, tomorrow)
