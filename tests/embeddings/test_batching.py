"""Micro-batching of concurrent query encodes: lone queries go straight through, concurrent ones share a batch."""

import threading

import numpy as np
from freshgate.embeddings.batching import QueryBatcher, padding_share, token_budget_batches


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


# Bulk passages: token-budget batches.

def test_token_budget_batches_cover_every_text_once_longest_first_within_the_budget():
    rng = np.random.default_rng(7)
    lengths = [int(x) for x in rng.integers(2, 257, 500)]
    batches = token_budget_batches(lengths, 2048)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(500))  # each text exactly once
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)  # longest first
    for b in batches:
        assert len(b) * max(lengths[i] for i in b) <= 2048
    # cut only when the next text would not fit: consecutive batches could not have been merged
    for a, b in zip(batches, batches[1:]):
        assert (len(a) + 1) * lengths[a[0]] > 2048
    assert padding_share(lengths, batches) < 0.1


def test_a_text_over_the_budget_is_a_batch_of_its_own_and_ties_keep_input_order():
    assert token_budget_batches([5, 300, 5, 5], 100) == [[1], [0, 2, 3]]
    assert token_budget_batches([300, 300, 10], 100) == [[0], [1], [2]]
    assert token_budget_batches([], 100) == []


def test_without_a_budget_batches_hold_max_batch_texts():
    lengths = [10, 50, 20, 40, 30]
    assert token_budget_batches(lengths, 0, 2) == [[1, 3], [4, 2], [0]]
    assert token_budget_batches(lengths, 0, 0) == [[1, 3, 4, 2, 0]]


def test_padding_share_counts_the_pad_tokens_of_each_batch():
    assert padding_share([4, 2, 2], [[0, 1, 2]]) == 1 - 8 / 12
    assert padding_share([4, 2, 2], [[0], [1, 2]]) == 0.0
