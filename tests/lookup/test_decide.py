"""The decision policy alone: each state x criticality x risk x lane, redirects, gaps, unknowns."""

import itertools

import pytest

from freshgate.lookup.decide import CAUTION, PROCEED, STOP, Evidence, decide, exit_code

STATES = ["fresh", "due", "stale", "unreachable", "suspect", "changed", "expired", "orphaned", "retired"]
# The decision a source in each state implies, by (criticality high?, risk high?).
EXPECTED_SOURCE = {
    "fresh": lambda hi: PROCEED,
    "due": lambda hi: CAUTION,
    "stale": lambda hi: STOP if hi else CAUTION,
    "unreachable": lambda hi: STOP if hi else CAUTION,
    "suspect": lambda hi: CAUTION,
    "changed": lambda hi: STOP,
    "expired": lambda hi: STOP,
    "orphaned": lambda hi: STOP,
    "retired": lambda hi: STOP,  # a retired item left in evidence has no successor
}
LANE = {None: PROCEED, "automatic": PROCEED, "approval": CAUTION, "forbidden": STOP}
SEV = {PROCEED: 0, CAUTION: 1, STOP: 2}


@pytest.mark.parametrize("state,criticality,risk,lane", list(itertools.product(
    STATES, ["low", "medium", "high"], ["low", "high"], [None, "automatic", "approval", "forbidden"])))
def test_table(state, criticality, risk, lane):
    kind = "source" if lane is None else "sop"
    e = Evidence("doc", "Doc", kind=kind, state=state, criticality=criticality, lane=lane)
    hi = criticality == "high" or risk == "high"
    expected = max(EXPECTED_SOURCE[state](hi), LANE[lane], key=SEV.__getitem__)
    got = decide([e], risk)
    assert got.decision == expected
    if expected != PROCEED:
        assert got.reasons and all(r.item == "doc" for r in got.reasons)
    else:
        assert got.reasons == ()


def test_stale_high_criticality_names_the_stakes():
    d = decide([Evidence("refund-policy", "Refund policy", state="stale", criticality="high",
                         detail="review overdue by 12 days (due 2026-11-09)")])
    assert d.decision == STOP and d.codes == ["stale_high_stakes"]
    assert "overdue by 12 days" in d.reasons[0].message and "high criticality" in d.reasons[0].message


def test_successor_substitution_is_caution_even_when_fresh():
    d = decide([Evidence("refund-policy", state="fresh", substituted_for="refund-policy-2023")])
    assert d.decision == CAUTION and d.codes == ["superseded"]
    assert "refund-policy-2023" in d.reasons[0].message


def test_substituted_successor_that_is_itself_expired_stops():
    d = decide([Evidence("new", state="expired", substituted_for="old")])
    assert d.decision == STOP and d.codes == ["expired", "superseded"]


def test_nothing_relevant_is_a_coverage_gap():
    d = decide([])
    assert d.decision == STOP and d.codes == ["no_source"]


def test_unknown_freshness_never_proceeds():
    d = decide([Evidence("doc", state="fresh")], unknown="the embedding model cannot be loaded")
    assert d.decision == STOP and d.codes[0] == "freshness_unknown"
    assert decide([], unknown="database unreachable").codes == ["freshness_unknown"]


def test_open_conflict_stops():
    d = decide([Evidence("a", state="fresh", open_conflicts=1), Evidence("b", state="fresh")])
    assert d.decision == STOP and d.codes == ["conflict"]


def test_worst_item_wins_and_reasons_are_ordered_by_severity():
    d = decide([Evidence("a", state="due"), Evidence("b", kind="sop", lane="forbidden"),
                Evidence("c", state="stale", criticality="low")])
    assert d.decision == STOP
    assert d.codes == ["forbidden_lane", "stale", "due"]


def test_bad_risk_is_rejected():
    with pytest.raises(ValueError):
        decide([], "medium")


def test_exit_codes():
    assert [exit_code(x) for x in (PROCEED, CAUTION, STOP)] == [0, 1, 2]
