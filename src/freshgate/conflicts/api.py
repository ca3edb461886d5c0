"""REST routes of conflicts: list, show, confirm, dismiss, scan."""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BaseModel, Field
from sqlmodel import Session

from freshgate.auth.deps import Caller
from freshgate.auth.principal import acting_as
from freshgate.deps import get_session
from freshgate.errors import Forbidden, Unavailable
from freshgate.problems import PROBLEM_RESPONSES, WRITE_RESPONSES
from freshgate.strict import IntId, StrictIn

router = APIRouter(prefix="/v1/conflicts", tags=["conflicts"], responses=PROBLEM_RESPONSES)
Status = Literal["open", "confirmed", "dismissed", "resolved"]
SessionDep = Annotated[Session, Depends(get_session)]


class SideOut(BaseModel):
    """One passage of a conflict, as it was when judged."""

    document_id: str
    title: str
    anchor: str
    cite: str
    heading: str
    version: int
    text: str
    text_hash: str
    owner: str | None
    owner_name: str | None
    contact: str | None
    status: Literal["active", "retired", "missing"] = Field(description="The document's current status.")
    effective: date | None = Field(None, description="Latest of the document's updated / last_verified and the "
                                                     "passage's own 'as of' date.")


class EvidenceOut(BaseModel):
    """One differing value."""

    subject: str
    a: str
    b: str
    kind: str


class ConflictOut(BaseModel):
    """A conflict between two sections, with evidence and verdict."""

    id: int
    status: Status
    a: SideOut
    b: SideOut
    a_document: str
    b_document: str
    newer: str | None = Field(None, description="'a' or 'b': the side with the later effective date, if known.")
    older_document: str | None = Field(None, description="The older side's document: the one to update.")
    older_owner: str | None = Field(None, description="The older side's owner.")
    similarity: float
    score: float
    judge: str
    evidence: list[EvidenceOut]
    explanation: str
    detected_at: datetime
    updated_at: datetime
    verdict_at: datetime | None
    verdict_by: str | None
    verdict_reason: str
    resolved_at: datetime | None
    resolution: str


class VerdictIn(StrictIn):
    """A verdict by the authenticated caller (an operator may name whom they act for)."""

    on_behalf_of: str | None = Field(None, min_length=1, max_length=150, description="Operators only.")


class ConfirmIn(VerdictIn):
    """Confirm a conflict is real."""

    reason: str = Field("", max_length=2000)


class DismissIn(VerdictIn):
    """Dismiss a false conflict."""

    reason: str = Field(min_length=1, max_length=2000, description="Why it is not a real conflict (required).")


class ReopenIn(VerdictIn):
    """Reopen a dismissed conflict."""

    reason: str = Field(min_length=1, max_length=2000, description="Why the dismissal was wrong (required).")


def _hub(request: Request):
    hub = request.app.state.runtime.extras.get("conflicts")
    if hub is None:
        raise Unavailable("conflict detection is not available in this process", retry_after=30)
    return hub


Hub = Annotated[Any, Depends(_hub)]
W = {**PROBLEM_RESPONSES, **WRITE_RESPONSES}


def _may_judge(svc, conflict_id: int, caller) -> None:
    """Operators, or the owner (or a team member) of either side."""
    owners = svc.owners_of(svc.get(conflict_id))
    if not any(caller.can_act_on(o) for o in owners):
        raise Forbidden(f"{caller.name} ({caller.role}) owns neither side of conflict {conflict_id}; only their "
                        "owners or an operator may give a verdict")


@router.post("/scan", responses=W)
def scan(hub: Hub) -> dict:
    """Run a full conflict scan now (builds the index first if needed); returns what it did."""
    return hub.scan()


@router.get("", response_model=list[ConflictOut])
def list_conflicts(hub: Hub, session: SessionDep, status: Status | None = None,
                   document: str | None = Query(None, max_length=200, description="A document on either side."),
                   owner: str | None = Query(None, max_length=200, description="The owner of either side."),
                   limit: int = Query(500, ge=1, le=5000)):
    """Conflicts, newest first; filter by status, document or owner."""
    svc = hub.service(session)
    return svc.describe(svc.list(status=status, document=document, owner=owner, limit=limit))


@router.get("/{conflict_id:int}", response_model=ConflictOut)
def get_conflict(conflict_id: IntId, hub: Hub, session: SessionDep):
    """One conflict: both passages as judged, evidence, explanation and verdict."""
    svc = hub.service(session)
    return svc.describe([svc.get(conflict_id)])[0]


def _verdict(verb: str, conflict_id: int, body, svc, caller) -> ConflictOut:
    """Confirm, dismiss or reopen as the caller (operators or either side's owner), then commit."""
    _may_judge(svc, conflict_id, caller)
    c = getattr(svc, verb)(conflict_id, actor=acting_as(caller, body.on_behalf_of), reason=body.reason)
    svc.session.commit()
    return svc.describe([c])[0]


@router.post("/{conflict_id:int}/confirm", response_model=ConflictOut, responses=W)
def confirm(conflict_id: IntId, body: ConfirmIn, hub: Hub, session: SessionDep, caller: Caller):
    """Confirm the passages really disagree; lookups touching them keep stopping until it is resolved."""
    return _verdict("confirm", conflict_id, body, hub.service(session), caller)


@router.post("/{conflict_id:int}/dismiss", response_model=ConflictOut, responses=W)
def dismiss(conflict_id: IntId, body: DismissIn, hub: Hub, session: SessionDep, caller: Caller):
    """Dismiss a false conflict (reason required); the same two texts are not reported again."""
    return _verdict("dismiss", conflict_id, body, hub.service(session), caller)


@router.post("/{conflict_id:int}/reopen", response_model=ConflictOut, responses=W)
def reopen(conflict_id: IntId, body: ReopenIn, hub: Hub, session: SessionDep, caller: Caller):
    """Reopen a dismissed conflict (operators or either side's owner); it stops lookups again."""
    return _verdict("reopen", conflict_id, body, hub.service(session), caller)


def include(app: FastAPI) -> None:
    """Mount the conflict routes; scan once the lookup index is built at start-up."""

    @asynccontextmanager
    async def lifespan(_app):
        rt = app.state.runtime
        hub = rt.extras.get("conflicts")
        if hub is not None and rt.settings.conflicts.scan_on_start and rt.settings.lookup.warm_up:
            hub.scan_when_ready()
        yield

    conflicts_router = APIRouter(lifespan=lifespan)
    conflicts_router.include_router(router)
    app.include_router(conflicts_router)
