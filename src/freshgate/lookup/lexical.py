"""In-memory BM25 over each section's heading path and text, kept beside the vector index.

Same document operations as `VectorIndex` (replace, remove, update metadata, scoped search),
fed by the same indexer calls, so both indexes follow the same committed changes. Rows are
append-only with a live mask (dead rows are compacted away when they pass half). Postings live
in two parts: a flat base (every term's rows and term frequencies in one pair of numpy arrays
with per-term offsets, as built by a compaction, a bulk load or a snapshot) and per-term lists
of rows appended since; a term's two parts are joined into numpy arrays on first use.
`export_state` / `import_state` give the whole index to the snapshot (embeddings/snapshot.py;
the storage half lives in lookup/lexical_store.py), so a restart does not tokenise every section again.

How text becomes terms (words, heading weight, identifiers): lookup/terms.py. `score` is BM25
divided by the query's best possible BM25 (every query term at saturation), so it lies in [0, 1)
and means the same for every query; `ids` is the share of the question's identifiers the section
contains.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

import numpy as np

from freshgate.embeddings.index import grow_rows
from freshgate.embeddings.scope import DocMeta, Scope
from freshgate.lookup.lexical_store import PostingsStore
from freshgate.lookup.terms import identifiers, query_terms, terms, words

__all__ = ["BULK_REBASE", "LexHit", "LexicalIndex", "identifiers", "query_terms", "terms", "words"]

BULK_REBASE = 2000  # a bulk load of at least this many documents moves the postings into the flat base
# Frequent terms (see `scores`) are looked up for the candidate rows in a dense term-frequency row vector
# (a gather, ~10x a binary search per row at 10^5 sections); those vectors are kept, least recently used
# first out, within this many bytes (at 10^5 sections 0.4 MB a term).
DENSE_BUDGET = 64 << 20


def _restrict(post: tuple[np.ndarray, np.ndarray], picked: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(positions, term frequencies) of a term's postings: all rows, or those among `picked` (sorted rows;
    positions index `picked`). Postings are sorted by row: a binary search per picked row."""
    rows, tf = post
    if picked is None:
        return rows, tf
    at = np.searchsorted(rows, picked)
    hit = at < len(rows)
    hit[hit] = rows[at[hit]] == picked[hit]
    return np.flatnonzero(hit), tf[at[hit]]


@dataclass(frozen=True)
class LexHit:
    """A section's lexical match: BM25 normalised to [0, 1) and the share of identifiers it contains."""

    section_id: int
    document_id: str
    anchor: str
    score: float
    ids: float = 0.0


