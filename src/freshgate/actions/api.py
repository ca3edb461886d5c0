"""REST routes of the action gate: POST /v1/actions/check, GET /v1/tools, uncovered actions, action receipts."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from freshgate.actions.decide import STOP
from freshgate.actions.models import ActionReceipt
from freshgate.actions.schemas import ActionCheckIn, ActionCheckOut, ActionReceiptOut, ReasonOut, ToolOut, UncoveredOut
from freshgate.actions.service import ActionService
from freshgate.deps import get_session
from freshgate.errors import Unavailable

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["actions"])
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
    """The authenticated principal, when the trust boundary is installed."""
    return getattr(request.state, "principal", None)


def check_and_commit(svc: ActionService, body: ActionCheckIn, actor: str | None = None) -> ActionCheckOut:
    """Run an action check and commit its receipt; a failed commit turns the answer into stop_and_ask."""
    out = svc.check(body, actor=actor)
    try:
        svc.session.commit()
    except SQLAlchemyError as exc:
        log.error("action receipt commit failed: %s", exc)
        svc.session.rollback()
        out.decision, out.receipt_id = STOP, None
        out.reasons.insert(0, ReasonOut(code="freshness_unknown", message="the database is unavailable (no receipt recorded)"))
    return out


def receipt_out(r: ActionReceipt, principal: Any) -> ActionReceiptOut:
    """Public view of an action receipt: an agent sees the parameters of its own checks only."""
    out = ActionReceiptOut.model_validate(r, from_attributes=True)
    if principal is not None and getattr(principal, "role", None) == "agent" and r.actor != principal.actor:
        out.parameters = None
    return out


@router.post("/actions/check", response_model=ActionCheckOut)
def check_action(body: ActionCheckIn, svc: Svc, request: Request):
    """Before a tool call: proceed, needs_approval, forbidden or stop_and_ask, from the governing SOP card and its sources."""
    p = principal_of(request)
    return check_and_commit(svc, body, actor=getattr(p, "actor", None))


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
                         document: str | None = Query(None, description="Only checks that relied on this card or source."),
                         tool: str | None = Query(None, description="Only checks of this tool."),
                         limit: int = Query(100, ge=1, le=1000)):
    """Action receipts, newest first; with `document`, the actions a card (or source) governed."""
    from freshgate.actions import receipts

    rows = svc.receipts_for(document, limit) if document else receipts.recent(svc.session, limit, tool)
    p = principal_of(request)
    return [receipt_out(r, p) for r in rows if not tool or r.tool == tool]


@router.get("/actions/receipts/{receipt_id}", response_model=ActionReceiptOut)
def get_action_receipt(receipt_id: str, svc: Svc, request: Request):
    """One action receipt: tool, redacted parameters, decision, governing rules and the versions relied on."""
    return receipt_out(svc.receipt(receipt_id), principal_of(request))
