"""REST routes of the registry: documents, owner actions, owners, audit, status."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from freshgate.deps import etag, get_session, parse_if_match, registry
from freshgate.registry import queries
from freshgate.registry.schemas import (
    AuditOut, DocumentDetail, DocumentSummary, OwnerOut, VersionOut, audit_out, owner_out, version_out,
)
from freshgate.registry.service import RegistryService

router = APIRouter(prefix="/v1", tags=["registry"])
SessionDep = Annotated[Session, Depends(get_session)]
IfMatch = Annotated[str | None, Header(alias="If-Match", description="Revision from the ETag; stale -> 412")]


def _svc(request: Request, session: SessionDep) -> RegistryService:
    return registry(request, session)


Svc = Annotated[RegistryService, Depends(_svc)]


class Actor(BaseModel):
    """Who does it."""

    actor: str = Field("api", min_length=1, max_length=200, description="Person or system acting.")


class VerifyIn(Actor):
    """Verify (renew) a document."""

    note: str = Field("", max_length=2000)


class ContentIn(Actor):
    """New content for a document."""

    content: str = Field(min_length=1, max_length=1_000_000)
    verify: bool = Field(False, description="The author also verifies the new content.")


class RetireIn(Actor):
    """Retire a document."""

    successor: str | None = None
    reason: str = Field("", max_length=2000)


class TransferIn(Actor):
    """Hand a document to another owner."""

    owner: str = Field(min_length=1, max_length=200)


class OwnerIn(Actor):
    """Create or update an owner."""

    id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")
    name: str = ""
    contact: str = ""


def _detail(svc: RegistryService, doc_id: str, response: Response) -> DocumentDetail:
    out = queries.document_detail(svc, doc_id)
    response.headers["ETag"] = etag(out.revision)
    return out


@router.get("/documents", response_model=list[DocumentSummary])
def list_documents(svc: Svc, kind: str | None = Query(None, pattern="^(source|sop)$"), state: str | None = None,
                   owner: str | None = None, tag: str | None = None, due_before: datetime | None = None):
    """List sources and SOP cards with their computed state; filter by kind, state, owner, tag, due date."""
    return queries.list_documents(svc, kind=kind, state=state, owner=owner, tag=tag, due_before=due_before)


@router.get("/documents/{doc_id}", response_model=DocumentDetail)
def get_document(doc_id: str, svc: Svc, response: Response):
    """One document: state, reasons, next review, versions, sections, dependencies and dependents."""
    return _detail(svc, doc_id, response)


@router.get("/documents/{doc_id}/versions/{version}", response_model=VersionOut)
def get_version(doc_id: str, version: int, svc: Svc):
    """The content of one version of a document."""
    for v in svc.versions(svc.get(doc_id).id):
        if v.version == version:
            return version_out(v, with_content=True)
    from freshgate.errors import NotFound

    raise NotFound(f"{doc_id} has no version {version}")


@router.post("/documents/{doc_id}/verify", response_model=DocumentDetail)
def verify(doc_id: str, body: VerifyIn, svc: Svc, response: Response, if_match: IfMatch = None):
    """Renew a document: its owner confirms the content is right as of now."""
    svc.verify(doc_id, actor=body.actor, if_match=parse_if_match(if_match), note=body.note)
    svc.session.commit()
    return _detail(svc, doc_id, response)


@router.put("/documents/{doc_id}/content", response_model=DocumentDetail)
def update_content(doc_id: str, body: ContentIn, svc: Svc, response: Response, if_match: IfMatch = None):
    """Replace the content (a new version); it is `changed` until verified."""
    svc.update_content(doc_id, body.content, actor=body.actor, if_match=parse_if_match(if_match), verify=body.verify)
    svc.session.commit()
    return _detail(svc, doc_id, response)


@router.post("/documents/{doc_id}/retire", response_model=DocumentDetail)
def retire(doc_id: str, body: RetireIn, svc: Svc, response: Response, if_match: IfMatch = None):
    """Retire a document, optionally naming an active successor."""
    svc.retire(doc_id, actor=body.actor, successor=body.successor, if_match=parse_if_match(if_match), reason=body.reason)
    svc.session.commit()
    return _detail(svc, doc_id, response)


@router.post("/documents/{doc_id}/unretire", response_model=DocumentDetail)
def unretire(doc_id: str, body: Actor, svc: Svc, response: Response, if_match: IfMatch = None):
    """Bring a retired document back into use."""
    svc.unretire(doc_id, actor=body.actor, if_match=parse_if_match(if_match))
    svc.session.commit()
    return _detail(svc, doc_id, response)


@router.post("/documents/{doc_id}/transfer", response_model=DocumentDetail)
def transfer(doc_id: str, body: TransferIn, svc: Svc, response: Response, if_match: IfMatch = None):
    """Hand a document over to another active owner."""
    svc.transfer(doc_id, body.owner, actor=body.actor, if_match=parse_if_match(if_match))
    svc.session.commit()
    return _detail(svc, doc_id, response)


@router.get("/documents/{doc_id}/audit", response_model=list[AuditOut])
def document_audit(doc_id: str, svc: Svc, limit: int = Query(200, ge=1, le=5000)):
    """Every recorded change of one document, newest first."""
    svc.get(doc_id)
    return [audit_out(e) for e in svc.audit(doc_id, limit)]


@router.get("/audit", response_model=list[AuditOut])
def audit(svc: Svc, limit: int = Query(200, ge=1, le=5000)):
    """The most recent changes across the registry."""
    return [audit_out(e) for e in svc.audit(None, limit)]


@router.get("/owners", response_model=list[OwnerOut])
def owners(svc: Svc):
    """Every owner and whether they are active."""
    return [owner_out(o) for o in svc.owners()]


@router.get("/owners/{owner_id}", response_model=OwnerOut)
def get_owner(owner_id: str, svc: Svc):
    """One owner."""
    return owner_out(svc.owner(owner_id))


@router.post("/owners", response_model=OwnerOut, status_code=201)
def create_owner(body: OwnerIn, svc: Svc):
    """Create an owner (or update their name and contact)."""
    o = svc.ensure_owner(body.id, body.name, body.contact, actor=body.actor)
    svc.session.commit()
    return owner_out(o)


@router.post("/owners/{owner_id}/deactivate", response_model=OwnerOut)
def deactivate_owner(owner_id: str, body: Actor, svc: Svc):
    """Mark an owner inactive: their documents become `orphaned` until transferred."""
    o = svc.set_owner_active(owner_id, False, actor=body.actor)
    svc.session.commit()
    return owner_out(o)


@router.post("/owners/{owner_id}/activate", response_model=OwnerOut)
def activate_owner(owner_id: str, body: Actor, svc: Svc):
    """Mark an owner active again."""
    o = svc.set_owner_active(owner_id, True, actor=body.actor)
    svc.session.commit()
    return owner_out(o)


@router.get("/status")
def status(svc: Svc) -> dict[str, int]:
    """How many documents are in each freshness state."""
    return queries.state_counts(svc)
