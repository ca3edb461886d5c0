"""Registering documents from parsed files: one at a time (`register`) or, for documents not yet
registered, many at once (`register_new_batch`: a few bulk INSERTs instead of a dozen ORM
round trips per file). Both write the same rows, audit events and announcements.

A mixin of `RegistryService` (which provides `session`, `ctx`, `ensure_owner`, `_flush`,
`_record`, `_announce`, `_apply_retire`, `sections`).
"""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any, Sequence

from sqlalchemy import insert
from sqlmodel import select

from freshgate.errors import Conflict
from freshgate.markdown.parse import ParsedDocument, format_duration
from freshgate.markdown.sections import split_sections
from freshgate.registry import merge
from freshgate.registry.models import AuditEvent, Dependency, Document, DocumentVersion, Owner, Section


def snapshot(doc: Any) -> dict[str, Any]:
    """A JSON-able picture of a document's registry fields, for audit before/after."""
    return {
        "title": doc.title, "owner": doc.owner_id, "criticality": doc.criticality,
        "review_every": format_duration(doc.review_every_days),
        "last_verified": doc.last_verified.isoformat() if doc.last_verified else None,
        "verified_by": doc.verified_by, "expires": doc.expires.isoformat() if doc.expires else None,
        "status": doc.status, "successor": doc.successor, "lane": doc.lane, "version": doc.version,
        "content_hash": doc.content_hash, "tags": list(doc.tags or []), "tools": list(doc.tools or []),
    }


def _aware(dt: datetime | None) -> datetime | None:
    return dt.replace(tzinfo=timezone.utc) if dt is not None and dt.tzinfo is None else dt


def _fields(parsed: ParsedDocument, owner_id: str) -> dict[str, Any]:
    """The document columns a file sets on every registration (new or update)."""
    meta = parsed.meta
    return dict(
        kind=meta.kind, title=meta.title, owner_id=owner_id, criticality=meta.criticality,
        review_every_days=meta.review_every, expires=parsed.expires.date() if parsed.expires else None,
        tags=list(meta.tags), url=meta.url, supersedes=meta.supersedes, lane=meta.lane, tools=list(meta.tools),
    )


# Front-matter fields an action can also change, and the columns each one sets (three-way rule).
GOVERNED = {"owner": ("owner_id",), "criticality": ("criticality",), "review_every": ("review_every_days",),
            "expires": ("expires",), "tags": ("tags",)}
GOVERNED_COLUMNS = tuple(c for cols in GOVERNED.values() for c in cols)


def _section_row(doc_id: str, version: int, sec: Any, embedding: bytes | None = None) -> dict[str, Any]:
    return dict(document_id=doc_id, version=version, anchor=sec.anchor, heading=sec.heading, level=sec.level,
                position=sec.position, text=sec.text, text_hash=sec.text_hash, embedding=embedding)


