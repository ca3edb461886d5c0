"""The process-wide part of lookup: embedder, vector and lexical indexes, indexer and their readiness.

One `LookupEngine` per runtime (`rt.extras["lookup"]`). Nothing is loaded when it is made:
`warm_up()` (server start, in a thread) or the first lookup loads the model and builds the
index from stored embeddings. Readiness is reported, never assumed.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from freshgate.config import Settings
from freshgate.embeddings.batching import QueryBatcher
from freshgate.embeddings.embedder import Embedder, EmbedderUnavailable, SentenceTransformerEmbedder
from freshgate.embeddings.index import Hit, Scope, VectorIndex
from freshgate.lookup.indexing import SectionIndexer
from freshgate.lookup.lexical import LexicalIndex

log = logging.getLogger(__name__)


class NotReady(RuntimeError):
    """The model or the index cannot serve a lookup (the message says which and why)."""


def default_embedder(settings: Settings) -> Embedder:
    """The configured sentence-transformers embedder on the configured backend (lazy: nothing loads here)."""
    e = settings.embedding
    if e.kind == "hashing":
        from freshgate.embeddings.embedder import HashingEmbedder

        return HashingEmbedder()
    return SentenceTransformerEmbedder(e.model_path, batch_size=e.batch_size,
                                       expected_sha256=None if not e.verify_sha256 else _pinned(),
                                       backend=e.backend, cache_dir=e.cache_dir, threads=e.threads,
                                       token_budget=e.token_budget)


def snapshot_location(settings: Settings, engine, embedder) -> tuple[Path | None, str]:
    """(snapshot file or None when disabled, fingerprint of the database URL and the embedder)."""
    import hashlib

    url = engine.url.render_as_string(hide_password=True) if engine is not None else settings.database_url
    fingerprint = hashlib.sha256(f"{url}|{getattr(embedder, 'name', type(embedder).__name__)}|{embedder.dim}"
                                 .encode()).hexdigest()
    where = settings.feed.snapshot_dir
    if where == "":
        return None, fingerprint
    if where is None:
        db_file = engine.url.database if engine is not None and engine.url.get_backend_name() == "sqlite" else None
        if db_file and db_file != ":memory:":
            base = Path(db_file).resolve().parent / ".freshgate-index"
        else:
            base = Path.home() / ".cache" / "freshgate" / "index"
    else:
        base = Path(where)
    return base / f"index-{fingerprint[:16]}.fgidx", fingerprint


def fingerprint_status(engine, fingerprint: str | None, name: str, refused: str | None) -> dict[str, Any]:
    """What /healthz says about the model fingerprint: ok | mismatch (with both models and the remedy) | unchecked."""
    if not fingerprint:
        return {"status": "unchecked", "model": name or None, "detail": "this embedder has no fingerprint"}
    out: dict[str, Any] = {"status": "mismatch" if refused else "ok", "model": name or None, "sha256": fingerprint}
    if refused:
        from sqlmodel import Session

        from freshgate.embeddings.fingerprint import stored

        with Session(engine) as session:
            row = stored(session)
        out.update(stored_model=row.name if row else None, stored_sha256=row.fingerprint if row else None,
                   detail=refused, remedy="freshgate reembed --yes (drops the stored vectors and embeds again)")
    return out


def _pinned() -> str:
    from freshgate.embeddings.embedder import MINILM_SHA256

    return MINILM_SHA256


class LookupEngine:
    """Embedder + index + indexer of one process, with readiness and a warm-up."""

    def __init__(self, settings: Settings, engine, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.embedder = embedder or default_embedder(settings)
        lk = settings.lookup
        self.index = VectorIndex(self.embedder.dim, approximate_above=lk.approximate_above,
                                 backend=lk.ann_backend, ef_search=lk.ef_search, connectivity=lk.hnsw_m)
        self.lexical = LexicalIndex()
        self.indexer = SectionIndexer(self.embedder, self.index, batch_size=settings.embedding.batch_size,
                                      embed=settings.embedding.enabled, lexical=self.lexical)
        self._locate_snapshot()
        self.index_error: str | None = None
        self.model_fingerprint: dict[str, Any] = {"status": "not_checked"}  # /healthz: its own field
        self.batcher = self._batcher()
        self.receipts = self._receipt_writer()
        self._ready = threading.Event()
        self._warm_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _locate_snapshot(self) -> None:
        """Where this process's index snapshot lives, and what it must match (database and embedder)."""
        self.indexer.snapshot_path, self.indexer.fingerprint = snapshot_location(self.settings, self.engine,
                                                                                 self.embedder)

    # ---- readiness ---------------------------------------------------------------
    def model_status(self) -> str:
        """ready | not_loaded | error: <why>."""
        error = getattr(self.embedder, "error", None)
        if error:
            return f"error: {error}"
        loaded = getattr(self.embedder, "loaded", True)
        return "ready" if loaded else "not_loaded"

    def index_status(self) -> str:
        """ready | building | not_built | error: <why>."""
        if self.index_error:
            return f"error: {self.index_error}"
        if self.index.ready:
            return "ready"
        return "building" if self._thread is not None and self._thread.is_alive() else "not_built"

    def health(self) -> dict[str, Any]:
        """Readiness for /healthz."""
        ix = self.indexer
        return {"model": self.model_status(), "index": self.index_status(), "sections_indexed": len(self.index),
                "model_fingerprint": dict(self.model_fingerprint),
                "retrieval": self.settings.lookup.retrieval, "sections_indexed_lexical": len(self.lexical),
                "index_source": ix.build_source, "lexical_source": ix.lexical_source, "index_watermark": ix.watermark,
                "snapshot": str(ix.snapshot_path) if ix.snapshot_path else None, "snapshot_bytes": ix.snapshot_bytes,
                "snapshot_refused": ix.snapshot_error,
                "approximate": self.index.approximate,
                "embedding_backend": self.backend(),
                "batch_queries": self.batcher is not None,
                "receipt_queue": self.receipts.health() if self.receipts is not None else "off",
                **({"query_encodes": self.batcher.batches, "queries_encoded": self.batcher.texts} if self.batcher else {})}

    def backend(self) -> str:
        """torch | onnx once the model is loaded, `<requested> (not loaded)` before, `custom` for other embedders."""
        if not hasattr(self.embedder, "backend"):
            return "custom"
        return self.embedder.backend or f"{getattr(self.embedder, 'requested_backend', '?')} (not loaded)"

    # ---- warm-up -----------------------------------------------------------------
    def activate(self) -> None:
        """From now on embed changed sections at commit and keep the index current."""
        self.indexer.active = True

    def warm_up(self) -> None:
        """Load the model and build the index now (idempotent); failures are recorded, not raised."""
        self.activate()
        with self._warm_lock:
            if self.index.ready:
                return
            try:
                if self.settings.embedding.enabled:
                    load = getattr(self.embedder, "load", None)
                    if load is not None:
                        load()
            except EmbedderUnavailable as exc:
                log.error("embedding model unavailable: %s", exc)
            try:
                refused = self._fingerprint_refused()
            except Exception as exc:  # noqa: BLE001 - a warm-up that dies would leave the index never ready
                self.index_error = refused = f"the embedding model's fingerprint could not be checked: {exc}"
                self.model_fingerprint = {"status": "error", "detail": self.index_error}
                log.exception("fingerprint check failed")
            if refused:
                self._ready.set()
                return
            try:
                n = self.indexer.build(self.engine)
                self.index_error = None
                log.info("lookup index ready: %d sections (%s)", n, "approximate" if self.index.approximate else "exact")
            except Exception as exc:  # noqa: BLE001 - reported through readiness, lookups fail safe
                self.index_error = f"index build failed: {exc}"
                log.exception("lookup index build failed")
            finally:
                self._ready.set()

    def _fingerprint_refused(self) -> bool:
        """Refuse stored vectors made by another model (fail safe: lookups stop, /healthz says why)."""
        from freshgate.embeddings.fingerprint import check

        fp, name = getattr(self.embedder, "fingerprint", None), getattr(self.embedder, "name", "")
        why = check(self.engine, fp, name)
        self.model_fingerprint = fingerprint_status(self.engine, fp, name, why)
        if why:
            self.index_error = why
            self.indexer.embed = False  # nor store new vectors of this model next to the old ones
            log.error("%s", why)
        return why is not None

    def start_warm_up(self) -> None:
        """Warm up in a background thread (server start-up)."""
        self.activate()
        if self._thread is None:
            self._thread = threading.Thread(target=self.warm_up, name="freshgate-lookup-warmup", daemon=True)
            self._thread.start()

    def wait_ready(self, timeout: float | None = None) -> None:
        """Make sure the index is built (building it here if no warm-up runs); NotReady otherwise."""
        if self.index.ready:
            return
        if self._thread is None:
            self.warm_up()
        elif not self._ready.wait(self.settings.lookup.ready_timeout if timeout is None else timeout):
            raise NotReady("the lookup index is still being built")
        if not self.index.ready:
            raise NotReady(self.index_error or "the lookup index is not built")

    # ---- work --------------------------------------------------------------------
    def embed_query(self, text: str) -> np.ndarray:
        """The query vector; NotReady when the model cannot be used."""
        try:
            if self.batcher is not None:
                return self.batcher.encode_one(text)
            return self.embedder.encode([text])[0]
        except EmbedderUnavailable as exc:
            raise NotReady(f"the embedding model is unavailable: {exc}") from exc

    def search(self, vector: np.ndarray, k: int, scope: Scope | None = None) -> list[Hit]:
        """Nearest sections in scope."""
        self.wait_ready()
        return self.index.search(vector, k, scope)

    def retrieve(self, query: str, k: int, scope: Scope | None = None, *, method: str | None = None,
                 vector: np.ndarray | None = None) -> tuple[np.ndarray | None, list[Hit]]:
        """The query vector (None for bm25) and the `k` best sections in scope by `method`
        (default `lookup.retrieval`); a hit's score is what the relevance threshold applies to."""
        lk = self.settings.lookup
        method = method or lk.retrieval
        if method != "bm25" and vector is None:
            vector = self.embed_query(query)
        self.wait_ready()
        if method == "vector":
            return vector, self.index.search(vector, k, scope)
        if method == "bm25":
            return vector, [Hit(h.section_id, h.document_id, h.anchor, h.score)
                            for h in self.lexical.search(query, k, scope)]
        return vector, self._hybrid(query, vector, k, scope)

    def _hybrid(self, query: str, vector: np.ndarray, k: int, scope: Scope | None) -> list[Hit]:
        """Cosine + lexical_weight x BM25 (normalised) + identifier_weight x identifier share, over the
        union of both rankings' top candidates; each candidate's missing signal is computed exactly.
        In a big registry the lexical ranking skips the sections that share only very frequent words
        with the query and are not vector candidates (`LexicalIndex.scores`, lookup.lexical_frequent_*)."""
        lk = self.settings.lookup
        n = max(k, lk.fusion_candidates)
        vhits = self.index.search(vector, n, scope)
        sec, norm, ids = self.lexical.scores(query, scope, candidates=[h.section_id for h in vhits],
                                             frequent_share=lk.lexical_frequent_share,
                                             frequent_min=lk.lexical_frequent_min)
        lex: dict[int, tuple[float, float]] = {}
        if len(sec):
            fused = lk.lexical_weight * norm + lk.identifier_weight * ids
            top = np.argpartition(-fused, n - 1)[:n] if len(sec) > n else np.arange(len(sec))
            vids = np.fromiter((h.section_id for h in vhits), dtype=np.int64)
            for i in np.concatenate([top, np.flatnonzero(np.isin(sec, vids))]).tolist():
                lex[int(sec[i])] = (float(norm[i]), float(ids[i]))
        cos = {h.section_id: h.score for h in vhits}
        where = {h.section_id: (h.document_id, h.anchor) for h in vhits}
        missing = self.lexical.locate_many([sid for sid in lex if sid not in cos])  # removed since: left out
        where.update(missing)
        if missing:
            cos.update(self.index.score_sections(vector, missing, doc_of={sid: d for sid, (d, _) in missing.items()}))
        out = []
        for sid in set(where) | set(lex):
            if sid not in cos or sid not in where:
                continue  # not embedded (yet): the vector index does not know it; or removed since the search started
            s_lex, s_ids = lex.get(sid, (0.0, 0.0))
            doc_id, anchor = where[sid]
            score = cos[sid] + lk.lexical_weight * s_lex + lk.identifier_weight * s_ids
            out.append(Hit(sid, doc_id, anchor, float(score)))
        out.sort(key=lambda h: -h.score)
        return out[:k]

    def _receipt_writer(self):
        lk = self.settings.lookup
        if self.engine is None or lk.receipt_queue <= 0:
            return None
        from freshgate.lookup.receipt_queue import ReceiptWriter

        return ReceiptWriter(self.engine, capacity=lk.receipt_queue, interval=lk.receipt_flush_interval)

    def close(self) -> None:
        """Write the queued receipts (shutdown); nothing is dropped silently."""
        if self.receipts is not None:
            self.receipts.close()

    def _batcher(self) -> QueryBatcher | None:
        lk = self.settings.lookup
        return QueryBatcher(self.embedder.encode, lk.max_query_batch) if lk.batch_queries else None

    def use_embedder(self, embedder: Embedder) -> None:
        """Swap the embedder (tests, evaluation); the index is rebuilt on next use."""
        self.embedder = self.indexer.embedder = embedder
        self.batcher = self._batcher()
        lk = self.settings.lookup
        self.index = self.indexer.index = VectorIndex(embedder.dim, approximate_above=lk.approximate_above,
                                                      backend=lk.ann_backend, ef_search=lk.ef_search,
                                                      connectivity=lk.hnsw_m)
        self.lexical = self.indexer.lexical = LexicalIndex()
        self._ready.clear()
        self._thread = None
        self.indexer.watermark = None
        self.model_fingerprint = {"status": "not_checked"}
        self._locate_snapshot()
