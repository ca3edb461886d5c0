"""The sweep's state-only rules (`StateRules`) agree with `evaluate` everywhere, boundaries included."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from freshgate.freshness.rules import PRECEDENCE, Facts, SourceFacts, StateRules, evaluate

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
US = timedelta(microseconds=1)
D = timedelta(days=1)


def _around(t: datetime) -> list[datetime]:
    return [t - D, t - US, t, t + US, t + D]


def _naive(d):
    return d.replace(tzinfo=None) if isinstance(d, datetime) else d


def _cases(rnd: random.Random, now: datetime, warning: int, n: int):
    """Facts whose dates sit on and next to every cut-off the rules have."""
    for _ in range(n):
        every = rnd.choice((0, 1, 14, 30, 90, 365))
        cuts = _around(now - timedelta(days=every)) + _around(now + timedelta(days=warning - every))
        lv = None if rnd.random() < 0.1 else rnd.choice(cuts + [now - rnd.uniform(0, 400) * D])
        exp_days = _around(now)[:1] + [now, now + D, now + warning * D, now + (warning + 1) * D, now - 2 * D]
        expires = rnd.choice(exp_days).date() if rnd.random() < 0.4 else None
        changed = None
        if rnd.random() < 0.3:
            changed = rnd.choice(_around(lv) if lv else _around(now))
        kind = rnd.choice(("source", "sop"))
        sources = []
        if kind == "sop":
            for i in range(rnd.randint(0, 3)):
                at = rnd.choice([None, None] + (_around(lv) if lv else _around(now)))
                sources.append(SourceFacts(f"s{i}", rnd.choice((None,) + PRECEDENCE), at))
        yield Facts(
            "doc", kind, rnd.choice(("active", "active", "retired")), rnd.choice((None, "next")),
            rnd.random() > 0.1, rnd.random() > 0.1, every, lv, expires, changed, rnd.choice((0, 2, 3, 4)),
        ), sources


def _fast(rules: StateRules, f: Facts, sources, naive: bool) -> str:
    conv = _naive if naive else (lambda d: d)
    args = (f.status == "retired", f.has_owner and f.owner_active, f.review_every_days, conv(f.last_verified),
            f.expires, conv(f.changed_at), f.fetch_failures)
    if f.kind != "sop":
        return rules.state(*args)
    return rules.sop_state(*args, [(s.state, conv(s.content_changed_at)) for s in sources])


@pytest.mark.parametrize("naive", [False, True], ids=["aware (PostgreSQL)", "naive UTC (SQLite)"])
@pytest.mark.parametrize("now", [NOW, datetime(2027, 3, 1, 0, 0, tzinfo=timezone.utc)], ids=["noon", "midnight"])
@pytest.mark.parametrize("warning,unreachable", [(14, 3), (0, 1), (30, 4)])
def test_state_rules_agree_with_evaluate(naive, now, warning, unreachable):
    rules = StateRules(now, warning_days=warning, unreachable_after=unreachable, naive=naive)
    seen = set()
    for facts, sources in _cases(random.Random(f"{now}{warning}"), now, warning, 4000):
        expected = evaluate(facts, now, warning_days=warning, unreachable_after=unreachable, sources=sources).state
        assert _fast(rules, facts, sources, naive) == expected, (facts, sources)
        seen.add(expected)
    # Every state was exercised (with no warning window nothing is ever `due`).
    assert seen == set(PRECEDENCE) - ({"due"} if warning == 0 else set())


def test_state_rules_boundaries_by_hand():
    rules = StateRules(NOW)
    state = lambda lv, exp=None: rules.state(False, True, 90, lv, exp, None, 0)  # noqa: E731
    assert state(NOW - 90 * D) == "stale"  # due exactly now: overdue
    assert state(NOW - 90 * D + US) == "due"
    assert state(NOW - 76 * D) == "due"  # due exactly at the end of the warning window
    assert state(NOW - 76 * D + US) == "fresh"
    assert state(NOW, NOW.date()) == "expired"  # expires at midnight today
    assert state(NOW, (NOW + 14 * D).date()) == "due"
    assert state(NOW, (NOW + 15 * D).date()) == "fresh"
    # A cited source that changed after the card was verified makes a fresh card suspect, not a stale one.
    assert rules.sop_state(False, True, 90, NOW - D, None, None, 0, [("fresh", NOW)]) == "suspect"
    assert rules.sop_state(False, True, 90, NOW - 100 * D, None, None, 0, [("fresh", NOW)]) == "stale"
