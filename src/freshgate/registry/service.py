"""The registry's write side: register, verify, update, retire, transfer, owners, audit.

Services flush; the edge (route, CLI command, job) commits. Every change writes an
audit event, and every change of text is announced to listeners (embeddings, conflicts).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, select

from freshgate.errors import Conflict, Invalid, NotFound, PreconditionFailed
from freshgate.freshness.rules import Freshness
from freshgate.markdown.parse import ParsedDocument, content_hash, format_duration
from freshgate.markdown.sections import split_sections
from freshgate.registry.models import AuditEvent, Dependency, Document, DocumentVersion, Owner, Section
from freshgate.registry.views import RulesConfig, freshness_map

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Change:
    """What changed about a document, for listeners (embedding index, conflict checker)."""

    document_id: str
    action: str  # registered | content | retired | unretired | verified | owner | meta
    version: int


Listener = Callable[[Session, Change], None]


@dataclass
class RegistryContext:
    """Everything the registry service needs besides a session."""

    rules: RulesConfig = field(default_factory=RulesConfig)
    clock: Callable[[], datetime] = utcnow
    listeners: list[Listener] = field(default_factory=list)


def snapshot(doc: Document) -> dict[str, Any]:
    """A JSON-able picture of a document's registry fields, for audit before/after."""
    return {
        "title": doc.title, "owner": doc.owner_id, "criticality": doc.criticality,
        "review_every": format_duration(doc.review_every_days),
        "last_verified": doc.last_verified.isoformat() if doc.last_verified else None,
        "verified_by": doc.verified_by, "expires": doc.expires.isoformat() if doc.expires else None,
        "status": doc.status, "successor": doc.successor, "lane": doc.lane, "version": doc.version,
        "content_hash": doc.content_hash, "tags": list(doc.tags or []),
    }


def _aware(dt: datetime | None) -> datetime | None:
    return dt.replace(tzinfo=timezone.utc) if dt is not None and dt.tzinfo is None else dt


