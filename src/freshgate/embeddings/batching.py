"""Micro-batching of concurrent single-text encodes (queries), without delaying a lone one.

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
