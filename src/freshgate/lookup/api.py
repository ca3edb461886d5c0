"""REST routes of the lookup: POST /v1/lookup, receipts, unanswered topics."""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from freshgate.auth.deps import Caller, current_principal
from freshgate.deps import get_session
from freshgate.errors import NotFound, Unavailable
from freshgate.problems import PROBLEM_RESPONSES
from freshgate.lookup.decide import decide
from freshgate.lookup.schemas import LookupIn, LookupOut, ReasonOut, ReceiptOut, UnansweredOut
from freshgate.lookup.service import LookupService
from freshgate.registry.service import RegistryService

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["lookup"], responses=PROBLEM_RESPONSES)
SessionDep = Annotated[Session, Depends(get_session)]


def service_for(rt, session: Session) -> LookupService:
    """The lookup service of a runtime bound to a session (503 when lookup is not wired)."""
    engine = rt.extras.get("lookup")
    if engine is None:
        raise Unavailable("lookup is not available in this process", retry_after=30)
    return LookupService(session, engine, RegistryService(session, rt.registry_ctx), rt.extras.get("conflicts"))


def _svc(request: Request, session: SessionDep) -> LookupService:
    svc = service_for(request.app.state.runtime, session)
    p = current_principal(request)
    svc.principal = p.id if p else None
    return svc


def _own(caller) -> str | None:
    """Receipts an agent or owner may read: its own (operators: everyone's)."""
    return None if caller.is_operator else caller.id


Svc = Annotated[LookupService, Depends(_svc)]


def lookup_and_commit(svc: LookupService, body: LookupIn) -> LookupOut:
    """Run a lookup and commit its receipt; a failed commit turns the answer into stop_and_ask."""
    out = svc.lookup(body)
    t = time.perf_counter()
    try:
        svc.session.commit()
        svc.timings["receipt"] = svc.timings.get("receipt", 0.0) + 1e3 * (time.perf_counter() - t)
    except SQLAlchemyError as exc:
        log.error("lookup receipt commit failed: %s", exc)
        svc.session.rollback()
        d = decide([], body.risk, unknown="the database is unavailable (no receipt recorded)")
        out.decision, out.receipt_id = d.decision, None
        out.reasons = [ReasonOut(code=r.code, message=r.message, item=r.item) for r in d.reasons] + out.reasons
    return out


@router.post("/lookup", response_model=LookupOut)
def lookup(body: LookupIn, svc: Svc):
    """Before answering or acting: proceed, caution or stop_and_ask, with reasons, citations and whom to ask."""
    out = lookup_and_commit(svc, body)
    t = time.perf_counter()
    content = out.model_dump_json()  # once: returning the model would validate it again against LookupOut
    svc.timings["serialise"] = 1e3 * (time.perf_counter() - t)
    headers = {"Server-Timing": ", ".join(f"{k};dur={v:.2f}" for k, v in svc.timings.items())}
    if svc.not_ready:
        headers["Retry-After"] = "5"  # the model or index is warming up: ask again shortly
    return Response(content, media_type="application/json", headers=headers)


@router.get("/receipts", response_model=list[ReceiptOut])
def list_receipts(svc: Svc, caller: Caller, limit: int = Query(100, ge=1, le=1000),
                  document: str | None = Query(None, max_length=200,
                                               description="Only receipts that relied on this document.")):
    """Decision receipts, newest first (an agent sees its own); with `document`, those that relied on it."""
    from freshgate.lookup.receipts import recent_receipts

    mine = _own(caller)
    rows = (svc.receipts_for(document, limit, principal=mine) if document
            else recent_receipts(svc.session, limit, principal=mine))
    out = [ReceiptOut.model_validate(r, from_attributes=True) for r in rows]
    if document:  # the impact list covers the actions the document governed too
        out = sorted(out + _action_receipts(svc.session, caller, document, limit), key=lambda r: r.at,
                     reverse=True)[:limit]
    return out


def _action_receipts(session: Session, caller, document: str, limit: int) -> list[ReceiptOut]:
    from freshgate.actions.api import receipts_visible

    out = []
    for a in receipts_visible(session, caller, document=document, limit=limit):
        out.append(ReceiptOut(id=a.id, at=a.at, query=a.intent or a.tool, risk=a.risk, scope=None, decision=a.decision,
                              reasons=a.reasons, citations=a.documents, kind="action", principal=a.principal,
                              action={"tool": a.tool, "parameters": a.parameters, "lane": a.lane, "rules": a.rules}))
    return out


@router.get("/receipts/{receipt_id}", response_model=ReceiptOut)
def get_receipt(receipt_id: Annotated[str, Path(max_length=64)], svc: Svc, caller: Caller):
    """One decision receipt: query, decision, reasons and the exact versions relied on (agents: their own)."""
    r = svc.receipt(receipt_id)
    if _own(caller) not in (None, r.principal):
        raise NotFound(f"no receipt with id {receipt_id!r}")
    return ReceiptOut.model_validate(r, from_attributes=True)


@router.get("/unanswered", response_model=list[UnansweredOut])
def list_unanswered(svc: Svc, limit: int = Query(100, ge=1, le=1000)):
    """Questions nothing registered could answer, grouped by topic, most asked first."""
    return [UnansweredOut.model_validate(t, from_attributes=True) for t in svc.unanswered(limit)]


def include(app: FastAPI) -> None:
    """Mount the lookup routes; warm the model and index up at start."""

    @asynccontextmanager
    async def lifespan(_app):
        rt = app.state.runtime
        engine = rt.extras.get("lookup")
        if engine is not None and rt.settings.lookup.warm_up:
            engine.start_warm_up()
        from freshgate.lookup.wiring import follow

        stop_following = follow(rt)  # every committed change, from any process, reaches this index
        try:
            yield
        finally:
            stop_following()
            if engine is not None and engine.receipts is not None:
                engine.receipts.flush(30)  # durable before the process exits (Runtime.close writes any rest)

    lookup_router = APIRouter(lifespan=lifespan)
    lookup_router.include_router(router)
    app.include_router(lookup_router)
