"""Embed the sections of a sync's next files while the sync writes and checks the previous ones.

A sync commits chunk by chunk and every commit embeds its chunk's new sections (indexing.py),
then the conflict checks of that chunk run after the commit: on their own, the encoder idles
while the registry and the checks work, and they wait while it encodes. The sync hands each
parsed chunk's new documents to `Prefetcher.submit` (a registry prefetch hook), which encodes
their context texts in one background thread, one encode call per chunk (cross-file batches),
while the sync goes on; the commit then takes the vectors by text (`take`) and encodes only
what was not prefetched. The vectors come from the same embedder on the same texts, so they
are the ones the commit would have computed (batch composition aside: cosine >= 0.9999).
A failed prefetch only means the commit encodes those texts itself (and reports as before).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Sequence

import numpy as np

from freshgate.markdown.sections import context_texts, split_sections

log = logging.getLogger(__name__)


def parsed_texts(docs: Sequence) -> list[str]:
    """The context texts the commit will embed for these parsed documents (ParsedDocument)."""
    out: list[str] = []
    for p in docs:
        secs = p.sections if p.sections is not None else split_sections(p.body, p.meta.id)
        out.extend(context_texts(p.meta.title, secs))
    return out


class Prefetcher:
    """Texts encoded ahead in one background thread (FIFO), handed out once by text."""

    def __init__(self, encode) -> None:
        self.encode = encode  # () -> the embedder's encode, looked up at run time (use_embedder may swap it)
        self._lock = threading.Lock()
        self._pending: dict[str, Future] = {}  # text -> future of the chunk that encodes it
        self._pool: ThreadPoolExecutor | None = None
        self.encoded = 0  # texts encoded ahead, and taken by a commit (tests, benchmark)
        self.taken = 0

    def submit(self, texts: Sequence[str]) -> int:
        """Start encoding the texts not already under way; returns how many were queued."""
        with self._lock:
            new = [t for t in dict.fromkeys(texts) if t not in self._pending]
            if not new:
                return 0
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="freshgate-prefetch")
            fut = self._pool.submit(self._run, new)
            for t in new:
                self._pending[t] = fut
        return len(new)

    def _run(self, texts: list[str]) -> dict[str, np.ndarray]:
        vecs = self.encode()(texts)
        with self._lock:
            self.encoded += len(texts)
        return dict(zip(texts, vecs))

    def take(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors of those texts that were submitted (waiting for them); a failed chunk gives none."""
        with self._lock:
            futs = {t: self._pending.pop(t) for t in dict.fromkeys(texts) if t in self._pending}
        out: dict[str, np.ndarray] = {}
        for t, fut in futs.items():
            try:
                out[t] = fut.result()[t]
            except Exception as exc:  # noqa: BLE001 - the commit encodes it and reports the failure as usual
                log.debug("prefetched embedding unavailable (%s); encoding at commit", exc)
        with self._lock:
            self.taken += len(out)
        return out

    def discard(self) -> None:
        """Forget what no commit took (e.g. files that failed after parsing); queued chunks are cancelled."""
        with self._lock:
            futs, self._pending = set(self._pending.values()), {}
        for fut in futs:
            fut.cancel()

    def close(self) -> None:
        """Stop the background thread (after the chunk it is encoding)."""
        self.discard()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
