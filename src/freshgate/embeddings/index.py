"""In-memory vector index of section embeddings: exact numpy search, HNSW above a size.

Rows are append-only: replacing a document's sections marks its old rows dead and appends
new ones, so a search can snapshot (row count, live mask) under the lock and compute
outside it while writers keep appending. Dead rows are compacted away when they pass half.
Scope filters (document ids, tags, kinds, retired) select documents; a small filtered set
is searched exactly, a large one through the approximate index with over-fetching.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Iterable, Sequence

import numpy as np

from freshgate.embeddings.scope import DocMeta, Hit, Scope, docs_from_state, docs_state

__all__ = ["DocMeta", "Hit", "Scope", "VectorIndex", "grow_rows", "scaled_ef"]
log = logging.getLogger(__name__)

# Search breadth when none is set: EF_BASE up to EF_AT graph nodes, then in proportion to the graph, at most
# EF_MAX. Near-copy corpus, M 32 (bench/index_recall.py nearcopy): recall@5 at ef 128 is 0.973 at 100k sections but
# 0.913 at 300k; keeping it took ef about in proportion (300k: ef 256 0.953, 512 0.971; doubling per tenfold, ef 179,
# gave 0.932). Not measured above 300k; EF_MAX bounds the search cost (~4x the 100k p50 at ef 512, 300k).
EF_BASE, EF_AT, EF_MAX = 128, 100_000, 2048


def scaled_ef(nodes: int, base: int = EF_BASE, at: int = EF_AT, cap: int = EF_MAX) -> int:
    """HNSW search breadth for a graph of `nodes` nodes: `base` up to `at`, then base x nodes / at, at most `cap`."""
    if nodes <= at:
        return base
    return min(cap, int(math.ceil(base * nodes / at)))


class VectorIndex:
    """Thread-safe cosine-similarity index over unit-length float32 vectors."""

    def __init__(self, dim: int, *, approximate_above: int = 20000, backend: str = "hnswlib",
                 ef_search: int | None = 128, connectivity: int = 16, ef_construction: int = 200) -> None:
        self.dim = dim
        self.approximate_above = approximate_above
        self.backend = backend
        self.ef_search = ef_search  # None: scaled with the graph's size (scaled_ef)
        self.connectivity = connectivity
        self.ef_construction = ef_construction
        self._lock = threading.RLock()
        self._vecs = np.zeros((1024, dim), dtype=np.float32)
        self._alive = np.zeros(1024, dtype=bool)
        self._row_doc = np.zeros(1024, dtype=np.int32)
        self._row_section = np.zeros(1024, dtype=np.int64)
        self._anchors: list[str] = []
        self._n = 0
        self._docs: dict[str, DocMeta] = {}
        self._by_ordinal: list[DocMeta | None] = []
        self._ann = None
        self._allowed: dict[Scope, np.ndarray] = {}  # scope -> in-scope mask per document ordinal
        self.ready = False

    # ---- size ------------------------------------------------------------------
    def __len__(self) -> int:
        with self._lock:
            return int(self._alive[: self._n].sum())

    @property
    def ef(self) -> int:
        """The search breadth in use: ef_search, or when None, scaled with the HNSW graph's size."""
        if self.ef_search is not None:
            return self.ef_search
        ann = self._ann
        if ann is None:
            return EF_BASE
        return scaled_ef(ann.get_current_count() if self.backend == "hnswlib" else len(ann))

    @property
    def approximate(self) -> bool:
        """True when searches use the HNSW index."""
        return self._ann is not None

    def has_document(self, doc_id: str) -> bool:
        """Whether a document is indexed."""
        return doc_id in self._docs

    def documents(self) -> list[str]:
        """Ids of the indexed documents."""
        with self._lock:
            return list(self._docs)

    # ---- writes ----------------------------------------------------------------
    def replace_document(self, doc: DocMeta, rows: Sequence[tuple[int, str, np.ndarray]]) -> None:
        """Set a document's metadata and replace its sections with `rows` (section id, anchor, vector)."""
        self.bulk_replace([(doc, rows)])

    def bulk_replace(self, items: Iterable[tuple[DocMeta, Sequence[tuple[int, str, np.ndarray]]]]) -> None:
        """Replace many documents at once (the approximate index is built once, at the end)."""
        with self._lock:
            for doc, rows in items:
                self._replace(doc, rows)
            self._maybe_rebuild()

    def _replace(self, doc: DocMeta, rows: Sequence[tuple[int, str, np.ndarray]]) -> None:
        self._allowed.clear()
        old = self._docs.get(doc.id)
        if old is not None:
            self._kill(old.rows)
            doc.ordinal = old.ordinal
            self._by_ordinal[doc.ordinal] = doc
        else:
            doc.ordinal = len(self._by_ordinal)
            self._by_ordinal.append(doc)
        self._docs[doc.id] = doc
        doc.rows = self._append(doc.ordinal, rows)

    def update_meta(self, doc_id: str, *, kind: str | None = None, tags: Iterable[str] | None = None,
                    status: str | None = None) -> None:
        """Change the filterable metadata of an indexed document (retire, unretire, re-tag)."""
        with self._lock:
            d = self._docs.get(doc_id)
            if d is None:
                return
            self._allowed.clear()
            d.kind = kind or d.kind
            d.tags = frozenset(tags) if tags is not None else d.tags
            d.status = status or d.status

    def remove_document(self, doc_id: str) -> None:
        """Drop a document and its sections."""
        with self._lock:
            d = self._docs.pop(doc_id, None)
            if d is not None:
                self._allowed.clear()
                self._kill(d.rows)
                self._by_ordinal[d.ordinal] = None
                self._maybe_rebuild()

    def _append(self, ordinal: int, rows: Sequence[tuple[int, str, np.ndarray]]) -> list[int]:
        if not rows:
            return []
        need = self._n + len(rows)
        if need > len(self._alive):
            cap = max(need, 2 * len(self._alive))
            # New arrays, never resized in place: a search holding the old ones stays valid.
            self._vecs = grow_rows(self._vecs, cap)
            self._alive = grow_rows(self._alive, cap)
            self._row_doc = grow_rows(self._row_doc, cap)
            self._row_section = grow_rows(self._row_section, cap)
        start = self._n
        idx = list(range(start, need))
        self._vecs[start:need] = np.stack([np.asarray(r[2], dtype=np.float32) for r in rows])
        self._row_doc[start:need] = ordinal
        self._row_section[start:need] = [r[0] for r in rows]
        self._anchors.extend(r[1] for r in rows)
        self._alive[start:need] = True
        self._n = need
        if self._ann is not None:
            self._ann_add(np.asarray(idx, dtype=np.int64), self._vecs[start:need])
        return idx

    def _kill(self, rows: list[int]) -> None:
        if not rows:
            return
        alive = self._alive.copy()  # copy-on-write: concurrent searches keep their snapshot
        alive[rows] = False
        self._alive = alive
        if self._ann is not None:
            self._ann_remove(rows)

    def _maybe_rebuild(self) -> None:
        live = int(self._alive[: self._n].sum())
        if self._n > 1024 and live < self._n // 2:
            self._compact()
        if live > self.approximate_above and self._ann is None:
            self._build_ann()
        elif live <= self.approximate_above and self._ann is not None:
            self._ann = None

    def _compact(self) -> None:
        keep = np.flatnonzero(self._alive[: self._n])
        remap = {int(old): new for new, old in enumerate(keep)}
        self._vecs = self._vecs[keep].copy()
        self._alive = np.ones(len(keep), dtype=bool)
        self._row_doc = self._row_doc[keep].copy()
        self._row_section = self._row_section[keep].copy()
        self._anchors = [self._anchors[i] for i in keep]
        self._n = len(keep)
        for d in self._docs.values():
            d.rows = [remap[r] for r in d.rows]
        if self._ann is not None:
            self._build_ann()

    # ---- approximate index -------------------------------------------------------
    def _build_ann(self) -> None:
        live = np.flatnonzero(self._alive[: self._n])
        log.info("building %s HNSW index over %d sections", self.backend, len(live))
        if self.backend == "hnswlib":
            import hnswlib

            ann = hnswlib.Index(space="ip", dim=self.dim)
            ann.init_index(max_elements=max(len(live) * 2, 1024), ef_construction=self.ef_construction, M=self.connectivity,
                           allow_replace_deleted=False)
            ann.set_ef(self.ef)
        else:
            _load_onnxruntime_first()
            from usearch.index import Index

            ann = Index(ndim=self.dim, metric="ip", dtype="f32", connectivity=self.connectivity,
                        expansion_add=self.ef_construction, expansion_search=self.ef)
        self._ann = ann
        self._ann_add(live.astype(np.int64), self._vecs[live])

    def _ann_add(self, keys: np.ndarray, vecs: np.ndarray) -> None:
        if self.backend == "hnswlib":
            if self._ann.get_current_count() + len(keys) > self._ann.get_max_elements():
                self._ann.resize_index(2 * (self._ann.get_current_count() + len(keys)))
            self._ann.add_items(vecs, keys)
        else:
            self._ann.add(keys, vecs)

    def _ann_remove(self, rows: list[int]) -> None:
        for r in rows:
            if self.backend == "hnswlib":
                self._ann.mark_deleted(r)
            else:
                self._ann.remove(r)

    def _ann_search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, max(1, len(self)))
        if self.backend == "hnswlib":
            self._ann.set_ef(max(self.ef, k))
            labels, dist = self._ann.knn_query(q[None, :], k=k)
            return labels[0].astype(np.int64), 1.0 - dist[0]
        ef = max(self.ef, k)
        if self._ann.expansion_search != ef:
            self._ann.expansion_search = ef
        m = self._ann.search(q, k)
        return np.asarray(m.keys, dtype=np.int64), 1.0 - np.asarray(m.distances, dtype=np.float32)

    # ---- persistence (embeddings/snapshot.py) -----------------------------------------
    def export_state(self) -> dict:
        """The whole internal state, exactly (rows, dead rows, documents, the HNSW graph), for a snapshot."""
        with self._lock:
            n = self._n
            state = {"vecs": self._vecs[:n].copy(), "alive": self._alive[:n].copy(),
                     "row_doc": self._row_doc[:n].copy(), "row_section": self._row_section[:n].copy(),
                     "anchors": list(self._anchors[:n]),
                     "docs": docs_state(self._by_ordinal),
                     "ann": None}
            if self._ann is not None and self.backend == "hnswlib":
                import tempfile
                from pathlib import Path

                with tempfile.TemporaryDirectory() as tmp:
                    path = str(Path(tmp) / "ann.bin")
                    self._ann.save_index(path)
                    state["ann"] = Path(path).read_bytes()
            return state

    def import_state(self, state: dict) -> None:
        """Replace everything with an exported state (the HNSW graph is rebuilt if it was not saved)."""
        with self._lock:
            n = len(state["alive"])
            cap = max(1024, n)
            self._vecs = grow_rows(np.asarray(state["vecs"], dtype=np.float32).reshape(n, self.dim), cap)
            self._alive = grow_rows(np.asarray(state["alive"], dtype=bool), cap)
            self._row_doc = grow_rows(np.asarray(state["row_doc"], dtype=np.int32), cap)
            self._row_section = grow_rows(np.asarray(state["row_section"], dtype=np.int64), cap)
            self._anchors = list(state["anchors"])
            self._n = n
            self._docs, self._by_ordinal = docs_from_state(state["docs"])
            self._allowed.clear()
            self._ann = None
            live = int(self._alive[:n].sum())
            if state.get("ann") and self.backend == "hnswlib" and live > self.approximate_above:
                import tempfile
                from pathlib import Path

                import hnswlib

                with tempfile.TemporaryDirectory() as tmp:
                    path = Path(tmp) / "ann.bin"
                    path.write_bytes(state["ann"])
                    ann = hnswlib.Index(space="ip", dim=self.dim)
                    ann.load_index(str(path), max_elements=max(2 * live, 1024))
                ann.set_ef(self.ef)
                self._ann = ann
            else:
                self._maybe_rebuild()

    # ---- search ----------------------------------------------------------------
    def search(self, query: np.ndarray, k: int = 10, scope: Scope | None = None,
               min_score: float | None = None, exact: bool = False) -> list[Hit]:
        """The `k` most similar live sections in scope, best first."""
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        scope = scope or Scope()
        with self._lock:
            n, vecs, alive, row_doc = self._n, self._vecs, self._alive, self._row_doc
            row_section, anchors, by_ordinal = self._row_section, self._anchors, self._by_ordinal
            picked = None
            if scope.ids is not None:  # named documents: their rows, whatever the registry's size
                picked = np.fromiter((r for d in scope.docs(self._docs) for r in d.rows), dtype=np.int64)
                picked = np.sort(picked[alive[picked]]) if len(picked) else picked
                selected = len(picked)
            else:
                mask = alive[:n]
                if not scope.unrestricted:
                    allowed = scope.allowed(self._by_ordinal, self._allowed)
                    mask = mask & allowed[row_doc[:n]] if len(allowed) else mask & False
                selected = int(mask.sum())
            use_ann = self._ann is not None and not exact and selected > self.approximate_above
            if use_ann:
                if picked is not None:
                    mask = np.zeros(n, dtype=bool)
                    mask[picked] = True
                rows, scores = self._ann_filtered(q, k, mask, selected)
        if not use_ann:
            rows, scores = (_exact_rows(vecs, picked, q, k) if picked is not None else _exact(vecs, mask, n, q, k))
        hits = []
        for r, s in zip(rows.tolist(), scores.tolist()):
            d = by_ordinal[int(row_doc[r])]
            if d is None or (min_score is not None and s < min_score):
                continue  # removed since the snapshot, or not similar enough
            hits.append(Hit(int(row_section[r]), d.id, anchors[r], float(s)))
        return hits

    def score_sections(self, query: np.ndarray, section_ids: Iterable[int],
                       doc_of: dict[int, str] | None = None) -> dict[int, float]:
        """Exact similarity of given live sections to the query (section id -> score; unknown ids absent).

        `doc_of` (section id -> its document, when the caller knows it) looks only at those documents' rows,
        not at every row of the index (at 10^5 sections 0.5 ms saved per hybrid lookup)."""
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        want = np.fromiter(section_ids, dtype=np.int64)
        if not len(want):
            return {}
        with self._lock:
            n, vecs, alive, row_section = self._n, self._vecs, self._alive, self._row_section
            if doc_of is not None:  # rows read under the lock: a compaction renumbers them
                docs = {doc_of[s] for s in want.tolist() if s in doc_of}
                near = np.fromiter((r for d in docs if d in self._docs for r in self._docs[d].rows), dtype=np.int64)
        if doc_of is not None:
            near.sort()  # ascending, as the full scan gives them: the same product, the same floats
            rows = near[alive[near] & np.isin(row_section[near], want)]
        else:
            rows = np.flatnonzero(alive[:n] & np.isin(row_section[:n], want))
        return dict(zip(row_section[rows].tolist(), (vecs[rows] @ q).tolist()))

    def _ann_filtered(self, q: np.ndarray, k: int, mask: np.ndarray, selected: int):
        fetch = k if selected == len(mask) else max(4 * k, 64)
        while True:
            rows, scores = self._ann_search(q, min(fetch, len(mask)))
            keep = (rows >= 0) & (rows < len(mask))
            rows, scores = rows[keep], scores[keep]
            keep = mask[rows]
            if keep.sum() >= k or fetch >= len(mask):
                order = np.argsort(-scores[keep], kind="stable")[:k]
                return rows[keep][order], scores[keep][order]
            fetch *= 4


