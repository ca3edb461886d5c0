"""Batching for the encoder: token-budget batches for bulk passages, micro-batches for concurrent queries.

Bulk (`token_budget_batches`): texts sorted by token count, longest first, cut into batches whose
padded size (texts x longest text) stays within a token budget. Neighbours in that order have
nearly the same length, so little of each batch is padding, short texts go in large batches
and long ones in small batches (the attention cost grows with the square of the length).

Queries (`QueryBatcher`): micro-batching of concurrent single-text encodes, without delaying a lone one.

The first caller encodes its text at once. Callers arriving while that encode runs queue up;
when it finishes, the longest-waiting queued caller takes every queued text (up to
`max_batch`) and encodes them as one batch for all of them. Nobody waits on a timer, and each
caller runs at most one encode (the one that contains its own text), so a caller is never
kept busy serving others after its own answer is ready.
"""

from __future__ import annotations

import threading
from typing import Callable, Sequence

import numpy as np


def token_budget_batches(lengths: Sequence[int], budget: int, max_batch: int = 0) -> list[list[int]]:
    """Indices of `lengths` in batches, longest first (ties in input order): each batch has
    len(batch) x its longest length <= `budget` (a lone text longer than the budget is a batch
    of its own) and, when `max_batch` > 0, at most `max_batch` texts. `budget` <= 0: no budget."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])  # stable: ties keep input order
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        # Sorted descending: the batch's first text is its longest, so its padded size is len x that.
        full = bool(cur) and ((0 < budget < (len(cur) + 1) * lengths[cur[0]]) or (0 < max_batch <= len(cur)))
        if full:
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    return batches


def padding_share(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Share of the encoded (padded) tokens that are padding, for these batches."""
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches if b)
    return 1.0 - sum(lengths) / padded if padded else 0.0


class _Waiter:
    __slots__ = ("text", "vector", "error", "lead", "done")

    def __init__(self, text: str) -> None:
        self.text = text
        self.vector: np.ndarray | None = None
        self.error: BaseException | None = None
        self.lead = False
        self.done = threading.Event()


class QueryBatcher:
    """Combines concurrent `encode_one` calls into batched `encode(texts)` calls."""

    def __init__(self, encode: Callable[[Sequence[str]], np.ndarray], max_batch: int = 32) -> None:
        self.encode = encode
        self.max_batch = max(1, max_batch)
        self._lock = threading.Lock()
        self._queue: list[_Waiter] = []
        self._busy = False
        self.batches = 0  # encodes run, and texts encoded through them (for the benchmark)
        self.texts = 0

    def encode_one(self, text: str) -> np.ndarray:
        """The vector of one text, possibly computed in a batch with concurrent callers' texts."""
        me = _Waiter(text)
        with self._lock:
            self._queue.append(me)
            if self._busy:
                lead = False
            else:
                self._busy = lead = True
        if not lead:
            me.done.wait()
            if not me.lead:
                return self._result(me)
        self._run_batch()
        return self._result(me)

    def _run_batch(self) -> None:
        with self._lock:
            batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
        try:
            vectors = self.encode([w.text for w in batch])
            for w, v in zip(batch, vectors):
                w.vector = v
        except BaseException as exc:  # every waiter of the batch gets the failure
            for w in batch:
                w.error = exc
        with self._lock:
            self.batches += 1
            self.texts += len(batch)
            if self._queue:  # hand over: the longest-waiting caller encodes the next batch
                nxt = self._queue[0]
                nxt.lead = True
                nxt.done.set()
            else:
                self._busy = False
        for w in batch:
            w.done.set()

    @staticmethod
    def _result(w: _Waiter) -> np.ndarray:
        if w.error is not None:
            raise w.error
        return w.vector