class RegistryService:
    """Reads and writes of sources, SOP cards and owners within one session."""

    def __init__(self, session: Session, ctx: RegistryContext | None = None) -> None:
        self.session = session
        self.ctx = ctx or RegistryContext()

    # ---- reads -------------------------------------------------------------
    def get(self, doc_id: str) -> Document:
        """One document by id, or NotFound."""
        doc = self.session.get(Document, doc_id)
        if doc is None:
            raise NotFound(f"no document with id {doc_id!r}")
        return doc

    def freshness(self, docs: list[Document], now: datetime | None = None) -> dict[str, Freshness]:
        """Computed freshness of documents at `now`."""
        return freshness_map(self.session, docs, now or self.ctx.clock(), self.ctx.rules)

    def all_documents(self) -> list[Document]:
        """Every registered document, ordered by id."""
        return list(self.session.exec(select(Document).order_by(Document.id)).all())

    def versions(self, doc_id: str) -> list[DocumentVersion]:
        """Every version of a document, newest first."""
        q = select(DocumentVersion).where(DocumentVersion.document_id == doc_id)
        return list(self.session.exec(q.order_by(DocumentVersion.version.desc())).all())

    def sections(self, doc_id: str) -> list[Section]:
        """The sections of a document's current version, in order."""
        q = select(Section).where(Section.document_id == doc_id).order_by(Section.position)
        return list(self.session.exec(q).all())

    def dependencies(self, doc_id: str) -> list[str]:
        """Ids of the sources an SOP card relies on."""
        q = select(Dependency.source_id).where(Dependency.sop_id == doc_id).order_by(Dependency.source_id)
        return list(self.session.exec(q).all())

    def dependents(self, doc_id: str) -> list[str]:
        """Ids of the SOP cards that rely on a source."""
        q = select(Dependency.sop_id).where(Dependency.source_id == doc_id).order_by(Dependency.sop_id)
        return list(self.session.exec(q).all())

    def audit(self, doc_id: str | None = None, limit: int = 200) -> list[AuditEvent]:
        """Audit events, newest first, optionally of one document."""
        q = select(AuditEvent)
        if doc_id is not None:
            q = q.where(AuditEvent.document_id == doc_id)
        return list(self.session.exec(q.order_by(AuditEvent.id.desc()).limit(limit)).all())

    def owners(self) -> list[Owner]:
        """Every owner, ordered by id."""
        return list(self.session.exec(select(Owner).order_by(Owner.id)).all())

    def owner(self, owner_id: str) -> Owner:
        """One owner by id, or NotFound."""
        owner = self.session.get(Owner, owner_id)
        if owner is None:
            raise NotFound(f"no owner with id {owner_id!r}")
        return owner

    # ---- helpers -------------------------------------------------------------
    def _record(self, actor: str, action: str, doc_id: str | None = None, *, owner_id: str | None = None,
                before: dict | None = None, after: dict | None = None, detail: str = "") -> None:
        self.session.add(AuditEvent(at=self.ctx.clock(), actor=actor, action=action, document_id=doc_id,
                                    owner_id=owner_id, before=before, after=after, detail=detail[:2000]))

    def record_event(self, actor: str, action: str, doc_id: str | None = None, *, before: dict | None = None,
                     after: dict | None = None, detail: str = "") -> None:
        """Append an audit event on behalf of another domain (e.g. a conflict verdict)."""
        self._record(actor, action, doc_id, before=before, after=after, detail=detail)

    def _announce(self, doc: Document, action: str) -> None:
        change = Change(doc.id, action, doc.version)
        for listener in self.ctx.listeners:
            listener(self.session, change)

    def _check_revision(self, doc: Document, if_match: int | None) -> None:
        if if_match is not None and if_match != doc.revision:
            raise PreconditionFailed(
                f"{doc.id} is at revision {doc.revision}, not {if_match}: someone changed it; reload and retry",
                current_revision=doc.revision,
            )

    def _flush(self, doc: Document) -> None:
        doc_id = doc.id  # read before flushing: after a failed flush the instance cannot be loaded
        try:
            self.session.flush()
        except StaleDataError:
            # Another writer committed between our read and our `UPDATE ... WHERE revision = n`.
            raise PreconditionFailed(f"{doc_id} was changed by someone else at the same time; reload and retry") from None

    def ensure_owner(self, owner_id: str, name: str = "", contact: str = "", actor: str = "system") -> Owner:
        """The owner with this id, created (and audited) if new."""
        owner = self.session.get(Owner, owner_id)
        if owner is None:
            owner = Owner(id=owner_id, name=name or owner_id, contact=contact, active=True, created_at=self.ctx.clock())
            self.session.add(owner)
            self._record(actor, "owner_created", owner_id=owner_id, after={"name": owner.name, "contact": contact})
        elif (name and name != owner.name) or (contact and contact != owner.contact):
            before = {"name": owner.name, "contact": owner.contact}
            owner.name, owner.contact = name or owner.name, contact or owner.contact
            self._record(actor, "owner_updated", owner_id=owner_id, before=before,
                         after={"name": owner.name, "contact": owner.contact})
        return owner

    def _replace_sections(self, doc: Document, body: str, sections: list | None = None,
                          new_doc: bool = False) -> None:
        current = [] if new_doc else self.sections(doc.id)
        old = {s.text_hash: s.embedding for s in current}  # unchanged text keeps its embedding
        for s in current:
            self.session.delete(s)
        if current:
            self.session.flush()  # free the anchors before re-inserting them
        for sec in (sections if sections is not None else split_sections(body, doc.id)):
            self.session.add(Section(document_id=doc.id, version=doc.version, anchor=sec.anchor,
                                     heading=sec.heading, level=sec.level, position=sec.position,
                                     text=sec.text, text_hash=sec.text_hash, embedding=old.get(sec.text_hash)))

    def _new_version(self, doc: Document, body: str, origin: str, actor: str, front_matter: dict,
                     sections: list | None = None, new_doc: bool = False) -> None:
        # Write the document row (revision check, row lock) before anything that depends on it,
        # so a concurrent writer fails here as PreconditionFailed, not later on a unique index.
        self._flush(doc)
        self.session.add(DocumentVersion(document_id=doc.id, version=doc.version, content=body,
                                         content_hash=doc.content_hash, front_matter=front_matter,
                                         origin=origin, created_by=actor, created_at=self.ctx.clock()))
        self._replace_sections(doc, body, sections, new_doc)

    # ---- writes --------------------------------------------------------------
    def register(self, parsed: ParsedDocument, *, actor: str, path: str | None = None,
                 file_hash: str | None = None) -> tuple[str, Document]:
        """Create or update a document from a parsed file; returns (added|updated|unchanged, doc)."""
        meta = parsed.meta
        now = self.ctx.clock()
        owner = self.ensure_owner(meta.owner.id, meta.owner.name, meta.owner.contact, actor)
        doc = self.session.get(Document, meta.id)
        fm = meta.model_dump(mode="json")
        fields = dict(
            kind=meta.kind, title=meta.title, owner_id=owner.id, criticality=meta.criticality,
            review_every_days=meta.review_every, expires=parsed.expires.date() if parsed.expires else None,
            tags=list(meta.tags), url=meta.url, supersedes=meta.supersedes, lane=meta.lane, tools=list(meta.tools),
        )
        if doc is None:
            doc = Document(id=meta.id, version=1, content_hash=parsed.content_hash, path=path, file_hash=file_hash,
                           status=meta.status, successor=meta.successor, last_verified=parsed.last_verified,
                           verified_by=meta.verified_by if parsed.last_verified else None,
                           changed_at=parsed.updated, created_at=now, updated_at=now, **fields)
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
        # A relative date (`-10d`) resolves later on every sync; only a `last_verified` the author
        # actually rewrote counts as a new verification, or no edit would ever be `changed`.
        rewritten = meta.last_verified != self._declared_last_verified(doc)
        reverified = rewritten and declared_lv is not None and (stored_lv is None or declared_lv > stored_lv)
        for k, v in fields.items():
            setattr(doc, k, v)
        doc.path, doc.file_hash, doc.updated_at = path or doc.path, file_hash or doc.file_hash, now
        if reverified:
            # The file's author verified it again together with this edit.
            doc.last_verified, doc.verified_by = declared_lv, meta.verified_by
        if content_changed:
            doc.version += 1
            doc.content_hash = parsed.content_hash
            doc.changed_at = None if reverified else now
            self._new_version(doc, parsed.body, "file", actor, fm, parsed.sections)
        if meta.status == "retired" and doc.status != "retired":
            self._apply_retire(doc, meta.successor)
        self._set_dependencies(doc, meta.sources)
        self._flush(doc)
        after = snapshot(doc)
        if after == before:
            return "unchanged", doc
        self._record(actor, "update" if content_changed else "update_meta", doc.id, before=before, after=after,
                     detail=path or "")
        self._announce(doc, "content" if content_changed else "meta")
        return "updated", doc

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

    def verify(self, doc_id: str, *, actor: str, if_match: int | None = None, note: str = "") -> Document:
        """Renew: the owner confirms the current content is right as of now."""
        doc = self.get(doc_id)
        self._check_revision(doc, if_match)
        if doc.status == "retired":
            raise Conflict(f"{doc_id} is retired; un-retire it before verifying")
        before = snapshot(doc)
        doc.last_verified, doc.verified_by, doc.changed_at = self.ctx.clock(), actor, None
        doc.updated_at = self.ctx.clock()
        self._flush(doc)
        self._record(actor, "verify", doc.id, before=before, after=snapshot(doc), detail=note)
        self._announce(doc, "verified")
        return doc

    def update_content(self, doc_id: str, body: str, *, actor: str, if_match: int | None = None,
                       verify: bool = False, origin: str = "api") -> Document:
        """Replace the content with a new version (state `changed` unless `verify`)."""
        doc = self.get(doc_id)
        self._check_revision(doc, if_match)
        if not body.strip():
            raise Invalid("content must not be empty", errors=[{"field": "content", "message": "is empty"}])
        new_hash = content_hash(body)
        before = snapshot(doc)
        now = self.ctx.clock()
        if new_hash != doc.content_hash:
            doc.version += 1
            doc.content_hash = new_hash
            doc.changed_at = now
            self._new_version(doc, body.strip() + "\n", origin, actor, {})
        if verify:
            doc.last_verified, doc.verified_by, doc.changed_at = now, actor, None
        doc.updated_at = now
        self._flush(doc)
        self._record(actor, "update", doc.id, before=before, after=snapshot(doc))
        self._announce(doc, "content")
        return doc

    def _apply_retire(self, doc: Document, successor: str | None) -> None:
        if successor is not None:
            if successor == doc.id:
                raise Invalid("a document cannot be its own successor",
                              errors=[{"field": "successor", "message": "is the document itself"}])
            nxt = self.session.get(Document, successor)
            if nxt is None:
                raise Invalid(f"successor {successor!r} does not exist",
                              errors=[{"field": "successor", "message": "does not exist"}])
            # Follow the chain first: "that would be a cycle" says more than "that one is retired".
            seen, cur = {doc.id}, nxt
            while cur is not None and cur.successor:
                if cur.successor in seen:
                    raise Conflict(f"retiring {doc.id} for {successor} would create a successor cycle",
                                   errors=[{"field": "successor", "message": "leads back to this document"}])
                seen.add(cur.id)
                cur = self.session.get(Document, cur.successor)
            if nxt.status != "active":
                raise Invalid(f"successor {successor!r} is retired; choose an active document",
                              errors=[{"field": "successor", "message": "is retired"}])
        doc.status, doc.successor = "retired", successor

    def retire(self, doc_id: str, *, actor: str, successor: str | None = None, if_match: int | None = None,
               reason: str = "") -> Document:
        """Retire a document, optionally for an active successor."""
        doc = self.get(doc_id)
        self._check_revision(doc, if_match)
        if doc.status == "retired":
            raise Conflict(f"{doc_id} is already retired")
        before = snapshot(doc)
        self._apply_retire(doc, successor)
        doc.updated_at = self.ctx.clock()
        self._flush(doc)
        self._record(actor, "retire", doc.id, before=before, after=snapshot(doc), detail=reason)
        self._announce(doc, "retired")
        return doc

    def unretire(self, doc_id: str, *, actor: str, if_match: int | None = None) -> Document:
        """Bring a retired document back into use."""
        doc = self.get(doc_id)
        self._check_revision(doc, if_match)
        if doc.status != "retired":
            raise Conflict(f"{doc_id} is not retired")
        before = snapshot(doc)
        doc.status, doc.successor, doc.updated_at = "active", None, self.ctx.clock()
        self._flush(doc)
        self._record(actor, "unretire", doc.id, before=before, after=snapshot(doc))
        self._announce(doc, "unretired")
        return doc

    def transfer(self, doc_id: str, new_owner: str, *, actor: str, if_match: int | None = None) -> Document:
        """Hand a document over to another (existing, active) owner."""
        doc = self.get(doc_id)
        self._check_revision(doc, if_match)
        owner = self.owner(new_owner)
        if not owner.active:
            raise Invalid(f"owner {new_owner!r} is inactive; activate them or choose another owner")
        before = snapshot(doc)
        doc.owner_id, doc.updated_at = owner.id, self.ctx.clock()
        self._flush(doc)
        self._record(actor, "transfer", doc.id, before=before, after=snapshot(doc))
        self._announce(doc, "owner")
        return doc

    def set_owner_active(self, owner_id: str, active: bool, *, actor: str) -> Owner:
        """Activate or deactivate an owner; a deactivated owner's items become `orphaned`."""
        owner = self.owner(owner_id)
        if owner.active != active:
            owner.active = active
            self._record(actor, "owner_activated" if active else "owner_deactivated", owner_id=owner_id,
                         before={"active": not active}, after={"active": active})
            self.session.flush()
        return owner
