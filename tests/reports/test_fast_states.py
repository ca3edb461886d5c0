"""The review list's bulk evaluation (SQL pre-filter + pure rules) agrees with the registry's own freshness."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlmodel import Session

from freshgate.app import run_sync
from freshgate.freshness.rules import PRECEDENCE
from freshgate.registry.service import RegistryService
from freshgate.reports.service import evaluate_all
from tests.conftest import NOW
from tests.reports.helpers import states_kb, sync_at


@pytest.mark.parametrize("days", [0, 9, 16, 40, 100, 400])
def test_states_and_counts_match_the_registry(runtime, kb, tmp_path, days):
    sync_at(runtime, states_kb(tmp_path / "mine"))
    run_sync(runtime, [kb / "sources", kb / "sop_cards"])
    at = NOW + timedelta(days=days)
    with Session(runtime.engine) as s:
        svc = RegistryService(s, runtime.registry_ctx)
        docs = svc.all_documents()
        expected = {i: fr.state for i, fr in svc.freshness(docs, at).items() if i in {d.id for d in docs}}
        ev = evaluate_all(s, runtime.registry_ctx.rules, at)
    got = {i: fr.state for i, fr in ev.fresh.items()}
    assert {i: st for i, st in expected.items() if st != "fresh"} == {i: st for i, st in got.items() if st != "fresh"}
    counts = Counter(expected.values())
    assert ev.counts == {st: counts.get(st, 0) for st in PRECEDENCE}
