"""REST routes of the action gate: POST /v1/actions/check, GET /v1/tools, uncovered actions, action receipts."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from freshgate.actions.decide import STOP
from freshgate.actions.models import ActionReceipt
from freshgate.actions.schemas import ActionCheckIn, ActionCheckOut, ActionReceiptOut, ReasonOut, ToolOut, UncoveredOut
from freshgate.problems import PROBLEM_RESPONSES
from freshgate.actions.service import ActionService
from freshgate.deps import get_session
from freshgate.errors import NotFound, Unavailable
from freshgate.registry.models import Document

log = logging.getLogger(__name__)


@asynccontextmanager
async def _lifespan(app):
    """The server keeps the permission table in memory, following the change feed, while it runs."""
    hub = app.state.runtime.extras.get("actions")
    stop = hub.follow() if hub is not None else (lambda: None)
    try:
        yield
    finally:
        stop()
        if hub is not None and hub.receipts is not None:
            hub.receipts.flush(30)  # durable before the process exits (Runtime.close writes any rest)


router = APIRouter(prefix="/v1", tags=["actions"], responses=PROBLEM_RESPONSES, lifespan=_lifespan)
SessionDep = Annotated[Session, Depends(get_session)]


def service_for(rt, session: Session) -> ActionService:
    """The action service of a runtime bound to a session (503 when the gate is not wired)."""
    hub = rt.extras.get("actions")
    if hub is None:
        raise Unavailable("action checks are not available in this process", retry_after=30)
    return hub.service(session)


def _svc(request: Request, session: SessionDep) -> ActionService:
    return service_for(request.app.state.runtime, session)


Svc = Annotated[ActionService, Depends(_svc)]


def principal_of(request: Request) -> Any:
    """The authenticated principal (None when auth is off or for the local CLI)."""
    return getattr(request.state, "principal", None)


def check_and_commit(svc: ActionService, body: ActionCheckIn, principal: str | None = None) -> ActionCheckOut:
    """Run an action check and commit its receipt; a failed commit turns the answer into stop_and_ask."""
    out = svc.check(body, principal=principal)
    try:
        svc.session.commit()
        if svc.send_receipt():  # the queue refused it: written in the session, committed here
            svc.session.commit()
    except SQLAlchemyError as exc:
        log.error("action receipt commit failed: %s", exc)
        svc.session.rollback()
        out.decision, out.receipt_id = STOP, None
        out.reasons.insert(0, ReasonOut(code="freshness_unknown", message="the database is unavailable (no receipt recorded)"))
    return out


def _visible(r: ActionReceipt, principal: Any, owners: dict[str, str | None]) -> bool:
    """Operators see every action receipt; anyone their own; owners also those relying on documents they own."""
    if principal is None or getattr(principal, "is_operator", False) or r.principal == principal.id:
        return True
    return any(principal.can_act_on(owners.get(d.get("document_id"))) for d in r.documents or [])


def receipts_visible(session: Session, principal: Any, *, document: str | None = None, tool: str | None = None,
                     limit: int = 100) -> list[ActionReceiptOut]:
    """Action receipts the principal may read (newest first), parameters included."""
    from freshgate.actions import receipts
    from freshgate.registry.models import Document

    mine = principal.id if principal is not None and getattr(principal, "role", None) == "agent" else None
    fetch = limit if mine or principal is None or principal.is_operator else 1000
    rows = (receipts.receipts_for(session, document, fetch, principal=mine) if document
            else receipts.recent(session, fetch, tool, principal=mine))
    ids = {d.get("document_id") for r in rows for d in (r.documents or [])}
    owners = dict(session.exec(select(Document.id, Document.owner_id).where(Document.id.in_(ids))).all()) if ids else {}
    return [ActionReceiptOut.model_validate(r, from_attributes=True) for r in rows
            if _visible(r, principal, owners)][:limit]


@router.post("/actions/check", response_model=ActionCheckOut)
def check_action(body: ActionCheckIn, request: Request):
    """Before a tool call: proceed, needs_approval, forbidden or stop_and_ask, from the governing SOP card and its sources."""
    p = principal_of(request)
    rt = request.app.state.runtime
    # The session is opened here rather than by a generator dependency: the hot path then takes one
    # worker-thread hop instead of four (enter, service, route, exit).
    with Session(rt.engine, expire_on_commit=False) as session:
        out = check_and_commit(service_for(rt, session), body, principal=p.id if p is not None else None)
    # Serialised once, as the response model describes it (FastAPI would validate the model again first).
    return Response(out.model_dump_json(), media_type="application/json")


@router.get("/tools", response_model=list[ToolOut])
def list_tools(svc: Svc, tool: str | None = Query(None, description="Only the rules covering this tool name.")):
    """The permission table: every tool rule with lane, conditions, governing card (and its state), owner, log and rollback."""
    return svc.tools(tool)


@router.get("/actions/uncovered", response_model=list[UncoveredOut])
def list_uncovered(svc: Svc, limit: int = Query(100, ge=1, le=1000)):
    """Tools agents tried that no SOP card governs, most tried first."""
    return [UncoveredOut.model_validate(u, from_attributes=True) for u in svc.uncovered(limit)]


@router.get("/actions/receipts", response_model=list[ActionReceiptOut])
def list_action_receipts(svc: Svc, request: Request,
                         document: str | None = Query(None, max_length=200,
                                                      description="Only checks that relied on this card or source."),
                         tool: str | None = Query(None, max_length=300, description="Only checks of this tool."),
                         limit: int = Query(100, ge=1, le=1000)):
    """Action receipts, newest first; with `document`, the actions a card (or source) governed. Agents see their own."""
    if document:
        svc.registry.get(document)
    rows = receipts_visible(svc.session, principal_of(request), document=document, tool=tool, limit=limit)
    return [r for r in rows if not tool or r.tool == tool]


@router.get("/actions/receipts/{receipt_id}", response_model=ActionReceiptOut)
def get_action_receipt(receipt_id: Annotated[str, Path(max_length=64)], svc: Svc, request: Request):
    """One action receipt: tool, redacted parameters, decision, governing rules and the versions relied on."""
    r = svc.receipt(receipt_id)
    ids = [d.get("document_id") for d in r.documents or []]
    owners = {i: svc.registry.get(i).owner_id for i in ids if svc.session.get(Document, i) is not None}
    if not _visible(r, principal_of(request), owners):
        raise NotFound(f"no action receipt with id {receipt_id!r}")
    return ActionReceiptOut.model_validate(r, from_attributes=True)
