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
    """Embed every section without an embedding (of `doc_ids`, or all); flushes; returns how many.
    The owed embeddings (feed.owed) read before the sections are settled in the same transaction."""
    from freshgate.feed import owed

    q = select(Section, Document.title).join(Document, Document.id == Section.document_id)
    q = q.where(Section.embedding.is_(None))
    ids = None if doc_ids is None else list(doc_ids)
    if ids is not None:
        if not ids:
            return 0
        q = q.where(Section.document_id.in_(ids))
    settled = owed.read(session, [owed.EMBED], ids)
    rows = list(session.exec(q).all())
    if settled:
        owed.settle(session, settled)  # undone with the transaction if the embedding below fails
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
        # Serialises index writes (commit hook, feed, build) so a stale read never lands after a newer one.
        self._apply_lock = threading.RLock()
        self.watermark: int | None = None  # id of the newest change-log entry the index reflects
        self.snapshot_path = None  # pathlib.Path of the index snapshot; None = no snapshot
        self.fingerprint = ""  # which database and embedder the snapshot belongs to
        self.snapshot_error: str | None = None
        self.snapshot_bytes: int | None = None
        self.build_source: str | None = None  # snapshot | rebuilt
        self.lexical_source: str | None = None  # snapshot | rebuilt (the BM25 index)

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
            self.apply(batch)  # read-your-writes in this process; other processes follow the feed

    def apply(self, batch: list[tuple]) -> None:
        """Apply committed changes to the index: the one path every index update takes (commit hook,
        change feed, build), so another index kept next to the vector index hooks in here."""
        with self._apply_lock:
            for op, doc_id, meta, rows, *lex in batch:
                if self._touched is not None:
                    self._touched.add(doc_id)
                targets = [(self.index, rows)]
                if self.lexical is not None:  # the lexical index follows every update the vector index takes
                    targets.append((self.lexical, lex[0] if lex else []))
                for index, items in targets:
                    if op == "remove":
                        index.remove_document(doc_id)
                    elif op == "replace":
                        index.replace_document(meta, items)
                    else:
                        index.update_meta(doc_id, kind=meta.kind, tags=meta.tags, status=meta.status)

    # ---- change feed ---------------------------------------------------------------
    def apply_feed(self, engine, changes: list) -> None:
        """Bring the changed documents of feed entries up to date from the database (idempotent)."""
        if not self.index.ready:
            return
        self._refresh(engine, [c.document_id for c in changes if c.document_id])

    def _refresh(self, engine, doc_ids: list[str]) -> None:
        """Reload these documents from the database into the index."""
        doc_ids = list(dict.fromkeys(doc_ids))
        for start in range(0, len(doc_ids), 500):
            chunk = doc_ids[start:start + 500]
            if self.embed and self.active:
                self._embed_missing(engine, chunk)
            with self._apply_lock:
                self.apply(self._load(engine, chunk))

    def resync(self, engine) -> int:
        """Reload every document (those in the database and those in the index) after a gap in the
        feed (it was pruned past the watermark); returns the watermark the index now reflects."""
        from freshgate.feed import service as feed

        with engine.connect() as conn:
            watermark = feed.latest_id(conn)  # before reading: later changes follow from the feed
        with Session(engine) as session:
            in_db = list(session.exec(select(Document.id)))
        self._refresh(engine, list(dict.fromkeys(in_db + self.index.documents())))
        self.watermark = watermark
        return watermark

    def _embed_missing(self, engine, doc_ids: list[str]) -> None:
        """Embed sections another process stored without embeddings (e.g. `sync --no-embed`); announce them."""
        from freshgate.feed import service as feed

        try:
            with Session(engine, expire_on_commit=False) as session:
                n = embed_pending(session, self.embedder, doc_ids, self.batch_size)
                if n:
                    for doc_id in doc_ids:
                        feed.record(session, doc_id, "embedded")
                    log.info("embedded %d section(s) of %d changed document(s)", n, len(doc_ids))
                session.commit()  # also when only owed rows were settled
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
            lex = self._lexical_rows(session, list(docs)) if self.lexical is not None else {}
        return [("remove", d, None, None) if d not in docs else
                ("replace", d, _meta(docs[d]), by_doc.get(d, []), lex.get(d, [])) for d in doc_ids]

    @staticmethod
    def _lexical_rows(session: Session, doc_ids: list[str] | None) -> dict[str, list]:
        """Document id -> (section id, anchor, context text) of its sections (of `doc_ids`, or all)."""
        texts = document_texts(session, doc_ids)
        q = select(Section.id, Section.document_id, Section.anchor)
        if doc_ids is not None:
            q = q.where(Section.document_id.in_(doc_ids))
        out: dict[str, list] = {}
        for sid, doc_id, anchor in session.exec(q):
            out.setdefault(doc_id, []).append((sid, anchor, texts[sid]))
        return out

    def _build_lexical(self, engine) -> None:
        """Fill the lexical index from the database (after the vector index came from a snapshot)."""
        with Session(engine) as session:
            docs = {d.id: d for d in session.exec(select(Document)).all()}
            lex = self._lexical_rows(session, None)
        self.lexical.bulk_replace((_meta(docs[d]), lex.get(d, [])) for d in docs if d not in self._touched)

    # ---- start-up ------------------------------------------------------------------
    def build(self, engine) -> int:
        """Make the index ready: from the snapshot caught up from the feed when a valid one exists,
        else from every stored embedding (then a snapshot is written); returns sections."""
        from freshgate.feed import service as feed

        with self._build_lock:
            self._touched = set()
            try:
                if self._from_snapshot(engine):
                    return len(self.index)
                with engine.connect() as conn:
                    watermark = feed.latest_id(conn)  # before reading: later changes are replayed from the feed
                self._embed_all_missing(engine)
                with Session(engine) as session:
                    docs = {d.id: d for d in session.exec(select(Document)).all()}
                    q = select(Section.id, Section.document_id, Section.anchor, Section.embedding)
                    by_doc: dict[str, list] = {}
                    for sid, doc_id, anchor, blob in session.exec(q.where(Section.embedding.is_not(None))):
                        by_doc.setdefault(doc_id, []).append((sid, anchor, from_blob(blob)))
                    lex_rows = self._lexical_rows(session, None) if self.lexical is not None else {}
                keep = [doc_id for doc_id in docs if doc_id not in self._touched]
                self.index.bulk_replace((_meta(docs[d]), by_doc.get(d, [])) for d in keep)
                if self.lexical is not None:
                    self.lexical.bulk_replace((_meta(docs[d]), lex_rows.get(d, [])) for d in keep)
                self.watermark = watermark
                self.index.ready = True
                self.build_source = self.lexical_source = "rebuilt"
            finally:
                self._touched = None
        self.save_snapshot(engine)
        return len(self.index)

    def _embed_all_missing(self, engine) -> list[str]:
        """Embed every section stored without an embedding; announce them on the feed; their documents."""
        if not self.embed:
            return []
        from freshgate.feed import service as feed

        with Session(engine, expire_on_commit=False) as session:
            ids = list(session.exec(select(Section.document_id).where(Section.embedding.is_(None)).distinct()))
            if not ids:
                return []
            n = embed_pending(session, self.embedder, ids, self.batch_size)
            for doc_id in ids:
                feed.record(session, doc_id, "embedded")
            session.commit()
        log.info("embedded %d section(s) that had no embedding", n)
        return ids

    # ---- snapshot --------------------------------------------------------------------
    def _from_snapshot(self, engine) -> bool:
        """Load the snapshot and catch up from the feed; False (rebuild) when there is none or it is refused."""
        if self.snapshot_path is None:
            return False
        from freshgate.embeddings import snapshot
        from freshgate.feed import service as feed

        if not self.snapshot_path.exists():
            log.info("no index snapshot at %s: building the index", self.snapshot_path)
            return False
        try:
            with engine.connect() as conn:
                loaded = snapshot.load(self.index, self.snapshot_path, fingerprint=self.fingerprint,
                                       check=lambda wm, at: _same_history(conn, wm, at), lexical=self.lexical)
        except snapshot.SnapshotInvalid as exc:
            log.warning("index snapshot %s refused (%s): rebuilding", self.snapshot_path, exc)
            self.snapshot_error = str(exc)
            self.index.import_state({"vecs": [], "alive": [], "row_doc": [], "row_section": [], "anchors": [],
                                     "docs": []})
            if self.lexical is not None:
                self.lexical.import_state(self.lexical.empty_state())
            return False
        self.lexical_source = "snapshot" if loaded.lexical else None
        if self.lexical is not None and not loaded.lexical:
            # An older snapshot without the BM25 part: rebuilt from the stored texts, as of its watermark
            # (the feed replay below brings both indexes forward together).
            self._build_lexical(engine)
            self.lexical_source = "rebuilt"
        self.watermark = loaded.watermark
        self.index.ready = True  # the feed replay below goes through the ordinary path
        with engine.connect() as conn:
            behind = 0
            while True:
                changes = feed.changes_since(conn, self.watermark)
                if not changes:
                    break
                self._refresh(engine, [c.document_id for c in changes if c.document_id])
                self.watermark = changes[-1].id
                behind += len(changes)
        missing = self._embed_all_missing(engine)
        if missing:
            self._refresh(engine, missing)
        self.build_source = "snapshot"
        log.info("index loaded from snapshot %s (%d sections, watermark %d) and caught up %d change(s)",
                 self.snapshot_path, loaded.sections, loaded.watermark, behind)
        return True

    def save_snapshot(self, engine) -> int | None:
        """Write the index and its watermark to the snapshot file (atomic); its size, or None."""
        if self.snapshot_path is None or not self.index.ready or self.watermark is None:
            return None
        from freshgate.embeddings import snapshot
        from freshgate.feed import service as feed

        try:
            with self._apply_lock:  # both indexes and their watermark as one consistent triple
                wm = self.watermark
                state = snapshot.export(self.index, self.lexical)
            with engine.connect() as conn:
                at = feed.created_at(conn, wm) if wm else None
            size = snapshot.save(self.index, self.snapshot_path, watermark=wm, fingerprint=self.fingerprint,
                                 watermark_at=at.isoformat() if at else None, state=state)
            self.snapshot_bytes = size
            log.info("index snapshot written: %s (%.1f MB, watermark %d)", self.snapshot_path, size / 1e6, wm)
            return size
        except Exception as exc:  # noqa: BLE001 - a snapshot only speeds up the next start
            log.warning("index snapshot not written to %s: %s", self.snapshot_path, exc)
            return None


def _same_history(conn, watermark: int, at: str | None) -> bool:
    """The snapshot's watermark names the same change in this database (not a recreated one)."""
    from freshgate.feed import service as feed

    from freshgate.feed.prune import pruned_through

    if watermark < pruned_through(conn):
        return False  # changes after it were pruned: the feed cannot bring it up to date
    if watermark == 0:
        return True
    created = feed.created_at(conn, watermark)
    return created is not None and at is not None and created.isoformat()[:19] == at[:19]
