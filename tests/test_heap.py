"""Heap settling after start-up (freshgate.heap): collect once, freeze what is alive, only when ready."""

from __future__ import annotations

import gc
import threading
import time
from types import SimpleNamespace

import pytest

from freshgate import heap
from freshgate.config import Settings


@pytest.fixture(autouse=True)
def _unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cycle collector frees it


def test_settle_collects_cyclic_garbage_and_freezes_what_is_alive():
    kept = [Node() for _ in range(100)]
    garbage = Node()
    gone = __import__("weakref").ref(garbage)
    del garbage
    out = heap.settle()
    assert gone() is None  # the cycle was collected before freezing
    # not an exact match with a second read: other threads of the test process may free (or, settling a
    # console, freeze) objects in between; which objects are frozen is checked below
    assert out["frozen"] > len(kept) and gc.get_freeze_count() > len(kept)
    assert not any(gc.is_tracked(k) and k in gc.get_objects() for k in kept[:3])  # frozen: out of collections


def test_a_second_settle_finds_garbage_frozen_the_first_time():
    n = Node()
    gone = __import__("weakref").ref(n)
    heap.settle()  # n is alive: frozen
    del n  # now cyclic garbage inside the frozen generation
    heap.settle()  # unfreezes first, so the collection finds it
    assert gone() is None


def _wait(done: threading.Event) -> bool:
    return done.wait(5)


def test_settles_only_once_ready_and_never_after_stop():
    ready, stop, done = threading.Event(), threading.Event(), threading.Event()
    calls = []
    close = heap.settle_when_ready(ready.is_set, stop, poll=0.01, action=lambda: (calls.append(1), done.set()))
    time.sleep(0.05)
    assert calls == []  # not ready: nothing settled yet
    ready.set()
    assert _wait(done) and calls == [1]
    time.sleep(0.05)
    assert calls == [1]  # once
    close()

    never, calls2 = threading.Event(), []
    close = heap.settle_when_ready(never.is_set, threading.Event(), poll=0.01, action=lambda: calls2.append(1))
    close()  # stopped before ready
    never.set()
    time.sleep(0.05)
    assert calls2 == []


@pytest.mark.parametrize("gc_freeze, warm_up, settles", [(True, True, True), (False, True, False), (True, False, False)])
def test_a_serving_process_settles_when_its_index_is_ready(gc_freeze, warm_up, settles):
    s = Settings()
    s.server.gc_freeze, s.lookup.warm_up = gc_freeze, warm_up
    index = SimpleNamespace(ready=False)
    rt = SimpleNamespace(settings=s, extras={"lookup": SimpleNamespace(index=index)})
    done = threading.Event()
    close = heap.after_start(rt, action=done.set)
    time.sleep(0.05)
    assert not done.is_set()  # the index is not ready yet
    index.ready = True
    assert done.wait(3) is settles
    close()
