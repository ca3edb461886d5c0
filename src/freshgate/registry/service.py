"""The registry's write side: register, verify, update, retire, transfer, owners, audit.

Services flush; the edge (route, CLI command, job) commits. Every change writes an
audit event, and every change of text is announced to listeners (embeddings, conflicts).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, select

from freshgate.feed import service as feed
from freshgate.errors import Conflict, Invalid, NotFound, PreconditionFailed
from freshgate.freshness.rules import Freshness
from freshgate.markdown.parse import content_hash
from freshgate.registry.models import AuditEvent, Dependency, Document, DocumentVersion, Owner, Section
from freshgate.registry.registration import Registration, snapshot  # noqa: F401 - snapshot is part of this API
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


class RegistryService(Registration):
    """Reads and writes of sources, SOP cards and owners within one session."""

    def __init__(self, session: Session, ctx: RegistryContext | None = None) -> None:
        self.session = session
        self.ctx = ctx or RegistryContext()
        self.field_notes: list = []  # merge.FieldNote of each sync'd field where file and registry disagree

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
        self._announce_change(doc.id, action, doc.version)

    def _announce_change(self, doc_id: str, action: str, version: int) -> None:
        change = Change(doc_id, action, version)
        for listener in self.ctx.listeners:
            listener(self.session, change)
        # After the listeners: their commit hooks (embedding) run before the feed's insert.
        feed.record(self.session, doc_id, action, version)

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

    # ---- writes --------------------------------------------------------------
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
