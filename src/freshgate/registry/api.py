"""REST routes of the registry: documents, owner actions, owners, audit, status."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import Field, StrictBool
from sqlmodel import Session

from freshgate.auth.deps import Caller, guard
from freshgate.auth.principal import acting_as
from freshgate.deps import IF_MATCH_PATTERN, etag, get_session, if_match_revision, registry
from freshgate.problems import PROBLEM_RESPONSES, WRITE_RESPONSES
from freshgate.strict import MAX_INT, DocId, IsoDateTime, OwnerIdPath, StrictIn
from freshgate.registry import queries
from freshgate.registry.schemas import (
    AuditOut, DocumentDetail, DocumentSummary, OwnerOut, State, VersionOut, audit_out, owner_out, version_out,
)
from freshgate.registry.service import RegistryService

router = APIRouter(prefix="/v1", tags=["registry"], responses=PROBLEM_RESPONSES)
SessionDep = Annotated[Session, Depends(get_session)]
# `str`, not `str | None`: a header is absent or text, never null (the spec said `null` was a valid If-Match).
IfMatch = Annotated[str, Header(alias="If-Match", description="The ETag (quoted), `*` or a list of ETags "
                                      "(RFC 9110); none matching -> 412, malformed -> 400",
                                      json_schema_extra={"pattern": IF_MATCH_PATTERN})]


def _svc(request: Request, session: SessionDep) -> RegistryService:
    return registry(request, session)


Svc = Annotated[RegistryService, Depends(_svc)]


class Actor(StrictIn):
    """Who does it: always the authenticated caller (an operator may name whom they act for)."""

    on_behalf_of: str | None = Field(None, min_length=1, max_length=150, description="Operators only: the person "
                                     "they act for; the audit records both.")


class VerifyIn(Actor):
    """Verify (renew) a document."""

    note: str = Field("", max_length=2000)


class ContentIn(Actor):
    """New content for a document."""

    content: str = Field(min_length=1, max_length=1_000_000)
    verify: StrictBool = Field(False, description="The author also verifies the new content (true or false, "
                               "not 0 or 1).")


class RetireIn(Actor):
    """Retire a document."""

    successor: str | None = Field(None, max_length=200)
    reason: str = Field("", max_length=2000)


class TransferIn(Actor):
    """Hand a document to another owner."""

    owner: str = Field(min_length=1, max_length=200)


class OwnerIn(Actor):
    """Create or update an owner."""

    id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")
    name: str = Field("", max_length=200)
    contact: str = Field("", max_length=300)


def _actor(caller, body: Actor | None) -> str:
    return acting_as(caller, body.on_behalf_of if body else None)


def _rev(svc: RegistryService, doc_id: str, if_match: str | None) -> int | None:
    return if_match_revision(if_match, svc.get(doc_id).revision)


def _owned(svc: RegistryService, doc_id: str, caller) -> None:
    guard(caller, svc.get(doc_id).owner_id, doc_id)


W = {**PROBLEM_RESPONSES, **WRITE_RESPONSES}


def _detail(svc: RegistryService, doc_id: str, response: Response) -> DocumentDetail:
    out = queries.document_detail(svc, doc_id)
    response.headers["ETag"] = etag(out.revision)
    return out


@router.get("/documents", response_model=list[DocumentSummary])
def list_documents(svc: Svc, kind: Literal["source", "sop"] | None = None, state: State | None = None,
                   owner: str | None = Query(None, max_length=200), tag: str | None = Query(None, max_length=200),
                   due_before: IsoDateTime | None = None):
    """List sources and SOP cards with their computed state; filter by kind, state, owner, tag, due date."""
    return queries.list_documents(svc, kind=kind, state=state, owner=owner, tag=tag, due_before=due_before)


@router.get("/documents/{doc_id}", response_model=DocumentDetail)
def get_document(doc_id: DocId, svc: Svc, response: Response):
    """One document: state, reasons, next review, versions, sections, dependencies and dependents."""
    return _detail(svc, doc_id, response)


@router.get("/documents/{doc_id}/versions/{version}", response_model=VersionOut)
def get_version(doc_id: DocId, version: Annotated[int, Path(ge=1, le=MAX_INT)], svc: Svc):
    """The content of one version of a document."""
    for v in svc.versions(svc.get(doc_id).id):
        if v.version == version:
            return version_out(v, with_content=True)
    from freshgate.errors import NotFound

    raise NotFound(f"{doc_id} has no version {version}")


@router.post("/documents/{doc_id}/verify", response_model=DocumentDetail, responses=W)
def verify(doc_id: DocId, body: VerifyIn, svc: Svc, caller: Caller, response: Response, if_match: IfMatch = None):
    """Renew a document: its owner confirms the content is right as of now."""
    _owned(svc, doc_id, caller)
    svc.verify(doc_id, actor=_actor(caller, body), if_match=_rev(svc, doc_id, if_match), note=body.note)
    svc.session.commit()
    return _detail(svc, doc_id, response)


@router.put("/documents/{doc_id}/content", response_model=DocumentDetail, responses=W)
def update_content(doc_id: DocId, body: ContentIn, svc: Svc, caller: Caller, response: Response,
                   if_match: IfMatch = None):
    """Replace the content (a new version); it is `changed` until verified."""
    _owned(svc, doc_id, caller)
    svc.update_content(doc_id, body.content, actor=_actor(caller, body), if_match=_rev(svc, doc_id, if_match),
                       verify=body.verify)
    svc.session.commit()
    return _detail(svc, doc_id, response)


@router.post("/documents/{doc_id}/retire", response_model=DocumentDetail, responses=W)
def retire(doc_id: DocId, body: RetireIn, svc: Svc, caller: Caller, response: Response, if_match: IfMatch = None):
    """Retire a document, optionally naming an active successor."""
    _owned(svc, doc_id, caller)
    svc.retire(doc_id, actor=_actor(caller, body), successor=body.successor, if_match=_rev(svc, doc_id, if_match),
               reason=body.reason)
    svc.session.commit()
    return _detail(svc, doc_id, response)


@router.post("/documents/{doc_id}/unretire", response_model=DocumentDetail, responses=W)
def unretire(doc_id: DocId, svc: Svc, caller: Caller, response: Response, if_match: IfMatch = None,
             body: Actor | None = None):
    """Bring a retired document back into use."""
    _owned(svc, doc_id, caller)
    svc.unretire(doc_id, actor=_actor(caller, body), if_match=_rev(svc, doc_id, if_match))
    svc.session.commit()
    return _detail(svc, doc_id, response)


@router.post("/documents/{doc_id}/transfer", response_model=DocumentDetail, responses=W)
def transfer(doc_id: DocId, body: TransferIn, svc: Svc, caller: Caller, response: Response, if_match: IfMatch = None):
    """Hand a document over to another active owner."""
    _owned(svc, doc_id, caller)
    svc.transfer(doc_id, body.owner, actor=_actor(caller, body), if_match=_rev(svc, doc_id, if_match))
    svc.session.commit()
    return _detail(svc, doc_id, response)


@router.get("/documents/{doc_id}/audit", response_model=list[AuditOut])
def document_audit(doc_id: DocId, svc: Svc, caller: Caller, limit: int = Query(200, ge=1, le=5000)):
    """Every recorded change of one document, newest first (its owner, team or an operator)."""
    _owned(svc, doc_id, caller)
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
def get_owner(owner_id: OwnerIdPath, svc: Svc):
    """One owner."""
    return owner_out(svc.owner(owner_id))


@router.post("/owners", response_model=OwnerOut, status_code=201, responses=W)
def create_owner(body: OwnerIn, svc: Svc, caller: Caller):
    """Create an owner (or update their name and contact); operators."""
    o = svc.ensure_owner(body.id, body.name, body.contact, actor=_actor(caller, body))
    svc.session.commit()
    return owner_out(o)


@router.post("/owners/{owner_id}/deactivate", response_model=OwnerOut, responses=W)
def deactivate_owner(owner_id: OwnerIdPath, svc: Svc, caller: Caller, body: Actor | None = None):
    """Mark an owner inactive: their documents become `orphaned` until transferred."""
    o = svc.set_owner_active(owner_id, False, actor=_actor(caller, body))
    svc.session.commit()
    return owner_out(o)


@router.post("/owners/{owner_id}/activate", response_model=OwnerOut, responses=W)
def activate_owner(owner_id: OwnerIdPath, svc: Svc, caller: Caller, body: Actor | None = None):
    """Mark an owner active again."""
    o = svc.set_owner_active(owner_id, True, actor=_actor(caller, body))
    svc.session.commit()
    return owner_out(o)


@router.get("/status")
def status(svc: Svc) -> dict[str, int]:
    """How many documents are in each freshness state."""
    return queries.state_counts(svc)
