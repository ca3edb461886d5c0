"""Keep section embeddings and the in-memory index in step with the registry.

The registry listener only marks the changed documents on the session. Just before that
session commits, every section of the marked documents still without an embedding is
embedded in one pass (batches of the model's batch size, identical texts once), so a sync
of many files batches across files and an API update embeds right away. After the commit
the index takes the new sections and metadata; a rolled-back change never reaches it.
Unchanged section text keeps its stored embedding (the registry copies it by text hash),
so a restart never re-embeds.
"""

from __future__ import annotations

import logging
import threading
from typing import Iterable

from sqlalchemy import event
from sqlmodel import Session, select

from freshgate.embeddings.embedder import Embedder, EmbedderUnavailable, from_blob, to_blob
from freshgate.embeddings.index import DocMeta, VectorIndex
from freshgate.markdown.sections import context_texts
from freshgate.registry.models import Document, Section
from freshgate.registry.service import Change

log = logging.getLogger(__name__)
_PENDING = "freshgate.lookup.pending"
_APPLY = "freshgate.lookup.apply"
_HOOKED = "freshgate.lookup.hooked"
CONTENT_ACTIONS = frozenset({"registered", "content"})


def embedding_text(title: str, text: str) -> str:
    """What is embedded for a lone section: the document title gives a bare section its context."""
    return f"{title}\n{text}" if title else text


def document_texts(session: Session, doc_ids: Iterable[str] | None = None) -> dict[int, str]:
    """Section id -> what is embedded and indexed: heading path ("Title › Parent › Heading") and body
    (of the given documents, or all)."""
    ids = None if doc_ids is None else list(doc_ids)
    if ids is not None and not ids:
        return {}
    tq, sq = select(Document.id, Document.title), select(Section)
    if ids is not None:
        tq, sq = tq.where(Document.id.in_(ids)), sq.where(Section.document_id.in_(ids))
    titles = dict(session.exec(tq).all())
    by_doc: dict[str, list[Section]] = {}
    for s in session.exec(sq).all():
        by_doc.setdefault(s.document_id, []).append(s)
    out: dict[int, str] = {}
    for doc_id, secs in by_doc.items():
        out.update(zip((s.id for s in secs), context_texts(titles.get(doc_id, ""), secs)))
    return out


def embed_pending(session: Session, embedder: Embedder, doc_ids: Iterable[str] | None = None,
                  batch_size: int = 32) -> int:
    """Embed every section without an embedding (of `doc_ids`, or all); flushes; returns how many."""
    q = select(Section, Document.title).join(Document, Document.id == Section.document_id)
    q = q.where(Section.embedding.is_(None))
    ids = None if doc_ids is None else list(doc_ids)
    if ids is not None:
        if not ids:
            return 0
        q = q.where(Section.document_id.in_(ids))
    rows = list(session.exec(q).all())
    if not rows:
        return 0
    context = document_texts(session, None if ids is None else {s.document_id for s, _ in rows})
    texts = [context[s.id] for s, _title in rows]
    unique = list(dict.fromkeys(texts))
    vecs: dict[str, bytes] = {}
    # One encode call over everything: sentence-transformers sorts by length and batches.
    out = embedder.encode(unique)
    for t, v in zip(unique, out):
        vecs[t] = to_blob(v)
    for (s, _title), t in zip(rows, texts):
        s.embedding = vecs[t]
    session.flush()
    return len(rows)


def _meta(doc: Document) -> DocMeta:
    return DocMeta(doc.id, kind=doc.kind, tags=frozenset(doc.tags or []), status=doc.status)