class LexicalIndex(PostingsStore):
    """Thread-safe BM25 (k1, b) over section texts with document scopes."""

    def __init__(self, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._lock = threading.RLock()
        self._post: dict[str, tuple[list[int], list[int]]] = {}  # rows appended since the base was built
        self._base: dict[str, int] = {}  # term -> its slot in the flat base arrays
        self._base_off = np.zeros(1, dtype=np.int64)  # slot i's postings: [off[i], off[i + 1])
        self._base_rows = np.zeros(0, dtype=np.int32)
        self._base_tf = np.zeros(0, dtype=np.float32)
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._dense: dict[str, np.ndarray] = {}  # frequent term -> tf per row (rows past its end: 0); LRU order
        self._dense_bytes = 0
        self._len = np.zeros(1024, dtype=np.float32)
        self._alive = np.zeros(1024, dtype=bool)
        self._row_doc = np.zeros(1024, dtype=np.int32)
        self._row_section = np.zeros(1024, dtype=np.int64)
        self._anchors: list[str] = []
        self._n = 0
        self._live_len = 0.0
        self._live = 0
        self._docs: dict[str, DocMeta] = {}
        self._by_ordinal: list[DocMeta | None] = []
        self._row_of: dict[int, int] = {}
        self._allowed: dict[Scope, np.ndarray] = {}  # scope -> in-scope mask per document ordinal
        self._df: dict[str, int] = {}  # term -> live sections containing it (cleared by every write)

    def __len__(self) -> int:
        return self._live

    def has_document(self, doc_id: str) -> bool:
        """Whether a document is indexed."""
        return doc_id in self._docs

    # ---- writes ----------------------------------------------------------------
    def replace_document(self, meta: DocMeta, rows: Sequence[tuple[int, str, str]]) -> None:
        """Set a document's metadata and replace its sections with `rows` (section id, anchor, text)."""
        self.bulk_replace([(meta, rows)])

    def bulk_replace(self, items: Iterable[tuple[DocMeta, Sequence[tuple[int, str, str]]]]) -> None:
        """Replace many documents (tokenising outside the lock)."""
        prepared = [(meta, [(sid, anchor, terms(text)) for sid, anchor, text in rows]) for meta, rows in items]
        with self._lock:
            self._allowed.clear()
            self._df.clear()
            for meta, rows in prepared:
                doc = replace(meta, rows=[], ordinal=-1)  # our own copy: the vector index keeps its own
                old = self._docs.get(doc.id)
                if old is not None:
                    self._kill(old.rows)
                    doc.ordinal = old.ordinal
                    self._by_ordinal[doc.ordinal] = doc
                else:
                    doc.ordinal = len(self._by_ordinal)
                    self._by_ordinal.append(doc)
                self._docs[doc.id] = doc
                doc.rows = [self._append(doc.ordinal, sid, anchor, toks) for sid, anchor, toks in rows]
            if not self._maybe_compact() and len(prepared) >= BULK_REBASE:
                self._rebase()  # a big load: postings into flat arrays (8 bytes each, not two Python ints)

    def update_meta(self, doc_id: str, *, kind: str | None = None, tags: Iterable[str] | None = None,
                    status: str | None = None) -> None:
        """Change the filterable metadata of an indexed document."""
        with self._lock:
            d = self._docs.get(doc_id)
            if d is not None:
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
                self._df.clear()
                self._kill(d.rows)
                self._by_ordinal[d.ordinal] = None
                self._maybe_compact()

    def _append(self, ordinal: int, section_id: int, anchor: str, toks: list[str]) -> int:
        r = self._n
        if r >= len(self._alive):
            cap = 2 * len(self._alive)
            self._len, self._alive = grow_rows(self._len, cap), grow_rows(self._alive, cap)
            self._row_doc, self._row_section = grow_rows(self._row_doc, cap), grow_rows(self._row_section, cap)
        counts: dict[str, int] = {}
        for t in toks:
            counts[t] = counts.get(t, 0) + 1
        for t, tf in counts.items():
            rows, tfs = self._post.setdefault(t, ([], []))
            rows.append(r)
            tfs.append(tf)
            self._cache.pop(t, None)
            gone = self._dense.pop(t, None)
            self._dense_bytes -= 0 if gone is None else gone.nbytes
        n_words = sum(1 for t in toks if not t.startswith("="))
        self._len[r], self._row_doc[r], self._row_section[r] = n_words, ordinal, section_id
        alive = self._alive.copy()
        alive[r] = True
        self._alive = alive
        self._anchors.append(anchor)
        self._row_of[section_id] = r
        self._n = r + 1
        self._live += 1
        self._live_len += n_words
        return r

    def _kill(self, rows: list[int]) -> None:
        if rows:
            alive = self._alive.copy()  # copy-on-write: a running search keeps its snapshot
            alive[rows] = False
            self._alive = alive
            for r in rows:
                if self._row_of.get(int(self._row_section[r])) == r:
                    del self._row_of[int(self._row_section[r])]
            self._live -= len(rows)
            self._live_len -= float(self._len[rows].sum())

    # ---- search ----------------------------------------------------------------
    def _postings(self, t: str) -> tuple[np.ndarray, np.ndarray] | None:
        got = self._cache.get(t)
        if got is None:
            i, extra = self._base.get(t), self._post.get(t)
            if i is None and extra is None:
                return None
            rows = self._base_rows[self._base_off[i]:self._base_off[i + 1]] if i is not None else None
            tfs = self._base_tf[self._base_off[i]:self._base_off[i + 1]] if i is not None else None
            if extra is not None:
                more_r, more_f = np.asarray(extra[0], dtype=np.int32), np.asarray(extra[1], dtype=np.float32)
                rows = more_r if rows is None else np.concatenate([rows, more_r])
                tfs = more_f if tfs is None else np.concatenate([tfs, more_f])
            got = self._cache[t] = (rows, tfs)
        return got

    def scores(self, query: str, scope: Scope | None = None, *, candidates: Iterable[int] | None = None,
               frequent_share: float = 0.05, frequent_min: int = 5000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(section ids, normalised BM25, identifier share) of every live in-scope section matching a query term.

        A scope naming documents is scored on those documents' rows only (each term's postings are
        searched for them), so its cost follows the scope, not the registry; IDF stays global.

        `candidates` (the hybrid's vector candidates, section ids) turns on pruning for big registries:
        a *frequent* term, one in more than `frequent_share` of the live sections and more than
        `frequent_min` of them, is not scattered over its postings but scored only for the candidate
        rows: the rows the query's other terms reach plus `candidates` (a binary search in its
        postings). Sections matching only frequent terms are then left out, unless they are
        candidates; every section returned has its exact score, and the normalisation (the query's
        best possible BM25) is unchanged. With no frequent term (any registry under `frequent_min`
        sections) the result is the same as without `candidates`."""
        qwords, qids = query_terms(query)
        with self._lock:
            n, alive, n_live = self._n, self._alive[: self._n], max(self._live, 1)
            avg = max(self._live_len / n_live, 1.0)
            post = {t: self._postings(t) for t in qwords + qids}
            df = {t: self._doc_freq(t, p, alive) for t, p in post.items()}
            lens, row_section = self._len[:n], self._row_section[:n]
            picked, mask = None, alive
            if scope is not None and scope.ids is not None:
                picked = np.fromiter((r for d in scope.docs(self._docs) for r in d.rows), dtype=np.int64)
                picked = np.sort(picked[alive[picked]]) if len(picked) else picked
            elif scope is not None and not scope.unrestricted:
                allowed = scope.allowed(self._by_ordinal, self._allowed)
                mask = alive & allowed[self._row_doc[:n]] if len(allowed) else alive & False
            limit = max(frequent_share * n_live, frequent_min)
            frequent = {t for t, d in df.items() if d > limit} if candidates is not None and picked is None else set()
            if frequent:
                req = np.fromiter((self._row_of.get(int(s), -1) for s in candidates), dtype=np.int64)
                dense = {t: self._dense_tf(t, post[t]) for t in frequent}
        cand = None
        if frequent:  # pruned: the frequent terms are looked up for these rows only
            reached = np.zeros(n, dtype=bool)
            reached[req[(req >= 0) & (req < n)]] = True
            for t in post:
                if t not in frequent and df[t]:
                    reached[post[t][0]] = True
            cand = np.flatnonzero(reached)
        k1, b = self.k1, self.b
        m = n if picked is None else len(picked)
        total, ids, best = np.zeros(m, dtype=np.float32), np.zeros(m, dtype=np.float32), 0.0
        for t in qwords + qids:
            p, d = post.get(t), df[t]
            # A word nobody uses still counts in the bound: "UK" with no UK section is not a full match.
            idf = float(np.log(1.0 + (n_live - d + 0.5) / (d + 0.5)))
            best += idf * (k1 + 1.0)
            if p is None or not d:
                continue
            if t in frequent:
                d = dense[t]
                c = cand[: np.searchsorted(cand, len(d))]  # rows appended since d was made lack the term
                tf = d[c]
                at = np.flatnonzero(tf)
                tf, at = tf[at], c[at]
                rows = at
            else:
                at, tf = _restrict(p, picked)
                rows = at if picked is None else picked[at]
            total[at] += idf * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * lens[rows] / avg))
            if t in qids:
                ids[at] += 1.0 / len(qids)
        keep = np.flatnonzero((total > 0) & (mask if picked is None else True))
        norm = total[keep] / best if best > 0 else total[keep]
        rows = keep if picked is None else picked[keep]
        return row_section[rows].copy(), norm, ids[keep]

    def _dense_tf(self, t: str, p: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """A term's frequency in every row (under the lock); made once, dropped when the term's postings change."""
        got = self._dense.pop(t, None)  # re-inserted below: the most recently used come last
        if got is None:
            got = np.zeros(self._n, dtype=np.float32)
            got[p[0]] = p[1]
            self._dense_bytes += got.nbytes
        self._dense[t] = got
        while self._dense_bytes > DENSE_BUDGET and len(self._dense) > 1:
            self._dense_bytes -= self._dense.pop(next(iter(self._dense))).nbytes
        return got

    def _doc_freq(self, t: str, p, alive: np.ndarray) -> int:
        if p is None:
            return 0
        got = self._df.get(t)
        if got is None:
            got = self._df[t] = int(alive[p[0]].sum())
        return got

    def search(self, query: str, k: int = 10, scope: Scope | None = None) -> list[LexHit]:
        """The `k` best lexical matches in scope, best first."""
        sec, norm, ids = self.scores(query, scope)
        if len(sec) > k:
            top = np.argpartition(-norm, k - 1)[:k]
            sec, norm, ids = sec[top], norm[top], ids[top]
        where = self.locate_many(sec.tolist())  # a section removed since the search started is left out
        return [LexHit(int(sec[i]), *where[int(sec[i])], float(norm[i]), float(ids[i]))
                for i in np.argsort(-norm, kind="stable").tolist() if int(sec[i]) in where]

    def locate_many(self, section_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
        """(document id, anchor) of each indexed section among `section_ids` (the others are left out)."""
        out = {}
        with self._lock:
            for sid in section_ids:
                r = self._row_of.get(sid)
                if r is not None:
                    d = self._by_ordinal[int(self._row_doc[r])]
                    out[sid] = (d.id if d else "", self._anchors[r])
        return out

    def locate(self, section_id: int) -> tuple[str, str]:
        """(document id, anchor) of an indexed section (KeyError when it is not)."""
        return self.locate_many([section_id])[section_id]
