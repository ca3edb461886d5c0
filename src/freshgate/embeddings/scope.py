"""What a search may return, shared by the vector index and the lexical (BM25) index: the per-document
facts scope filters read (`DocMeta`), the scope itself, and one hit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np


@dataclass
class DocMeta:
    """What scope filters need to know about one document."""

    id: str
    kind: str = "source"
    tags: frozenset[str] = frozenset()
    status: str = "active"
    rows: list[int] = field(default_factory=list)
    ordinal: int = -1


def docs_state(by_ordinal: list[DocMeta | None]) -> list[dict | None]:
    """Documents by ordinal as plain data (an index's snapshot state); None where a document was removed."""
    return [None if d is None else {"id": d.id, "kind": d.kind, "tags": sorted(d.tags), "status": d.status,
                                    "rows": list(d.rows)} for d in by_ordinal]


def docs_from_state(docs: list[dict | None]) -> tuple[dict[str, DocMeta], list[DocMeta | None]]:
    """The inverse of `docs_state`: documents by id and by ordinal."""
    by_ordinal = [None if d is None else DocMeta(d["id"], kind=d["kind"], tags=frozenset(d["tags"]),
                                                 status=d["status"], rows=list(d["rows"]), ordinal=ordinal)
                  for ordinal, d in enumerate(docs)]
    return {m.id: m for m in by_ordinal if m is not None}, by_ordinal


@dataclass(frozen=True)
class Hit:
    """One matching section."""

    section_id: int
    document_id: str
    anchor: str
    score: float


@dataclass(frozen=True)
class Scope:
    """Which documents a search may return (None = no restriction)."""

    ids: frozenset[str] | None = None
    tags: frozenset[str] | None = None
    kinds: frozenset[str] | None = None
    exclude_retired: bool = False

    @classmethod
    def of(cls, ids: Iterable[str] | None = None, tags: Iterable[str] | None = None,
           kinds: Iterable[str] | None = None, exclude_retired: bool = False) -> "Scope":
        """A scope from optional lists (empty lists mean no restriction)."""
        f = lambda xs: frozenset(xs) if xs else None  # noqa: E731
        return cls(f(ids), f(tags), f(kinds), exclude_retired)

    @property
    def unrestricted(self) -> bool:
        """True when every document is allowed."""
        return self.ids is None and self.tags is None and self.kinds is None and not self.exclude_retired

    def docs(self, by_id: dict[str, DocMeta]) -> list[DocMeta]:
        """The in-scope documents of a scope naming ids (looked up by id: cost follows the scope, not the registry)."""
        return [d for d in (by_id.get(i) for i in sorted(self.ids or ())) if d is not None and self.allows(d)]

    def allowed(self, by_ordinal: list, cache: dict) -> np.ndarray:
        """Per document ordinal: in scope? Cached per scope until the documents change (`cache.clear()`)."""
        got = cache.get(self)
        if got is None or len(got) != len(by_ordinal):
            if len(cache) > 64:
                cache.clear()
            got = cache[self] = np.array([d is not None and self.allows(d) for d in by_ordinal], dtype=bool)
        return got

    def allows(self, d: DocMeta) -> bool:
        """Whether a document is in scope."""
        return ((self.ids is None or d.id in self.ids) and (self.kinds is None or d.kind in self.kinds)
                and (self.tags is None or bool(self.tags & d.tags))
                and not (self.exclude_retired and d.status == "retired"))