class SectionIndexer:
    """The registry listener that embeds changed sections and feeds the vector index."""

    def __init__(self, embedder: Embedder, index: VectorIndex, *, batch_size: int = 32, embed: bool = True,
                 lexical=None) -> None:
        self.embedder = embedder
        self.index = index
        self.lexical = lexical  # LexicalIndex kept in step with the vector index (None: vectors only)
        self.batch_size = batch_size
        self.embed = embed
        # Inactive until the process serves lookups (server warm-up, first lookup, eval): a CLI
        # command or a registry test never loads the model; start-up embeds what is missing.
        self.active = False
        self.last_error: str | None = None
        self._build_lock = threading.Lock()
        self._touched: set[str] | None = None  # documents changed while a build runs

    # ---- registry listener ---------------------------------------------------------
    def __call__(self, session: Session, change: Change) -> None:
        """Registry listener: remember the change; the work happens around the commit."""
        if not self.active:
            return
        pending: dict[str, bool] = session.info.setdefault(_PENDING, {})
        pending[change.document_id] = pending.get(change.document_id, False) or change.action in CONTENT_ACTIONS
        hooked: set = session.info.setdefault(_HOOKED, set())
        if id(self) not in hooked:
            hooked.add(id(self))
            event.listen(session, "before_commit", self._before_commit)
            event.listen(session, "after_commit", self._after_commit)

    def _before_commit(self, session: Session) -> None:
        pending: dict[str, bool] = session.info.pop(_PENDING, {})
        if not pending:
            return
        content = [d for d, changed in pending.items() if changed]
        if self.embed and content:
            try:
                embed_pending(session, self.embedder, content, self.batch_size)
                self.last_error = None
            except EmbedderUnavailable as exc:
                # The change still commits; its sections get embedded when the model is back.
                self.last_error = str(exc)
                log.warning("sections of %d document(s) not embedded: %s", len(content), exc)
        session.info.setdefault(_APPLY, []).append(self._snapshot(session, pending))

    def _snapshot(self, session: Session, pending: dict[str, bool]) -> list[tuple]:
        out: list[tuple] = []
        for doc_id, changed in pending.items():
            doc = session.get(Document, doc_id)
            if doc is None:
                out.append(("remove", doc_id, None, None))
            elif changed or not self.index.has_document(doc_id):
                secs = session.exec(select(Section).where(Section.document_id == doc_id)).all()
                rows = [(s.id, s.anchor, from_blob(s.embedding)) for s in secs if s.embedding is not None]
                texts = context_texts(doc.title, secs) if self.lexical is not None else []
                out.append(("replace", doc_id, _meta(doc), rows, [(s.id, s.anchor, t) for s, t in zip(secs, texts)]))
            else:
                out.append(("meta", doc_id, _meta(doc), None))
        return out

    def _after_commit(self, session: Session) -> None:
        for batch in session.info.pop(_APPLY, []):
            self.apply(batch)

    def apply(self, batch: list[tuple]) -> None:
        """Apply committed changes to the index."""
        for op, doc_id, meta, rows, *lex in batch:
            if self._touched is not None:
                self._touched.add(doc_id)
            targets = [(self.index, rows)] + ([(self.lexical, lex[0] if lex else [])] if self.lexical is not None else [])
            for index, items in targets:
                if op == "remove":
                    index.remove_document(doc_id)
                elif op == "replace":
                    index.replace_document(meta, items)
                else:
                    index.update_meta(doc_id, kind=meta.kind, tags=meta.tags, status=meta.status)

    # ---- start-up ------------------------------------------------------------------
    def build(self, engine) -> int:
        """Embed what is missing, then load every stored embedding into the index; returns sections."""
        with self._build_lock:
            self._touched = set()
            try:
                if self.embed:
                    with Session(engine, expire_on_commit=False) as session:
                        n = embed_pending(session, self.embedder, None, self.batch_size)
                        session.commit()
                        if n:
                            log.info("embedded %d section(s) that had no embedding", n)
                with Session(engine) as session:
                    docs = {d.id: d for d in session.exec(select(Document)).all()}
                    q = select(Section.id, Section.document_id, Section.anchor, Section.embedding)
                    by_doc: dict[str, list] = {}
                    for sid, doc_id, anchor, blob in session.exec(q.where(Section.embedding.is_not(None))):
                        by_doc.setdefault(doc_id, []).append((sid, anchor, from_blob(blob)))
                    lex_rows: dict[str, list] = {}
                    if self.lexical is not None:
                        texts = document_texts(session)
                        for sid, doc_id, anchor in session.exec(select(Section.id, Section.document_id, Section.anchor)):
                            lex_rows.setdefault(doc_id, []).append((sid, anchor, texts[sid]))
                keep = [doc_id for doc_id in docs if doc_id not in self._touched]
                self.index.bulk_replace((_meta(docs[d]), by_doc.get(d, [])) for d in keep)
                if self.lexical is not None:
                    self.lexical.bulk_replace((_meta(docs[d]), lex_rows.get(d, [])) for d in keep)
                self.index.ready = True
                return len(self.index)
            finally:
                self._touched = None

