"""Past state counts (one aggregate over recorded transitions) match a replay of the events."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from freshgate.freshness.jobs import sweep
from freshgate.freshness.models import StateEvent
from freshgate.registry.service import RegistryService
from freshgate.reports import history
from tests.conftest import NOW
from tests.reports.helpers import states_kb, sync_at


def _replay(events: list[StateEvent], t) -> dict[str, int]:
    latest: dict[str, str] = {}
    for e in sorted(events, key=lambda e: (e.at, e.id)):
        if e.at <= t:
            latest[e.document_id] = e.to_state
    out: dict[str, int] = {}
    for st in latest.values():
        out[st] = out.get(st, 0) + 1
    return out


def test_counts_at_any_time_match_a_replay_of_the_transitions(runtime, tmp_path):
    sync_at(runtime, states_kb(tmp_path / "kb"))
    for days in (60, 30, 20):
        sweep(runtime, NOW - timedelta(days=days))
    with Session(runtime.engine) as s:  # an owner leaves, then a document is verified: more transitions
        svc = RegistryService(s, runtime.registry_ctx)
        svc.set_owner_active("ann", False, actor="t")
        s.commit()
    sweep(runtime, NOW - timedelta(days=10))
    with Session(runtime.engine) as s:
        RegistryService(s, runtime.registry_ctx).verify("pricing", actor="bob")
        s.commit()
    for days in (5, 0):
        sweep(runtime, NOW - timedelta(days=days))
    points = [NOW - timedelta(days=d, hours=h) for d in (70, 60, 45, 30, 25, 20, 10, 7, 5, 1, 0) for h in (0, 1)]
    with Session(runtime.engine) as s:
        events = list(s.exec(select(StateEvent)).all())
        got = history.counts_at_many(s, points)
    assert len({e.to_state for e in events}) >= 4  # the replay has something to disagree about
    assert got == [_replay(events, t) for t in points]
    assert got[0] == {} and sum(got[-1].values()) == 8
