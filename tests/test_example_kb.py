"""The repository's example knowledge base syncs cleanly and shows every freshness state."""

from __future__ import annotations

from sqlmodel import Session

from freshgate.app import run_sync
from freshgate.registry.queries import list_documents
from freshgate.registry.service import RegistryService
from tests.conftest import NOW

EVERY_STATE = {"fresh", "due", "stale", "expired", "changed", "orphaned", "retired", "suspect"}


def synced(runtime, kb):
    runtime.registry_ctx.clock = lambda: NOW
    report = run_sync(runtime, [kb / "sources", kb / "sop_cards"])
    with Session(runtime.engine) as s:
        svc = RegistryService(s, runtime.registry_ctx)
        return report, {d.id: d for d in list_documents(svc, now=NOW)}, svc.all_documents(), \
            {d.id: svc.dependencies(d.id) for d in svc.all_documents() if d.kind == "sop"}


def test_example_kb_syncs_without_failures_and_shows_every_state(runtime, kb):
    report, docs, _, _ = synced(runtime, kb)
    assert report.failed == [] and report.missing == []
    states = {d.state for d in docs.values()}
    assert EVERY_STATE <= states, f"example KB lacks: {sorted(EVERY_STATE - states)}"
    retired = [d for d in docs.values() if d.state == "retired"]
    assert any(d.successor and docs[d.successor].status == "active" for d in retired), "no retired-with-successor"
    assert any(d.kind == "sop" and d.state == "suspect" for d in docs.values())


def test_every_sop_card_cites_only_registered_sources(runtime, kb):
    _, docs, _, deps = synced(runtime, kb)
    assert deps, "the example KB has no SOP cards"
    for card, sources in deps.items():
        assert sources, f"{card} cites no source"
        unknown = [s for s in sources if s not in docs or docs[s].kind != "source"]
        assert unknown == [], f"{card} cites unregistered sources {unknown}"