def _load_onnxruntime_first() -> None:
    """Load onnxruntime (when installed) before usearch: the other order crashes ONNX Runtime later
    in the same process (segfault on the first run; usearch 2.26, onnxruntime 1.31)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        pass


def _exact(vecs: np.ndarray, mask: np.ndarray, n: int, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    scores = (vecs[:n] @ q)[idx] if len(idx) > n // 2 else vecs[idx] @ q
    k = min(k, len(idx))
    top = np.argpartition(-scores, k - 1)[:k] if k < len(idx) else np.arange(len(idx))
    top = top[np.argsort(-scores[top], kind="stable")]
    return idx[top], scores[top]


def _exact_rows(vecs: np.ndarray, rows: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top k among the given rows."""
    if len(rows) == 0:
        return rows, np.zeros(0, dtype=np.float32)
    scores = vecs[rows] @ q
    k = min(k, len(rows))
    top = np.argpartition(-scores, k - 1)[:k] if k < len(rows) else np.arange(len(rows))
    top = top[np.argsort(-scores[top], kind="stable")]
    return rows[top], scores[top]


def grow_rows(arr: np.ndarray, cap: int) -> np.ndarray:
    """`arr` padded with zero rows to `cap` rows (the vector and lexical indexes grow in steps)."""
    out = np.zeros((cap,) + arr.shape[1:], dtype=arr.dtype)
    out[: len(arr)] = arr
    return out
