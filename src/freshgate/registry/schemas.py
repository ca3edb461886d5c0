"""Public shapes of registry objects (API responses, CLI JSON, MCP)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from freshgate.freshness.rules import Freshness
from freshgate.markdown.parse import format_duration
from freshgate.registry.models import AuditEvent, Document, DocumentVersion, Owner, Section


State = Literal["retired", "expired", "changed", "orphaned", "unreachable", "stale", "suspect", "due", "fresh"]


class ReasonOut(BaseModel):
    """One reason for a state."""

    code: str
    message: str
    state: State
    item: str | None = None


class OwnerOut(BaseModel):
    """An owner."""

    id: str
    name: str
    contact: str
    active: bool


class DocumentSummary(BaseModel):
    """A document in a list."""

    id: str
    kind: Literal["source", "sop"]
    title: str
    owner: str | None
    criticality: Literal["low", "medium", "high"]
    state: State
    reasons: list[ReasonOut]
    status: Literal["active", "retired"]
    successor: str | None
    lane: Literal["automatic", "approval", "forbidden"] | None
    tags: list[str]
    version: int
    revision: int
    review_every: str
    last_verified: datetime | None
    verified_by: str | None
    next_review: datetime | None
    expires: date | None


class SectionOut(BaseModel):
    """A section of the current version."""

    anchor: str
    heading: str
    level: int
    text: str


class VersionOut(BaseModel):
    """A version's metadata (content at /versions/{n})."""

    version: int
    content_hash: str
    origin: str
    created_by: str
    created_at: datetime
    content: str | None = None


class DocumentDetail(DocumentSummary):
    """One document with everything known about it."""

    owner_detail: OwnerOut | None = None
    url: str | None = None
    supersedes: str | None = None
    tools: list[Any] = Field(default_factory=list)  # tool names and tool rules (actions/rules.py)
    path: str | None = None
    content: str = ""
    sections: list[SectionOut] = Field(default_factory=list)
    versions: list[VersionOut] = Field(default_factory=list)
    dependencies: list[str] = Field(default_factory=list)
    dependents: list[str] = Field(default_factory=list)


class AuditOut(BaseModel):
    """One audit event."""

    id: int
    at: datetime
    actor: str
    action: str
    document_id: str | None
    owner_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: str


def summary(doc: Document, fr: Freshness) -> DocumentSummary:
    """List view of a document and its computed freshness."""
    return DocumentSummary(
        id=doc.id, kind=doc.kind, title=doc.title, owner=doc.owner_id, criticality=doc.criticality,
        state=fr.state, reasons=[ReasonOut(code=r.code, message=r.message, state=r.state, item=r.item) for r in fr.reasons],
        status=doc.status, successor=doc.successor, lane=doc.lane, tags=list(doc.tags or []), version=doc.version,
        revision=doc.revision, review_every=format_duration(doc.review_every_days), last_verified=doc.last_verified,
        verified_by=doc.verified_by, next_review=fr.next_review, expires=doc.expires,
    )


def owner_out(o: Owner) -> OwnerOut:
    """Public view of an owner."""
    return OwnerOut(id=o.id, name=o.name, contact=o.contact, active=o.active)


def version_out(v: DocumentVersion, with_content: bool = False) -> VersionOut:
    """Public view of a version."""
    return VersionOut(version=v.version, content_hash=v.content_hash, origin=v.origin, created_by=v.created_by,
                      created_at=v.created_at, content=v.content if with_content else None)


def section_out(s: Section) -> SectionOut:
    """Public view of a section."""
    return SectionOut(anchor=s.anchor, heading=s.heading, level=s.level, text=s.text)


def audit_out(e: AuditEvent) -> AuditOut:
    """Public view of an audit event."""
    return AuditOut(id=e.id or 0, at=e.at, actor=e.actor, action=e.action, document_id=e.document_id,
                    owner_id=e.owner_id, before=e.before, after=e.after, detail=e.detail)
