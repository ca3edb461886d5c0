"""Job runs: one run per slot, no overlap with a manual run, failures recorded, triggers from settings."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from freshgate.app import run_sync
from freshgate.cli import app as cli_app
from freshgate.errors import Conflict, Invalid, NotFound
from freshgate.freshness.models import StateEvent
from freshgate.scheduler import runner, service
from freshgate.scheduler.models import JobRun
from tests.conftest import NOW

SLOT = datetime(2026, 11, 21, 13, 0, tzinfo=timezone.utc)


def _rows(rt, job_id):
    with Session(rt.engine) as s:
        return list(s.exec(select(JobRun).where(JobRun.job_id == job_id).order_by(JobRun.id)).all())


def test_a_slot_runs_once_even_when_fired_twice(runtime):
    calls = []
    job = lambda rt, now: calls.append(now) or {"n": len(calls)}  # noqa: E731
    first = service.run_slot(runtime, "probe", job, SLOT, "a")
    second = service.run_slot(runtime, "probe", job, SLOT, "b")
    third = service.run_slot(runtime, "probe", job, SLOT + timedelta(hours=1), "b")
    assert [first.status, second.status, third.status] == ["ok", "taken", "ok"]
    assert calls == [SLOT, SLOT + timedelta(hours=1)]
    rows = _rows(runtime, "probe")
    assert [(r.runner, r.status, r.summary) for r in rows] == [("a", "ok", {"n": 1}), ("b", "ok", {"n": 2})]
    assert all(r.finished_at is not None for r in rows)


def test_manual_run_and_scheduled_run_never_overlap(runtime):
    ran = []
    job = lambda rt, now: ran.append(now) or {}  # noqa: E731
    with service.job_lock(runtime.engine, "probe") as got:  # a run of `probe` is in progress
        assert got
        with pytest.raises(Conflict, match="running right now"):
            service.run_now(runtime, "probe", job)
        skipped = service.run_slot(runtime, "probe", job, SLOT, "other")
    assert skipped.status == "skipped" and ran == []
    assert [(r.slot, r.status) for r in _rows(runtime, "probe")] == [(SLOT, "skipped")]
    assert service.run_now(runtime, "probe", job).status == "ok" and len(ran) == 1


def test_a_failing_job_is_recorded_and_the_next_slot_still_runs(runtime):
    def boom(rt, now):
        raise RuntimeError("remote down")

    out = service.run_slot(runtime, "probe", boom, SLOT)
    assert out.status == "failed" and "remote down" in out.error
    assert service.run_slot(runtime, "probe", lambda rt, now: {"ok": 1}, SLOT + timedelta(hours=1)).status == "ok"
    assert [(r.status, (r.error or "")[:30]) for r in _rows(runtime, "probe")] == [
        ("failed", "RuntimeError: remote down"), ("ok", "")]


def test_triggers_parse_and_interval_slots_are_the_same_in_every_process():
    t = runner.parse_trigger("interval:15m")
    at = datetime(2026, 11, 21, 12, 7, 30, tzinfo=timezone.utc)
    assert t.get_next_fire_time(None, at) == datetime(2026, 11, 21, 12, 15, tzinfo=timezone.utc)
    cron = runner.parse_trigger("cron:0 8 * * mon")
    assert cron.get_next_fire_time(None, at) == datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
    for bad in ("every 5 minutes", "interval:0m", "interval:5x", "cron:61 * * * *"):
        with pytest.raises(Invalid):
            runner.parse_trigger(bad)


def test_scheduler_has_enabled_installed_jobs_only(runtime, monkeypatch):
    monkeypatch.setitem(runner.JOBS, "conflict_scan", "freshgate.not_there.jobs:full_scan")
    runtime.settings.scheduler.remote_refresh.enabled = False
    sched = runner.build_scheduler(runtime)
    ids = {j.id for j in sched.get_jobs()}
    assert "sweep" in ids and "remote_refresh" not in ids and "conflict_scan" not in ids
    assert str(sched.get_job("sweep").trigger).startswith("interval[1:00:00]")
    listed = {j.id: j for j in runner.list_jobs(runtime, now=NOW + timedelta(minutes=1))}
    assert listed["conflict_scan"].available is False and listed["conflict_scan"].next_run is None
    assert listed["remote_refresh"].enabled is False and listed["remote_refresh"].next_run is None
    assert listed["sweep"].next_run == NOW + timedelta(hours=1)
    with pytest.raises(NotFound):
        runner.run_job_now(runtime, "no_such_job")


def test_cli_jobs_run_sweep_then_list_shows_the_run(runtime, kb, settings):
    run_sync(runtime, [kb / "sources", kb / "sop_cards"])
    cli = CliRunner()
    url = ["--database-url", settings.database_url]
    res = cli.invoke(cli_app, [*url, "jobs", "run", "sweep"])
    assert res.exit_code == 0, res.output
    assert '"status": "ok"' in res.output and '"transitions"' in res.output
    with Session(runtime.engine) as s:
        n_docs = len(s.exec(select(StateEvent)).all())
    assert n_docs >= 30  # every document's initial state was recorded
    listed = cli.invoke(cli_app, [*url, "jobs", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert '"last_status": "ok"' in listed.output
    bad = cli.invoke(cli_app, [*url, "jobs", "run", "nope"])
    assert bad.exit_code == 1 and "no job named 'nope'" in bad.output
