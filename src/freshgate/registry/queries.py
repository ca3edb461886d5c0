"""Read models built from the registry service: filtered lists, one document's detail, counts."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlmodel import select

from freshgate.errors import Invalid
from freshgate.freshness.rules import PRECEDENCE, STATES
from freshgate.freshness.service import count_states
from freshgate.registry.models import Document, Owner
from freshgate.registry.schemas import (
    DocumentDetail, DocumentSummary, owner_out, section_out, summary, version_out,
)
from freshgate.registry.service import RegistryService


def list_documents(svc: RegistryService, *, kind: str | None = None, state: str | None = None,
                   owner: str | None = None, tag: str | None = None, due_before: datetime | None = None,
                   now: datetime | None = None) -> list[DocumentSummary]:
    """Documents with their computed state, filtered."""
    if state is not None and state not in STATES:
        raise Invalid(f"unknown state {state!r}", errors=[{"field": "state", "message": f"must be one of {', '.join(PRECEDENCE)}"}])
    if due_before is not None and due_before.tzinfo is None:
        due_before = due_before.replace(tzinfo=timezone.utc)  # a bare date or naive time means UTC
    q = select(Document).order_by(Document.id)
    if kind:
        q = q.where(Document.kind == kind)
    if owner:
        q = q.where(Document.owner_id == owner)
    docs = list(svc.session.exec(q).all())
    if tag:
        docs = [d for d in docs if tag in (d.tags or [])]
    fresh = svc.freshness(docs, now)
    out = [summary(d, fresh[d.id]) for d in docs]
    if state:
        out = [s for s in out if s.state == state or any(r.state == state for r in s.reasons)]
    if due_before:
        out = [s for s in out if s.next_review is None or s.next_review <= due_before]
    return out


def document_detail(svc: RegistryService, doc_id: str, now: datetime | None = None) -> DocumentDetail:
    """One document with state, reasons, versions, sections, dependencies and dependents."""
    doc = svc.get(doc_id)
    fr = svc.freshness([doc], now)[doc.id]
    versions = svc.versions(doc.id)
    owner = svc.session.get(Owner, doc.owner_id) if doc.owner_id else None
    return DocumentDetail(
        **summary(doc, fr).model_dump(),
        owner_detail=owner_out(owner) if owner else None,
        url=doc.url, supersedes=doc.supersedes, tools=list(doc.tools or []), path=doc.path,
        content=versions[0].content if versions else "",
        sections=[section_out(s) for s in svc.sections(doc.id)],
        versions=[version_out(v) for v in versions],
        dependencies=svc.dependencies(doc.id),
        dependents=svc.dependents(doc.id),
    )


def state_counts(svc: RegistryService, now: datetime | None = None) -> dict[str, int]:
    """How many documents are in each state (every state listed, worst first)."""
    return count_states(svc.session, now or svc.ctx.clock(), svc.ctx.rules)
