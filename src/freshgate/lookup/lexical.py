"""In-memory BM25 over each section's heading path and text, kept beside the vector index.

Same document operations as `VectorIndex` (replace, remove, update metadata, scoped search),
fed by the same indexer calls, so both indexes follow the same committed changes. Rows are
append-only with a live mask (dead rows are compacted away when they pass half); each term
keeps a posting list (rows, term frequencies) turned into numpy arrays on first use.

Terms: lowercased words, English-stemmed (Snowball), minus a short stop list. Identifiers get
extra `=` terms: words with a digit, upper-case words and hyphenated names ("Sev-1" -> `=sev1`,
"€5,000" -> `=5000`, "GDPR" -> `=gdpr`), and the initials of capitalised phrases ("United
Kingdom" -> `=uk`), so a question naming an identifier finds the sections that contain it.
`score` is BM25 divided by the query's best possible BM25 (every query term at saturation), so
it lies in [0, 1) and means the same for every query; `ids` is the share of the question's
identifiers the section contains.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

import numpy as np

from freshgate.embeddings.index import grow_rows
from freshgate.embeddings.scope import DocMeta, Scope

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_PIECE = re.compile(r"\S+")
_CAPS = re.compile(r"\b(?:[A-Z][\w'’]*(?:\s+(?:of|and|for|the|&)\s+|\s+)){1,5}[A-Z][\w'’]*")
STOP = frozenset("""a an and are as at be been but by can could did do does doing for from had has have how i if in
into is it its may me my no not of on or our ours should so than that the their them then there these they this
those to us was we what when where which who whom why will with would you your yours""".split())


def _stemmer():
    try:
        import Stemmer  # PyStemmer (C Snowball)

        return Stemmer.Stemmer("english").stemWords
    except ImportError:  # pragma: no cover - the dependency is declared; plain words still work
        return lambda words: list(words)


_STEM = _stemmer()


def words(text: str) -> list[str]:
    """Stemmed content words of a text, in order."""
    return _STEM([w for w in _WORD.findall(text.lower()) if w not in STOP])


def _compact(piece: str) -> str:
    return re.sub(r"[\W_]+", "", piece.lower())


def identifiers(text: str, *, acronyms: bool = False) -> set[str]:
    """Identifier terms of a text: words with a digit, upper-case or hyphenated words, and (for
    indexed text) the initials of capitalised phrases."""
    out: set[str] = set()
    for piece in _PIECE.findall(text):
        core = piece.strip(".,;:!?()[]{}\"'’“”")
        letters = [c for c in core if c.isalpha()]
        has_digit = any(c.isdigit() for c in core)
        upper = len(letters) >= 2 and all(c.isupper() for c in letters)
        hyphen = "-" in core.strip("-") and any(c.isalpha() for c in core)
        if has_digit or upper or hyphen:
            c = _compact(core)
            if len(c) >= 2 or has_digit:
                out.add(c)
    if acronyms:
        for m in _CAPS.finditer(text):
            caps = [w[0].lower() for w in m.group(0).split() if w[0].isupper()]
            for i in range(len(caps)):
                for j in range(i + 2, len(caps) + 1):
                    out.add("".join(caps[i:j]))
    return out


HEADING_WEIGHT = 2  # a word of the heading path counts as this many occurrences (BM25F-style field weight)


def terms(text: str) -> list[str]:
    """Every term indexed for a context text (heading path on the first line, then the body): its words,
    the path's words `HEADING_WEIGHT` times, plus `=`-prefixed identifiers (with acronyms)."""
    path, _, body = text.partition("\n")
    return (words(path) * HEADING_WEIGHT + words(body)
            + ["=" + t for t in sorted(identifiers(text, acronyms=True))])


def query_terms(query: str) -> tuple[list[str], list[str]]:
    """A question's distinct words and identifier terms."""
    return list(dict.fromkeys(words(query))), ["=" + t for t in sorted(identifiers(query))]


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


class LexicalIndex:
    """Thread-safe BM25 (k1, b) over section texts with document scopes."""

    def __init__(self, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._lock = threading.RLock()
        self._post: dict[str, tuple[list[int], list[int]]] = {}
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
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
            self._maybe_compact()

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

    def _maybe_compact(self) -> None:
        if self._n <= 1024 or self._live >= self._n // 2:
            return
        keep = np.flatnonzero(self._alive[: self._n])
        remap = np.full(self._n, -1, dtype=np.int64)
        remap[keep] = np.arange(len(keep))
        for t in list(self._post):
            rows, tfs = self._post[t]
            pairs = [(int(remap[r]), f) for r, f in zip(rows, tfs) if remap[r] >= 0]
            if pairs:
                self._post[t] = ([p[0] for p in pairs], [p[1] for p in pairs])
            else:
                del self._post[t]
        self._cache.clear()
        self._len, self._row_doc = self._len[keep].copy(), self._row_doc[keep].copy()
        self._row_section = self._row_section[keep].copy()
        self._anchors = [self._anchors[i] for i in keep]
        self._alive = np.ones(len(keep), dtype=bool)
        self._n = len(keep)
        for d in self._docs.values():
            d.rows = [int(remap[r]) for r in d.rows]
        self._row_of = {int(self._row_section[r]): r for r in range(self._n)}

    # ---- search ----------------------------------------------------------------
    def _postings(self, t: str) -> tuple[np.ndarray, np.ndarray] | None:
        got = self._cache.get(t)
        if got is None and t in self._post:
            rows, tfs = self._post[t]
            got = self._cache[t] = (np.asarray(rows, dtype=np.int64), np.asarray(tfs, dtype=np.float32))
        return got

    def scores(self, query: str, scope: Scope | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(section ids, normalised BM25, identifier share) of every live in-scope section matching a query term.

        A scope naming documents is scored on those documents' rows only (each term's postings are
        searched for them), so its cost follows the scope, not the registry; IDF stays global."""
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
            at, tf = _restrict(p, picked)
            rows = at if picked is None else picked[at]
            total[at] += idf * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * lens[rows] / avg))
            if t in qids:
                ids[at] += 1.0 / len(qids)
        keep = np.flatnonzero((total > 0) & (mask if picked is None else True))
        norm = total[keep] / best if best > 0 else total[keep]
        rows = keep if picked is None else picked[keep]
        return row_section[rows].copy(), norm, ids[keep]

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
        out = []
        for i in np.argsort(-norm, kind="stable").tolist():
            try:
                doc_id, anchor = self.locate(int(sec[i]))
            except KeyError:
                continue  # removed since the search started
            out.append(LexHit(int(sec[i]), doc_id, anchor, float(norm[i]), float(ids[i])))
        return out

    def locate(self, section_id: int) -> tuple[str, str]:
        """(document id, anchor) of an indexed section (KeyError when it is not)."""
        with self._lock:
            r = self._row_of[section_id]
            d = self._by_ordinal[int(self._row_doc[r])]
            return (d.id if d else "", self._anchors[r])