class Registration:
    """File registration for `RegistryService`."""

    def _replace_sections(self, doc: Document, body: str, sections: list | None = None,
                          new_doc: bool = False) -> None:
        current = [] if new_doc else self.sections(doc.id)
        old = {s.text_hash: s.embedding for s in current}  # unchanged text keeps its embedding
        for s in current:
            self.session.delete(s)
        if current:
            self.session.flush()  # free the anchors before re-inserting them
        for sec in (sections if sections is not None else split_sections(body, doc.id)):
            self.session.add(Section(**_section_row(doc.id, doc.version, sec, old.get(sec.text_hash))))

    def _new_version(self, doc: Document, body: str, origin: str, actor: str, front_matter: dict,
                     sections: list | None = None, new_doc: bool = False) -> None:
        # Write the document row (revision check, row lock) before anything that depends on it,
        # so a concurrent writer fails here as PreconditionFailed, not later on a unique index.
        self._flush(doc)
        self.session.add(DocumentVersion(document_id=doc.id, version=doc.version, content=body,
                                         content_hash=doc.content_hash, front_matter=front_matter,
                                         origin=origin, created_by=actor, created_at=self.ctx.clock()))
        self._replace_sections(doc, body, sections, new_doc)

    def register(self, parsed: ParsedDocument, *, actor: str, path: str | None = None,
                 file_hash: str | None = None) -> tuple[str, Document]:
        """Create or update a document from a parsed file; returns (added|updated|unchanged, doc)."""
        meta = parsed.meta
        now = self.ctx.clock()
        owner = self.ensure_owner(meta.owner.id, meta.owner.name, meta.owner.contact, actor)
        doc = self.session.get(Document, meta.id)
        fm = meta.model_dump(mode="json")
        fields = _fields(parsed, owner.id)
        if doc is None:
            doc = Document(id=meta.id, version=1, content_hash=parsed.content_hash, path=path, file_hash=file_hash,
                           status=meta.status, successor=meta.successor, last_verified=parsed.last_verified,
                           verified_by=meta.verified_by if parsed.last_verified else None,
                           changed_at=parsed.updated, created_at=now, updated_at=now, **fields)
            doc.file_fields = merge.base_of(merge.file_values(fm), merge.registry_values(doc), [])
            self.session.add(doc)
            self._new_version(doc, parsed.body, "file", actor, fm, parsed.sections, new_doc=True)
            self._set_dependencies(doc, meta.sources)
            self._record(actor, "register", doc.id, after=snapshot(doc), detail=path or "")
            self.session.flush()
            self._announce(doc, "registered")
            return "added", doc
        if doc.kind != meta.kind:
            raise Conflict(f"id {meta.id!r} is already registered as a {doc.kind}, not a {meta.kind}")
        before = snapshot(doc)
        content_changed = parsed.content_hash != doc.content_hash
        stored_lv = _aware(doc.last_verified)
        declared_lv = parsed.last_verified
        # Three-way rule (registry/merge.py): a governed field comes from the file only when the file
        # changed it since the last sync; otherwise an owner's action through the API/CLI stands.
        base = doc.file_fields
        file_now = merge.file_values(fm)
        registry_then = merge.registry_values(doc)
        plan = merge.decide(base, None if base else self._declared_front_matter(doc), file_now)
        for k in GOVERNED_COLUMNS:
            fields.pop(k)
        for k, v in fields.items():
            setattr(doc, k, v)
        governed = _fields(parsed, owner.id)
        for f, columns in GOVERNED.items():
            if plan[f] == "apply":
                for k in columns:
                    setattr(doc, k, governed[k])
        # A relative date (`-10d`) resolves later on every sync; only a `last_verified` the author
        # actually rewrote counts as a new verification, or no edit would ever be `changed`.
        reverified = plan["last_verified"] == "apply" and declared_lv is not None and (
            stored_lv is None or declared_lv > stored_lv)
        if plan["last_verified"] == "apply" and (base is not None or reverified):
            doc.last_verified, doc.verified_by = declared_lv, meta.verified_by if declared_lv else None
        doc.path, doc.file_hash, doc.updated_at = path or doc.path, file_hash or doc.file_hash, now
        if content_changed:
            doc.version += 1
            doc.content_hash = parsed.content_hash
            doc.changed_at = None if reverified else now
            self._new_version(doc, parsed.body, "file", actor, fm, parsed.sections)
        if plan["status"] == "apply":
            if meta.status == "retired" and (doc.status != "retired" or doc.successor != meta.successor):
                self._apply_retire(doc, meta.successor)
            elif meta.status == "active" and doc.status == "retired" and base is not None:
                doc.status, doc.successor = "active", None
        self._set_dependencies(doc, meta.sources)
        self._note_fields(doc, base, plan, file_now, registry_then, actor, path)
        self._flush(doc)
        after = snapshot(doc)
        if after == before:
            return "unchanged", doc
        self._record(actor, "update" if content_changed else "update_meta", doc.id, before=before, after=after,
                     detail=path or "")
        self._announce(doc, "content" if content_changed else "meta")
        return "updated", doc

    def register_new_batch(self, items: Sequence[tuple[ParsedDocument, str | None, str | None]], *,
                           actor: str) -> list[str]:
        """Register (parsed, path, file hash) of documents not registered yet, in bulk; their ids.

        Same rows, audit events and announcements as `register` for a new document. Raises the
        database's error if an id exists after all: the caller rolls back and registers one by one.
        """
        if not items:
            return []
        now = self.ctx.clock()
        # One query for the owners; held here, so that `ensure_owner` finds them in the session
        # (its identity map only keeps objects someone refers to).
        owner_ids = {p.meta.owner.id for p, _path, _hash in items}
        owners = {o.id: o for o in self.session.exec(select(Owner).where(Owner.id.in_(owner_ids))).all()}
        docs, versions, sections, deps, audits = [], [], [], [], []
        for parsed, path, file_hash in items:
            meta = parsed.meta
            owner = self.ensure_owner(meta.owner.id, meta.owner.name, meta.owner.contact, actor)
            if meta.owner.id not in owners:  # new: flush it once so the next file finds it without a query
                self.session.flush()
                owners[owner.id] = owner
            row = dict(id=meta.id, version=1, content_hash=parsed.content_hash, path=path, file_hash=file_hash,
                       status=meta.status, successor=meta.successor, last_verified=parsed.last_verified,
                       verified_by=meta.verified_by if parsed.last_verified else None, changed_at=parsed.updated,
                       created_at=now, updated_at=now, fetch_failures=0, revision=1, **_fields(parsed, owner.id))
            row["file_fields"] = merge.base_of(merge.file_values(meta.model_dump(mode="json")),
                                               merge.registry_values(SimpleNamespace(**row)), [])
            docs.append(row)
            versions.append(dict(document_id=meta.id, version=1, content=parsed.body, content_hash=parsed.content_hash,
                                 front_matter=meta.model_dump(mode="json"), origin="file", created_by=actor,
                                 created_at=now))
            secs = parsed.sections if parsed.sections is not None else split_sections(parsed.body, meta.id)
            sections.extend(_section_row(meta.id, 1, sec) for sec in secs)
            if meta.kind == "sop":
                deps.extend(dict(sop_id=meta.id, source_id=sid) for sid in dict.fromkeys(meta.sources))
            audits.append(dict(at=now, actor=actor, action="register", document_id=meta.id, owner_id=None,
                               before=None, after=snapshot(SimpleNamespace(**row)), detail=(path or "")[:2000]))
        self.session.flush()  # new owners (and their audit events) before the documents that name them
        conn = self.session.connection()
        for model, rows in ((Document, docs), (DocumentVersion, versions), (Section, sections),
                            (Dependency, deps), (AuditEvent, audits)):
            if rows:
                conn.execute(insert(model.__table__), rows)
        for row in docs:
            self._announce_change(row["id"], "registered", 1)
        return [row["id"] for row in docs]

    def _note_fields(self, doc: Document, base: dict | None, plan: dict[str, str], file_now: dict,
                     registry_then: dict, actor: str, path: str | None) -> None:
        """Report the fields where registry and file disagree; remember this sync as the next base."""
        after = merge.registry_values(doc)
        kept: list[str] = []
        for f in merge.FIELDS:
            if plan[f] == "keep":
                if merge.drifted(f, base, file_now[f], after):
                    kept.append(f)
                    self.field_notes.append(merge.FieldNote(
                        doc.id, f, merge.show(f, after[f]), merge.show(f, file_now[f]), "kept", path or "",
                        merge.origin(self.session, doc.id, f, ignore_actor=actor), after[f]))
            elif merge.registry_changed(base, registry_then, f) and registry_then[f] != after[f]:
                self.field_notes.append(merge.FieldNote(
                    doc.id, f, merge.show(f, registry_then[f]), merge.show(f, file_now[f]), "file_wins", path or "",
                    merge.origin(self.session, doc.id, f, ignore_actor=actor), after[f]))
        new_base = merge.base_of(file_now, after, kept)
        if doc.file_fields != new_base:
            doc.file_fields = new_base

    def _declared_front_matter(self, doc: Document) -> dict | None:
        """The front matter of the current version (None if it came from the API)."""
        q = select(DocumentVersion.front_matter).where(DocumentVersion.document_id == doc.id,
                                                       DocumentVersion.version == doc.version)
        return self.session.exec(q).first() or None

    def _declared_last_verified(self, doc: Document) -> Any:
        """`last_verified` as written in the front matter of the current version (None if from the API)."""
        q = select(DocumentVersion.front_matter).where(DocumentVersion.document_id == doc.id,
                                                       DocumentVersion.version == doc.version)
        fm = self.session.exec(q).first()
        return fm.get("last_verified") if fm else None

    def _set_dependencies(self, doc: Document, source_ids: list[str]) -> None:
        if doc.kind != "sop":
            return
        current = {d.source_id: d for d in self.session.exec(select(Dependency).where(Dependency.sop_id == doc.id))}
        for sid in set(current) - set(source_ids):
            self.session.delete(current[sid])
        for sid in dict.fromkeys(source_ids):
            if sid not in current:
                self.session.add(Dependency(sop_id=doc.id, source_id=sid))
