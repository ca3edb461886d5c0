"""Candidate pairs for the judge: nearest sections through the vector index, never all pairs.

A changed section is compared with its nearest sections in other active documents and with
the other sections of its own document, when their cosine similarity is at least
`candidate_similarity`, at most `candidates_per_section` per section. Sections of the
documents changed together are compared with each other directly (the index may not hold
their new text yet), everything else comes from the index. Retired documents never take part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol

import numpy as np
from sqlmodel import Session, select

from freshgate.embeddings.embedder import from_blob
from freshgate.registry.models import Document, Section


class Index(Protocol):
    """What candidate search needs of the vector index (freshgate.embeddings.index.VectorIndex)."""

    def search(self, query: np.ndarray, k: int = 10, scope=None, min_score: float | None = None,
               exact: bool = False) -> list: ...


@dataclass
class SectionRow:
    """A section of an active document, with its stored embedding."""

    id: int
    document_id: str
    anchor: str
    heading: str
    version: int
    text: str
    text_hash: str
    title: str
    vector: np.ndarray


def load_sections(session: Session, *, doc_ids: Iterable[str] | None = None,
                  section_ids: Iterable[int] | None = None) -> list[SectionRow]:
    """Embedded sections of ACTIVE documents (all, of `doc_ids`, or with `section_ids`)."""
    # Sections by their own keys first, then their documents by primary key: a join filtered
    # on Document.status let SQLite drive the query from the status index (every active
    # document) instead of the few sections asked for — 87 ms per check at 20k sections.
    q = select(Section).where(Section.embedding.is_not(None))
    sections: list[Section] = []
    if doc_ids is not None:
        for chunk in _chunks(list(doc_ids)):
            sections += session.exec(q.where(Section.document_id.in_(chunk))).all()
    elif section_ids is not None:
        for chunk in _chunks(list(section_ids)):
            sections += session.exec(q.where(Section.id.in_(chunk))).all()
    else:
        sections = list(session.exec(q.order_by(Section.document_id, Section.position)).all())
    titles: dict[str, str] = {}
    for chunk in _chunks(sorted({s.document_id for s in sections})):
        dq = select(Document.id, Document.title).where(Document.id.in_(chunk), Document.status == "active")
        titles.update(dict(session.exec(dq).all()))
    return [SectionRow(s.id, s.document_id, s.anchor, s.heading, s.version, s.text, s.text_hash,
                       titles[s.document_id], from_blob(s.embedding)) for s in sections if s.document_id in titles]


def _chunks(items: list, size: int = 500):
    """Slices below every driver's bound-parameter limit."""
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _keep_top(found: dict[int, float], k: int) -> list[tuple[int, float]]:
    return sorted(found.items(), key=lambda kv: -kv[1])[:k]


def candidate_pairs(index: Index | None, sources: list[SectionRow], *, threshold: float, per_section: int,
                    batch: list[SectionRow] | None = None) -> dict[tuple[int, int], float]:
    """{(section id, section id): similarity} for the sources' nearest sections above the threshold.

    `batch` (default: the sources) are compared with each other directly; index hits in the
    documents of the batch are ignored, since the index may still hold their previous text.
    """
    batch = sources if batch is None else batch
    batch_docs = {s.document_id for s in batch}
    mat = np.stack([s.vector for s in batch]) if batch else np.zeros((0, 1), np.float32)
    pairs: dict[tuple[int, int], float] = {}
    # Over-fetch: the section itself and stale rows of changed documents also come back.
    fetch = per_section + 1 + (8 if batch_docs else 0)
    for s in sources:
        found: dict[int, float] = {}
        if index is not None:
            for h in index.search(s.vector, fetch, None, min_score=threshold):
                if h.section_id != s.id and h.document_id not in batch_docs:
                    found[h.section_id] = max(found.get(h.section_id, -1.0), h.score)
        if len(batch):
            sims = mat @ s.vector
            for j in np.flatnonzero(sims >= threshold):
                other = batch[int(j)]
                if other.id != s.id:
                    found[other.id] = float(sims[j])
        for other_id, sim in _keep_top(found, per_section):
            key = (min(s.id, other_id), max(s.id, other_id))
            pairs[key] = max(pairs.get(key, -1.0), sim)
    return pairs


def scan_pairs(index: Index, sections: list[SectionRow], *, threshold: float,
               per_section: int) -> dict[tuple[int, int], float]:
    """Candidate pairs of every section, blocked by the index (k nearest each, never all pairs)."""
    allowed = {s.id for s in sections}  # active, embedded sections: retired or stale index rows drop out
    pairs: dict[tuple[int, int], float] = {}
    for s in sections:
        n = 0
        for h in index.search(s.vector, per_section + 5, None, min_score=threshold):
            if h.section_id == s.id or h.section_id not in allowed:
                continue
            key = (min(s.id, h.section_id), max(s.id, h.section_id))
            pairs[key] = max(pairs.get(key, -1.0), h.score)
            n += 1
            if n >= per_section:
                break
    return pairs
