"""The example knowledge base with the real model and the default judge: its two deliberate
contradictions are found on a fresh start, and nothing else is reported."""

from __future__ import annotations

import pytest

from freshgate.app import run_sync
from freshgate.embeddings.embedder import SentenceTransformerEmbedder
from tests.conflicts.conftest import conflicts, hub

pytestmark = pytest.mark.model
EXPECTED = {
    frozenset({"refund-policy#refund-window-for-monthly-plans", "billing-faq#what-is-the-refund-window-for-monthly-plans"}),
    frozenset({"discount-approval-limits#discount-limits-for-support-agents", "sales-playbook#discount-limits-for-agents"}),
}


@pytest.fixture(scope="module")
def real_embedder():
    """all-MiniLM-L6-v2, loaded once for this module."""
    e = SentenceTransformerEmbedder()
    e.load()
    return e


@pytest.fixture
def example_conflicts(runtime, kb, real_embedder):
    """Fresh start: the examples synced with the lookup index warm, conflicts checked at commit."""
    lk = runtime.extras["lookup"]
    lk.use_embedder(real_embedder)
    lk.warm_up()
    assert run_sync(runtime, [kb / "sources", kb / "sop_cards"]).failed == []
    return {frozenset({c["a"]["cite"], c["b"]["cite"]}): c for c in conflicts(runtime)}


def test_candidates_include_both_contradictions(runtime, example_conflicts):
    """Calibration: both contradicting pairs are candidates at the configured similarity."""
    from freshgate import db
    from freshgate.conflicts import detect

    with db.session_scope(runtime.engine) as session:
        rows = detect.load_sections(session)
        by_id = {r.id: f"{r.document_id}#{r.anchor}" for r in rows}
        s = runtime.settings.conflicts
        pairs = detect.scan_pairs(hub(runtime).ctx.index(), rows, threshold=s.candidate_similarity,
                                  per_section=s.candidates_per_section)
    found = {frozenset({by_id[i], by_id[j]}) for i, j in pairs}
    assert EXPECTED <= found


def test_both_deliberate_contradictions_are_found_with_evidence(example_conflicts):
    """Refund window 30 vs 14 days and discount limit 15% vs 25% are stored with their values."""
    for pair in EXPECTED:
        c = example_conflicts[pair]
        assert c["status"] == "open" and c["evidence"], c
    refund, discount = (example_conflicts[next(p for p in EXPECTED if any(name in c for c in p))]
                        for name in ("refund-policy#", "discount-approval-limits#"))
    assert "30 days" in refund["explanation"] and "14 days" in refund["explanation"]
    assert "15%" in discount["explanation"] and "25%" in discount["explanation"]


def test_no_other_conflict_among_the_examples(example_conflicts):
    """Related sections with different qualifiers (Plus/Business, monthly/annual) or agreeing values are not conflicts."""
    assert set(example_conflicts) - EXPECTED == set()
