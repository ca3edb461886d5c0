"""The freshness state table, its precedence and the SOP suspect rule (pure functions)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from freshgate.freshness.rules import PRECEDENCE, Facts, SourceFacts, evaluate, next_review, worst

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
D = timedelta(days=1)


def facts(**kw) -> Facts:
    """A fresh, owned source verified 10 days ago with a 90-day review, unless overridden."""
    base = dict(id="doc", last_verified=NOW - 10 * D, review_every_days=90)
    base.update(kw)
    return Facts(**base)


# (name, facts overrides, expected state, expected reason codes worst first)
STATE_TABLE = [
    ("fresh", {}, "fresh", []),
    ("due", {"last_verified": NOW - 80 * D}, "due", ["due"]),
    ("stale", {"last_verified": NOW - 100 * D}, "stale", ["stale"]),
    ("never verified", {"last_verified": None}, "stale", ["never_verified"]),
    ("expired", {"expires": date(2026, 11, 1)}, "expired", ["expired"]),
    ("changed", {"changed_at": NOW - 2 * D}, "changed", ["changed"]),
    ("unreachable", {"fetch_failures": 3}, "unreachable", ["unreachable"]),
    ("orphaned, no owner", {"has_owner": False}, "orphaned", ["no_owner"]),
    ("orphaned, owner inactive", {"owner_active": False}, "orphaned", ["owner_inactive"]),
    ("retired with successor", {"status": "retired", "successor": "new"}, "retired", ["retired"]),
    ("retired without successor", {"status": "retired"}, "retired", ["retired_no_successor"]),
    ("expires soon", {"expires": (NOW + 5 * D).date()}, "due", ["expires_soon"]),
    # Several rules at once: every reason reported, the worst one wins.
    ("retired beats expired and stale", {"status": "retired", "successor": "n", "expires": date(2026, 1, 1),
                                         "last_verified": NOW - 400 * D}, "retired", ["retired", "expired", "stale"]),
    ("expired beats changed", {"expires": date(2026, 1, 1), "changed_at": NOW - D}, "expired", ["expired", "changed"]),
    ("changed beats orphaned", {"changed_at": NOW - D, "owner_active": False}, "changed",
     ["changed", "owner_inactive"]),
    ("orphaned beats unreachable", {"has_owner": False, "fetch_failures": 9}, "orphaned", ["no_owner", "unreachable"]),
    ("unreachable beats stale", {"fetch_failures": 5, "last_verified": NOW - 200 * D}, "unreachable",
     ["unreachable", "stale"]),
    ("stale beats due (expires soon)", {"last_verified": NOW - 100 * D, "expires": (NOW + 3 * D).date()}, "stale",
     ["stale", "expires_soon"]),
    ("changed before verification is not changed", {"changed_at": NOW - 20 * D}, "fresh", []),
    ("fetch failures under the limit", {"fetch_failures": 2}, "fresh", []),
]


@pytest.mark.parametrize("name,overrides,state,codes", STATE_TABLE, ids=[r[0] for r in STATE_TABLE])
def test_state_table(name, overrides, state, codes):
    fr = evaluate(facts(**overrides), NOW)
    assert fr.state == state
    assert fr.codes == codes


def test_precedence_covers_every_state_worst_first():
    assert set(PRECEDENCE) == {"fresh", "due", "stale", "expired", "changed", "unreachable", "orphaned",
                               "retired", "suspect"}
    assert PRECEDENCE[0] == "retired" and PRECEDENCE[-1] == "fresh"
    assert worst(["due", "stale", "fresh"]) == "stale"
    assert worst(["suspect", "due"]) == "suspect"
    assert worst([]) == "fresh"


def test_reasons_are_sorted_by_precedence_and_state_is_the_first():
    fr = evaluate(facts(has_owner=False, changed_at=NOW - D, last_verified=NOW - 95 * D, fetch_failures=3), NOW)
    ranks = [PRECEDENCE.index(r.state) for r in fr.reasons]
    assert ranks == sorted(ranks)
    assert fr.state == fr.reasons[0].state == "changed"
    assert set(fr.codes) == {"changed", "no_owner", "unreachable", "stale"}


@pytest.mark.parametrize("days_ago,state", [
    (75, "fresh"),   # next review in 15 days: just outside the 14-day window
    (76, "due"),     # next review in exactly 14 days: inside (window end is inclusive)
    (89, "due"),
    (90, "stale"),   # next review is now: overdue
    (91, "stale"),
])
def test_warning_window_edges(days_ago, state):
    assert evaluate(facts(last_verified=NOW - days_ago * D), NOW).state == state


def test_warning_window_is_configurable():
    f = facts(last_verified=NOW - 60 * D)
    assert evaluate(f, NOW, warning_days=14).state == "fresh"
    assert evaluate(f, NOW, warning_days=30).state == "due"
    assert evaluate(f, NOW, warning_days=0).state == "fresh"


def test_expiry_edges():
    assert evaluate(facts(expires=NOW), NOW).state == "expired"  # expires at this instant
    assert evaluate(facts(expires=NOW + timedelta(seconds=1)), NOW).codes == ["expires_soon"]
    assert evaluate(facts(expires=(NOW + 14 * D)), NOW).codes == ["expires_soon"]
    assert evaluate(facts(expires=(NOW + 15 * D)), NOW).state == "fresh"
    # A date expires at midnight UTC at its start.
    assert evaluate(facts(expires=date(2026, 11, 21)), NOW).state == "expired"
    assert evaluate(facts(expires=date(2026, 11, 22)), NOW).state == "due"


def test_unreachable_threshold_is_configurable():
    assert evaluate(facts(fetch_failures=1), NOW, unreachable_after=1).state == "unreachable"
    assert evaluate(facts(fetch_failures=3), NOW, unreachable_after=4).state == "fresh"


def test_next_review_and_never_verified():
    fr = evaluate(facts(last_verified=NOW - 10 * D, review_every_days=30), NOW)
    assert fr.next_review == NOW + 20 * D
    never = evaluate(facts(last_verified=None), NOW)
    assert never.next_review is None and never.state == "stale"
    assert next_review(facts(last_verified=None)) is None


def test_naive_datetimes_are_treated_as_utc():
    naive = (NOW - 100 * D).replace(tzinfo=None)
    assert evaluate(facts(last_verified=naive), NOW).state == "stale"


def test_now_is_a_parameter_not_the_clock():
    f = facts(last_verified=datetime(2020, 1, 1, tzinfo=timezone.utc), review_every_days=30)
    assert evaluate(f, datetime(2020, 1, 10, tzinfo=timezone.utc)).state == "fresh"
    assert evaluate(f, datetime(2020, 1, 25, tzinfo=timezone.utc)).state == "due"
    assert evaluate(f, datetime(2020, 3, 1, tzinfo=timezone.utc)).state == "stale"


# ---- SOP cards: suspect --------------------------------------------------------------
def sop(**kw) -> Facts:
    return facts(kind="sop", **kw)


@pytest.mark.parametrize("source_state", ["stale", "expired", "changed", "orphaned", "unreachable", "retired"])
def test_sop_is_suspect_when_a_source_is_not_usable(source_state):
    fr = evaluate(sop(), NOW, sources=[SourceFacts("s1", "fresh"), SourceFacts("s2", source_state)])
    assert fr.state == "suspect"
    assert fr.codes == ["source_not_fresh"]
    assert fr.reasons[0].item == "s2"


def test_sop_is_suspect_when_a_source_is_missing():
    fr = evaluate(sop(), NOW, sources=[SourceFacts("ghost", None)])
    assert (fr.state, fr.codes, fr.reasons[0].item) == ("suspect", ["source_missing"], "ghost")


def test_sop_is_suspect_when_a_source_changed_after_the_card_was_verified():
    card_verified = NOW - 10 * D
    after = evaluate(sop(last_verified=card_verified), NOW,
                     sources=[SourceFacts("s", "fresh", content_changed_at=NOW - 3 * D)])
    assert after.state == "suspect" and after.codes == ["source_changed"]
    before = evaluate(sop(last_verified=card_verified), NOW,
                      sources=[SourceFacts("s", "fresh", content_changed_at=NOW - 30 * D)])
    assert before.state == "fresh"


def test_a_due_source_does_not_make_the_card_suspect():
    fr = evaluate(sop(), NOW, sources=[SourceFacts("s", "due")])
    assert fr.state == "fresh"


def test_every_bad_source_is_a_reason_and_the_card_own_state_still_wins_when_worse():
    srcs = [SourceFacts("a", "stale"), SourceFacts("b", None), SourceFacts("c", "fresh")]
    fr = evaluate(sop(last_verified=NOW - 100 * D), NOW, sources=srcs)
    assert fr.state == "stale"
    assert fr.codes == ["stale", "source_not_fresh", "source_missing"]
    assert [r.item for r in fr.reasons if r.state == "suspect"] == ["a", "b"]


def test_suspect_beats_due_and_sources_are_ignored_for_plain_sources():
    fr = evaluate(sop(last_verified=NOW - 80 * D), NOW, sources=[SourceFacts("a", "expired")])
    assert fr.codes == ["source_not_fresh", "due"] and fr.state == "suspect"
    assert evaluate(facts(), NOW, sources=[SourceFacts("a", "expired")]).state == "fresh"
