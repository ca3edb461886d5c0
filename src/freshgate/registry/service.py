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
        try:
            self.session.flush()
        except StaleDataError:
            raise PreconditionFailed(f"{doc.id} was changed by someone else at the same time; reload and retry") from None

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

    def _replace_sections(self, doc: Document, body: str) -> None:
        old = {s.text_hash: s.embedding for s in self.sections(doc.id)}
        for s in self.sections(doc.id):
            self.session.delete(s)
        self.session.flush()
        for sec in split_sections(body, doc.id):
            self.session.add(Section(document_id=doc.id, version=doc.version, anchor=sec.anchor,
                                     heading=sec.heading, level=sec.level, position=sec.position,
                                     text=sec.text, text_hash=sec.text_hash, embedding=old.get(sec.text_hash)))

    def _new_version(self, doc: Document, body: str, origin: str, actor: str, front_matter: dict) -> None:
        self.session.add(DocumentVersion(document_id=doc.id, version=doc.version, content=body,
                                         content_hash=doc.content_hash, front_matter=front_matter,
                                         origin=origin, created_by=actor, created_at=self.ctx.clock()))
        self._replace_sections(doc, body)
