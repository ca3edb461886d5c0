"""The streaming sweep computes exactly what the per-document path (API, lookup) computes."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from freshgate.app import run_sync
from freshgate.freshness.service import count_states, sweep_states
from freshgate.registry.service import RegistryService
from tests.conftest import NOW


def test_sweep_matches_the_per_document_states(runtime, kb):
    runtime.registry_ctx.clock = lambda: NOW
    assert run_sync(runtime, [kb / "sources", kb / "sop_cards"]).failed == []
    with Session(runtime.engine) as s:
        svc = RegistryService(s, runtime.registry_ctx)
        svc.set_owner_active("team-billing", False, actor="t")
        # A cited source edited and re-verified: the cards verified before stay suspect.
        cited = svc.dependencies(next(d.id for d in svc.all_documents() if d.kind == "sop"))[0]
        svc.update_content(cited, "# New\n\nnew rule\n", actor="t", verify=True)
        # Another cited source edited and not verified yet: `changed`, its cards suspect.
        other = next(d for d in svc.all_documents() if d.kind == "sop" and svc.dependencies(d.id)[-1] != cited)
        svc.update_content(svc.dependencies(other.id)[-1], "# Edit\n\nunverified\n", actor="t")
        s.commit()
    later = NOW + timedelta(days=40)
    with Session(runtime.engine) as s:
        svc = RegistryService(s, runtime.registry_ctx)
        for now in (NOW, later):
            expected = svc.freshness(svc.all_documents(), now)
            swept = {x.document_id: x.freshness for x in sweep_states(s, now, runtime.registry_ctx.rules)}
            assert swept == expected
        counts = count_states(s, NOW, runtime.registry_ctx.rules)
        assert sum(counts.values()) == len(svc.all_documents())
        assert counts["suspect"] >= 1 and counts["orphaned"] >= 1
