"""Micro-batching of concurrent query encodes: lone queries go straight through, concurrent ones share a batch."""

import threading

import numpy as np
from freshgate.embeddings.batching import QueryBatcher


def vec(text):
    return np.array([len(text), sum(map(ord, text))], dtype=np.float32)


class GatedEncode:
    """An encode function that holds its first call until released, recording every batch."""

    def __init__(self, fail_on=None):
        self.calls, self.fail_on = [], fail_on
        self.entered, self.release = threading.Event(), threading.Event()

    def __call__(self, texts):
        self.calls.append(list(texts))
        if len(self.calls) == 1:
            self.entered.set()
            assert self.release.wait(10)
        if self.fail_on in texts:
            raise RuntimeError("model broke")
        return np.stack([vec(t) for t in texts])


def run_concurrently(batcher, enc, texts):
    """One caller starts an encode; the others arrive while it runs; returns {text: result or error}."""
    results = {}

    def call(t):
        try:
            results[t] = batcher.encode_one(t)
        except Exception as exc:  # noqa: BLE001
            results[t] = exc

    first = threading.Thread(target=call, args=(texts[0],))
    first.start()
    assert enc.entered.wait(10)
    others = [threading.Thread(target=call, args=(t,)) for t in texts[1:]]
    for t in others:
        t.start()
    while len(batcher._queue) < len(others):  # every later caller has queued behind the running encode
        threading.Event().wait(0.001)
    enc.release.set()
    for t in [first, *others]:
        t.join(10)
    return results


def test_a_lone_query_is_encoded_at_once_on_its_own():
    calls = []
    b = QueryBatcher(lambda texts: calls.append(list(texts)) or np.stack([vec(t) for t in texts]))
    assert np.array_equal(b.encode_one("refund window"), vec("refund window"))
    assert np.array_equal(b.encode_one("discount"), vec("discount"))
    assert calls == [["refund window"], ["discount"]]


def test_queries_arriving_during_an_encode_share_the_next_batch_and_each_gets_its_own_vector():
    enc = GatedEncode()
    b = QueryBatcher(enc)
    texts = ["q0", "refund window?", "who is on call", "discount", "lost parcel", "chargeback"]
    results = run_concurrently(b, enc, texts)
    assert enc.calls[0] == ["q0"] and sorted(enc.calls[1]) == sorted(texts[1:]) and len(enc.calls) == 2
    for t in texts:
        assert np.array_equal(results[t], vec(t))
    assert b.encode_one("after") is not None and enc.calls[-1] == ["after"]  # idle again: straight through


def test_batches_are_capped():
    enc = GatedEncode()
    b = QueryBatcher(enc, max_batch=2)
    texts = ["q0", "a", "bb", "ccc", "dddd", "eeeee"]
    results = run_concurrently(b, enc, texts)
    assert [len(c) for c in enc.calls] == [1, 2, 2, 1]
    assert all(np.array_equal(results[t], vec(t)) for t in texts)


def test_a_failed_batch_fails_its_callers_only_and_the_batcher_recovers():
    enc = GatedEncode(fail_on="poison")
    b = QueryBatcher(enc)
    results = run_concurrently(b, enc, ["q0", "poison", "innocent"])
    assert np.array_equal(results["q0"], vec("q0"))
    assert isinstance(results["poison"], RuntimeError) and isinstance(results["innocent"], RuntimeError)
    assert np.array_equal(b.encode_one("later"), vec("later"))


def test_many_concurrent_callers_all_get_their_own_vectors():
    callers = 16
    b = QueryBatcher(lambda texts: np.stack([vec(t) for t in texts]), max_batch=4)
    texts = [f"question number {i}" * (i % 3 + 1) for i in range(callers * 20)]
    out = {}

    def worker(chunk):
        for t in chunk:
            out[t] = b.encode_one(t)

    threads = [threading.Thread(target=worker, args=(texts[i::callers],)) for i in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(out) == len(texts) and all(np.array_equal(out[t], vec(t)) for t in texts)
    assert b.texts == len(texts)
