"""The review list's copy-on-write indexes: an overlay behaves as the dict it stands for, and deriving a new
one never changes what a holder of an old one sees (with and without folding the changes into a new base)."""

from __future__ import annotations

import random

import pytest

from freshgate.reports import overlay
from freshgate.reports.overlay import Overlay


def _same(o: Overlay, d: dict) -> None:
    assert len(o) == len(d)
    assert dict(o.items()) == d and set(o) == set(d) and sorted(o.values()) == sorted(d.values())
    for k in list(d) + ["never-there"]:
        assert (k in o) == (k in d) and o.get(k, "?") == d.get(k, "?")
    if "never-there" not in d:
        with pytest.raises(KeyError):
            o["never-there"]


@pytest.mark.parametrize("compact_min", [0, 10**9])  # fold at every change / never fold
def test_random_changes_match_a_dict_and_every_old_snapshot_stays_as_it_was(monkeypatch, compact_min):
    monkeypatch.setattr(overlay, "COMPACT_MIN", compact_min)
    rng = random.Random(7)
    model = {f"k{i}": i for i in range(40)}
    current = Overlay.of(dict(model))
    history = [(current, dict(model))]
    for step in range(300):
        keys = [f"k{rng.randrange(60)}" for _ in range(rng.randrange(1, 6))]  # some absent, some repeated
        removed = keys[: rng.randrange(len(keys) + 1)]
        updates = [(k, step * 100 + j) for j, k in enumerate(rng.sample(keys, rng.randrange(len(keys) + 1)))]
        for k in removed:
            model.pop(k, None)
        model.update(updates)
        current = current.changed(updates, removed)
        _same(current, model)
        history.append((current, dict(model)))
    for snap, expected in history:  # nothing applied later changed an earlier snapshot
        _same(snap, expected)


def test_a_dict_becomes_the_base_uncopied_and_an_overlay_is_taken_as_it_is():
    base = {"a": 1}
    o = Overlay.of(base)
    assert o._base is base and Overlay.of(o) is o
    new = o.changed([("b", 2)], ["a"])
    assert dict(new.items()) == {"b": 2} and base == {"a": 1} and dict(o.items()) == {"a": 1}


def test_folding_makes_a_new_base_and_leaves_the_shared_one_alone(monkeypatch):
    monkeypatch.setattr(overlay, "COMPACT_MIN", 2)
    base = {i: i for i in range(8)}
    o1 = Overlay.of(base).changed([(100, 100)], [0])  # 2 changes: kept as a change dict
    assert o1._base is base and len(o1._delta) == 2
    o2 = o1.changed([(101, 101)], [1])  # 4 changes > max(2, 8 // 8): folded
    assert o2._base is not base and not o2._delta
    assert base == {i: i for i in range(8)}
    assert dict(o2.items()) == {**{i: i for i in range(2, 8)}, 100: 100, 101: 101}
