"""The freshness sweep records every state transition, once, on the day it happens."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone

import pytest

from sqlmodel import Session, select

from freshgate.app import run_sync
from freshgate.freshness.jobs import sweep
from freshgate.freshness.models import DocumentState, StateEvent
from freshgate.registry.service import RegistryService
from tests.conftest import write_doc

START = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


def _events(rt, doc_id):
    with Session(rt.engine) as s:
        rows = s.exec(select(StateEvent).where(StateEvent.document_id == doc_id).order_by(StateEvent.id)).all()
        return [(e.at.date().isoformat(), e.from_state, e.to_state) for e in rows]


def _setup(runtime, tmp_path):
    runtime.registry_ctx.clock = lambda: START
    d = tmp_path / "kb" / "sources"
    write_doc(d, "monthly.md", "id: monthly\ntitle: Monthly\nowner: ana\nreview_every: 30d\n"
                               "last_verified: 2026-11-01\nverified_by: ana")
    write_doc(d, "yearly.md", "id: yearly\ntitle: Yearly\nowner: ana\nreview_every: 1y\n"
                              "last_verified: 2026-10-01\nverified_by: ana")
    report = run_sync(runtime, [d])
    assert report.failed == [] and len(report.added) == 2


@pytest.mark.parametrize("computed_by", ["streaming sweep_states", "registry freshness"])
def test_month_of_daily_sweeps_records_fresh_due_stale_on_the_right_days(runtime, tmp_path, monkeypatch, computed_by):
    if computed_by == "registry freshness":  # the fallback when freshness.service is not there
        monkeypatch.setitem(sys.modules, "freshgate.freshness.service", None)
    _setup(runtime, tmp_path)
    for day in range(35):  # 2026-11-01 .. 2026-12-05, one sweep a day at noon
        sweep(runtime, START + timedelta(days=day))
    assert _events(runtime, "monthly") == [
        ("2026-11-01", None, "fresh"),
        ("2026-11-17", "fresh", "due"),  # next review 2026-12-01, 14-day warning window
        ("2026-12-01", "due", "stale"),
    ]
    # The yearly document never changed state: only its first sighting is recorded.
    assert _events(runtime, "yearly") == [("2026-11-01", None, "fresh")]
    with Session(runtime.engine) as s:
        st = s.get(DocumentState, "monthly")
        assert st.state == "stale" and st.since.date().isoformat() == "2026-12-01"
        stale = s.exec(select(StateEvent).where(StateEvent.to_state == "stale")).one()
        assert stale.owner_id == "ana"
        assert [r["code"] for r in stale.reasons] == ["stale"]


def test_verify_brings_it_back_to_fresh_and_repeated_sweeps_add_nothing(runtime, tmp_path):
    _setup(runtime, tmp_path)
    for day in (0, 20, 31):
        sweep(runtime, START + timedelta(days=day))
    assert _events(runtime, "monthly")[-1][2] == "stale"
    verified_at = START + timedelta(days=32)
    runtime.registry_ctx.clock = lambda: verified_at
    with Session(runtime.engine) as s:
        RegistryService(s, runtime.registry_ctx).verify("monthly", actor="ana")
        s.commit()
    summary = sweep(runtime, verified_at)
    assert summary["transitions"] == 1 and summary["by_transition"] == {"stale->fresh": 1}
    before = _events(runtime, "monthly")
    assert before[-1] == ("2026-12-03", "stale", "fresh")
    again = sweep(runtime, verified_at + timedelta(hours=1))
    assert again["transitions"] == 0 and again["documents"] == 2
    assert _events(runtime, "monthly") == before


def test_content_change_is_recorded_as_changed(runtime, tmp_path):
    _setup(runtime, tmp_path)
    sweep(runtime, START)
    with Session(runtime.engine) as s:
        RegistryService(s, runtime.registry_ctx).update_content("monthly", "# Monthly\n\nNew text.\n", actor="bo")
        s.commit()
    summary = sweep(runtime, START + timedelta(hours=1))
    assert summary["by_transition"] == {"fresh->changed": 1}
    assert summary["states"] == {"changed": 1, "fresh": 1}
