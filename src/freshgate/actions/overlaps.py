"""Overlapping tool rules as a pure function: two rules overlap when some call could match both.

Patterns overlap when they are equal, or a glob matches the other name (two globs: when either
matches the other, or their literal prefixes agree). Conditions rule an overlap out only when
they provably exclude each other on one parameter: disjoint number ranges in the same unit or
currency, or word sets with nothing in common. Anything else may overlap (a warning too many
is cheaper than a silent strictest-lane surprise).
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence

from freshgate.actions.rules import LANE_RANK, Condition, Quantity, ToolRule, parse_condition


@dataclass(frozen=True)
class Overlap:
    """Two rules of different cards that can govern the same call."""

    a: ToolRule
    b: ToolRule

    @property
    def lane(self) -> str:
        """The lane that wins where they overlap."""
        return max((self.a.lane, self.b.lane), key=LANE_RANK.__getitem__)

    def message(self) -> str:
        """One line for the sync report."""
        def side(r: ToolRule) -> str:
            cond = f" when {' and '.join(r.conditions)}" if r.conditions else ""
            return f"{r.card_id}: {r.pattern}{cond} ({r.lane})"
        return f"tool rules overlap: {side(self.a)} and {side(self.b)}; where both apply the strictest lane wins ({self.lane})"


def _prefix(pattern: str) -> str:
    for i, ch in enumerate(pattern):
        if ch in "*?[":
            return pattern[:i]
    return pattern


def patterns_overlap(a: ToolRule, b: ToolRule) -> bool:
    """Whether some tool name can be covered by both patterns."""
    if not a.is_glob and not b.is_glob:
        return a.pattern == b.pattern
    if not b.is_glob:
        return fnmatch.fnmatchcase(b.pattern, a.pattern)
    if not a.is_glob:
        return fnmatch.fnmatchcase(a.pattern, b.pattern)
    pa, pb = _prefix(a.pattern), _prefix(b.pattern)
    return fnmatch.fnmatchcase(a.pattern, b.pattern) or fnmatch.fnmatchcase(b.pattern, a.pattern) or \
        pa.startswith(pb) or pb.startswith(pa)


def _numbers_satisfiable(conds: list[Condition]) -> bool:
    """Whether some number in one dimension satisfies every comparison (per dimension)."""
    by_dim: dict[str | None, list[Condition]] = defaultdict(list)
    for c in conds:
        by_dim[c.value.dimension].append(c)
    if len(by_dim) > 1:
        return True  # different units of one parameter: cannot be told apart here
    for group in by_dim.values():
        lo, lo_open, hi, hi_open = float("-inf"), False, float("inf"), False
        for c in group:
            v = c.value.value
            if c.op in (">", ">="):
                if v > lo or (v == lo and c.op == ">"):
                    lo, lo_open = v, c.op == ">"
            elif c.op in ("<", "<="):
                if v < hi or (v == hi and c.op == "<"):
                    hi, hi_open = v, c.op == "<"
            elif c.op == "==":
                if v > lo or (v == lo and lo_open):
                    lo, lo_open = v, False if v > lo else lo_open
                if v < hi or (v == hi and hi_open):
                    hi, hi_open = v, False if v < hi else hi_open
        if lo > hi or (lo == hi and (lo_open or hi_open)):
            return False
    return True


def _words_satisfiable(conds: list[Condition]) -> bool:
    allowed: set | None = None
    excluded: set = set()
    for c in conds:
        values = set(c.value) if c.op in ("in", "not_in") else {c.value}
        if c.op in ("==", "in"):
            allowed = values if allowed is None else allowed & values
        else:
            excluded |= values
    return allowed is None or bool(allowed - excluded)


def conditions_overlap(a: Sequence[str], b: Sequence[str]) -> bool:
    """Whether some parameters can satisfy every condition of both rules."""
    return _conditions_overlap(tuple(a), tuple(b))


@lru_cache(maxsize=65536)
def _conditions_overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    # many rules share their conditions (bands of amounts, segments): each pair of condition sets once
    by_param: dict[str, list[Condition]] = defaultdict(list)
    for text in (*a, *b):
        c = parse_condition(text)
        by_param[c.param].append(c)
    for conds in by_param.values():
        numeric = [c for c in conds if c.op in (">", ">=", "<", "<=") or
                   (c.op == "==" and isinstance(c.value, Quantity))]
        words = [c for c in conds if c.op in ("in", "not_in") or (c.op in ("==", "!=") and isinstance(c.value, str))]
        if numeric and not _numbers_satisfiable(numeric):
            return False
        if words and not numeric and not _words_satisfiable(words):
            return False
    return True


def find_overlaps(rules: Iterable[ToolRule]) -> list[Overlap]:
    """Every pair of rules from different cards, in different lanes, that can govern the same call (exact names
    grouped, globs against all). Same-lane overlaps decide nothing: both cards simply govern."""
    rules = list(rules)
    exact: dict[str, list[ToolRule]] = defaultdict(list)
    globs: list[ToolRule] = []
    for r in rules:
        (globs if r.is_glob else exact[r.pattern]).append(r)
    pairs: list[tuple[ToolRule, ToolRule]] = []
    for group in exact.values():
        pairs.extend((x, y) for i, x in enumerate(group) for y in group[i + 1:])
    for i, g in enumerate(globs):
        # an exact name the glob cannot match is never paired (the literal prefix rules most out cheaply)
        prefix = _prefix(g.pattern)
        pairs.extend((g, r) for r in rules if not r.is_glob and r.pattern.startswith(prefix))
        pairs.extend((g, h) for h in globs[i + 1:])
    out = []
    for x, y in pairs:
        if x.card_id == y.card_id or x.lane == y.lane or not patterns_overlap(x, y):
            continue
        if conditions_overlap(x.conditions, y.conditions):
            out.append(Overlap(*sorted((x, y), key=lambda r: (r.card_id, r.position))))
    return sorted(out, key=lambda o: (o.a.pattern, o.a.card_id, o.b.card_id, o.a.position, o.b.position))
