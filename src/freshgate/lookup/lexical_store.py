"""The storage half of the lexical index: flat postings, compaction and the snapshot state.

`LexicalIndex` (lookup/lexical.py) mixes this in; it owns the arrays these methods read and replace.
Postings live in a flat base (every term's rows and term frequencies in one pair of numpy arrays with
per-term offsets) plus per-term lists of rows appended since; `_flat` joins the two, a compaction drops
dead rows, and `export_state` / `import_state` give the whole index to the snapshot (embeddings/snapshot.py).
"""

from __future__ import annotations

import numpy as np

from freshgate.embeddings.index import grow_rows
from freshgate.embeddings.scope import docs_from_state, docs_state


class PostingsStore:
    """Flat postings, compaction and snapshot state of a `LexicalIndex` (a mixin: no state of its own)."""

    def _flat(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """Every posting as flat arrays: (terms, per-term offsets, rows, term frequencies), rows
        ascending within a term (appended rows always come after the base's)."""
        terms = list(self._base)
        slot = dict(self._base)
        base_t = np.repeat(np.arange(len(terms), dtype=np.int32), np.diff(self._base_off))
        t_parts, r_parts, f_parts = [base_t], [self._base_rows], [self._base_tf]
        if self._post:
            ext_t, ext_r, ext_f = [], [], []
            for t, (rows, tfs) in self._post.items():
                i = slot.get(t)
                if i is None:
                    i = slot[t] = len(terms)
                    terms.append(t)
                ext_t.append(np.full(len(rows), i, dtype=np.int32))
                ext_r.extend(rows)
                ext_f.extend(tfs)
            t_parts.append(np.concatenate(ext_t))
            r_parts.append(np.asarray(ext_r, dtype=np.int32))
            f_parts.append(np.asarray(ext_f, dtype=np.float32))
        t_all = np.concatenate(t_parts)
        order = np.argsort(t_all, kind="stable")
        off = np.zeros(len(terms) + 1, dtype=np.int64)
        off[1:] = np.cumsum(np.bincount(t_all, minlength=len(terms)))
        return terms, off, np.concatenate(r_parts)[order], np.concatenate(f_parts)[order]

    def _set_base(self, terms: list[str], off: np.ndarray, rows: np.ndarray, tf: np.ndarray) -> None:
        self._base = dict(zip(terms, range(len(terms))))
        self._base_off, self._base_rows, self._base_tf = off, rows, tf
        self._post = {}
        self._cache.clear()
        self._dense.clear()
        self._dense_bytes = 0

    def _rebase(self) -> None:
        self._set_base(*self._flat())

    def _maybe_compact(self) -> bool:
        if self._n <= 1024 or self._live >= self._n // 2:
            return False
        keep = np.flatnonzero(self._alive[: self._n])
        remap = np.full(self._n, -1, dtype=np.int64)
        remap[keep] = np.arange(len(keep))
        terms, off, rows, tf = self._flat()
        t_all = np.repeat(np.arange(len(terms)), np.diff(off))
        new_rows = remap[rows]
        live = new_rows >= 0
        t_all, rows, tf = t_all[live], new_rows[live].astype(np.int32), tf[live]
        counts = np.bincount(t_all, minlength=len(terms))
        used = np.flatnonzero(counts)  # terms left with no live row are dropped
        off = np.zeros(len(used) + 1, dtype=np.int64)
        off[1:] = np.cumsum(counts[used])
        self._set_base([terms[i] for i in used], off, rows, tf)
        self._len, self._row_doc = self._len[keep].copy(), self._row_doc[keep].copy()
        self._row_section = self._row_section[keep].copy()
        self._anchors = [self._anchors[i] for i in keep]
        self._alive = np.ones(len(keep), dtype=bool)
        self._n = len(keep)
        for d in self._docs.values():
            d.rows = [int(remap[r]) for r in d.rows]
        self._row_of = {int(self._row_section[r]): r for r in range(self._n)}
        return True

    def export_state(self) -> dict:
        """The whole index (rows, dead rows, postings, documents) as arrays and plain lists."""
        with self._lock:
            n = self._n
            terms, off, rows, tf = self._flat()
            return {"len": self._len[:n].copy(), "alive": self._alive[:n].copy(),
                    "row_doc": self._row_doc[:n].copy(), "row_section": self._row_section[:n].copy(),
                    "anchors": list(self._anchors[:n]), "terms": terms, "off": off, "rows": rows, "tf": tf,
                    "docs": docs_state(self._by_ordinal)}

    @staticmethod
    def empty_state() -> dict:
        """The state of an empty index (for `import_state`)."""
        z = np.zeros(0)
        return {"len": z, "alive": z, "row_doc": z, "row_section": z, "anchors": [], "terms": [],
                "off": np.zeros(1, dtype=np.int64), "rows": z, "tf": z, "docs": []}

    def import_state(self, state: dict) -> None:
        """Replace everything with an exported state (ValueError when its parts do not fit together)."""
        n = len(state["alive"])
        terms, off = list(state["terms"]), np.asarray(state["off"], dtype=np.int64)
        rows, tf = np.asarray(state["rows"], dtype=np.int32), np.asarray(state["tf"], dtype=np.float32)
        if (len(off) != len(terms) + 1 or off[-1] != len(rows) or len(tf) != len(rows) or len(state["anchors"]) != n
                or any(len(state[k]) != n for k in ("len", "row_doc", "row_section"))
                or (len(rows) and (rows.min() < 0 or rows.max() >= n))):
            raise ValueError("lexical index parts do not fit together")
        cap = max(1024, n)
        with self._lock:
            self._len = grow_rows(np.asarray(state["len"], dtype=np.float32), cap)
            self._alive = grow_rows(np.asarray(state["alive"], dtype=bool), cap)
            self._row_doc = grow_rows(np.asarray(state["row_doc"], dtype=np.int32), cap)
            self._row_section = grow_rows(np.asarray(state["row_section"], dtype=np.int64), cap)
            self._anchors = list(state["anchors"])
            self._n = n
            self._set_base(terms, off, rows, tf)
            self._docs, self._by_ordinal = docs_from_state(state["docs"])
            live = np.flatnonzero(self._alive[:n])
            self._row_of = dict(zip(self._row_section[live].tolist(), live.tolist()))
            self._live = len(live)
            self._live_len = float(self._len[live].sum())
            self._allowed.clear()
            self._df.clear()
