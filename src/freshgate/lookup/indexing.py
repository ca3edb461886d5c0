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
from freshgate.registry.models import Document, Section
from freshgate.registry.service import Change

log = logging.getLogger(__name__)
_PENDING = "freshgate.lookup.pending"
_APPLY = "freshgate.lookup.apply"
_HOOKED = "freshgate.lookup.hooked"
CONTENT_ACTIONS = frozenset({"registered", "content"})


def embedding_text(title: str, text: str) -> str:
    """What is embedded for a section: the document title gives a bare section its context."""
    return f"{title}\n{text}" if title else text


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
    texts = [embedding_text(title, s.text) for s, title in rows]
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

    def __init__(self, embedder: Embedder, index: VectorIndex, *, batch_size: int = 32, embed: bool = True) -> None:
        self.embedder = embedder
        self.index = index
        self.batch_size = batch_size
        self.embed = embed
        # Inactive until the process serves lookups (server warm-up, first lookup, eval): a CLI
        # command or a registry test never loads the model; start-up embeds what is missing.
        self.active = False
        self.last_error: str | None = None
        self._build_lock = threading.Lock()
        self._touched: set[str] | None = None  # documents changed while a build runs
        # Serialises index writes (commit hook, feed, build) so a stale read never lands after a newer one.
        self._apply_lock = threading.RLock()
        self.watermark: int | None = None  # id of the newest change-log entry the index reflects

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
                out.append(("replace", doc_id, _meta(doc), rows))
            else:
                out.append(("meta", doc_id, _meta(doc), None))
        return out

    def _after_commit(self, session: Session) -> None:
        for batch in session.info.pop(_APPLY, []):
            self.apply(batch)  # read-your-writes in this process; other processes follow the feed

    def apply(self, batch: list[tuple]) -> None:
        """Apply committed changes to the index: the one path every index update takes (commit hook,
        change feed, build), so another index kept next to the vector index hooks in here."""
        with self._apply_lock:
            for op, doc_id, meta, rows in batch:
                if self._touched is not None:
                    self._touched.add(doc_id)
                if op == "remove":
                    self.index.remove_document(doc_id)
                elif op == "replace":
                    self.index.replace_document(meta, rows)
                else:
                    self.index.update_meta(doc_id, kind=meta.kind, tags=meta.tags, status=meta.status)

    # ---- change feed ---------------------------------------------------------------
    def apply_feed(self, engine, changes: list) -> None:
        """Bring the changed documents of feed entries up to date from the database (idempotent)."""
        if not self.index.ready:
            return
        doc_ids = list(dict.fromkeys(c.document_id for c in changes if c.document_id))
        for start in range(0, len(doc_ids), 500):
            chunk = doc_ids[start:start + 500]
            if self.embed and self.active:
                self._embed_missing(engine, chunk)
            with self._apply_lock:
                self.apply(self._load(engine, chunk))

    def _embed_missing(self, engine, doc_ids: list[str]) -> None:
        """Embed sections another process stored without embeddings (e.g. `sync --no-embed`); announce them."""
        from freshgate.feed import service as feed

        try:
            with Session(engine, expire_on_commit=False) as session:
                n = embed_pending(session, self.embedder, doc_ids, self.batch_size)
                if n:
                    for doc_id in doc_ids:
                        feed.record(session, doc_id, "embedded")
                    session.commit()
                    log.info("embedded %d section(s) of %d changed document(s)", n, len(doc_ids))
        except EmbedderUnavailable as exc:
            self.last_error = str(exc)
        except Exception as exc:  # noqa: BLE001 - e.g. the sections changed meanwhile: their own change follows
            log.info("embedding changed sections deferred: %s", exc)

    def _load(self, engine, doc_ids: list[str]) -> list[tuple]:
        with Session(engine) as session:
            docs = {d.id: d for d in session.exec(select(Document).where(Document.id.in_(doc_ids))).all()}
            q = select(Section.id, Section.document_id, Section.anchor, Section.embedding).where(
                Section.document_id.in_(doc_ids), Section.embedding.is_not(None)).order_by(Section.position)
            by_doc: dict[str, list] = {}
            for sid, doc_id, anchor, blob in session.exec(q):
                by_doc.setdefault(doc_id, []).append((sid, anchor, from_blob(blob)))
        return [("remove", d, None, None) if d not in docs else ("replace", d, _meta(docs[d]), by_doc.get(d, []))
                for d in doc_ids]

    # ---- start-up ------------------------------------------------------------------
    def build(self, engine) -> int:
        """Embed what is missing, then load every stored embedding into the index; returns sections."""
        with self._build_lock:
            self._touched = set()
            try:
                from freshgate.feed import service as feed

                with engine.connect() as conn:
                    watermark = feed.latest_id(conn)  # before reading: later changes are replayed from the feed
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
                self.index.bulk_replace((_meta(doc), by_doc.get(doc_id, [])) for doc_id, doc in docs.items()
                                        if doc_id not in self._touched)
                self.watermark = watermark
                self.index.ready = True
                return len(self.index)
            finally:
                self._touched = None

