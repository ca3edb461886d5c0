"""REST routes of the lookup: POST /v1/lookup, receipts, unanswered topics; MCP at /mcp."""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from freshgate.deps import get_session
from freshgate.errors import Unavailable
from freshgate.lookup.decide import decide
from freshgate.lookup.schemas import LookupIn, LookupOut, ReasonOut, ReceiptOut, UnansweredOut
from freshgate.lookup.service import LookupService
from freshgate.registry.service import RegistryService

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["lookup"])
SessionDep = Annotated[Session, Depends(get_session)]


def service_for(rt, session: Session) -> LookupService:
    """The lookup service of a runtime bound to a session (503 when lookup is not wired)."""
    engine = rt.extras.get("lookup")
    if engine is None:
        raise Unavailable("lookup is not available in this process", retry_after=30)
    return LookupService(session, engine, RegistryService(session, rt.registry_ctx), rt.extras.get("conflicts"))


def _svc(request: Request, session: SessionDep) -> LookupService:
    return service_for(request.app.state.runtime, session)


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
def lookup(body: LookupIn, svc: Svc, response: Response):
    """Before answering or acting: proceed, caution or stop_and_ask, with reasons, citations and whom to ask."""
    out = lookup_and_commit(svc, body)
    response.headers["Server-Timing"] = ", ".join(f"{k};dur={v:.2f}" for k, v in svc.timings.items())
    return out


@router.get("/receipts", response_model=list[ReceiptOut])
def list_receipts(svc: Svc, document: str | None = Query(None, description="Only receipts that relied on this document."),
                  limit: int = Query(100, ge=1, le=1000)):
    """Decision receipts, newest first; with `document`, those that relied on it (impact of a bad document)."""
    from freshgate.lookup.receipts import recent_receipts

    rows = svc.receipts_for(document, limit) if document else recent_receipts(svc.session, limit)
    return [ReceiptOut.model_validate(r, from_attributes=True) for r in rows]


@router.get("/receipts/{receipt_id}", response_model=ReceiptOut)
def get_receipt(receipt_id: str, svc: Svc):
    """One decision receipt: query, decision, reasons and the exact versions relied on."""
    return ReceiptOut.model_validate(svc.receipt(receipt_id), from_attributes=True)


@router.get("/unanswered", response_model=list[UnansweredOut])
def list_unanswered(svc: Svc, limit: int = Query(100, ge=1, le=1000)):
    """Questions nothing registered could answer, grouped by topic, most asked first."""
    return [UnansweredOut.model_validate(t, from_attributes=True) for t in svc.unanswered(limit)]


def include(app: FastAPI) -> None:
    """Mount the lookup routes and the MCP endpoint; warm the model and index up at start."""
    from freshgate.mcp.server import build_server, http_app

    mcp_server = build_server(lambda: app.state.runtime)
    app.router.add_route("/mcp", http_app(mcp_server), include_in_schema=False)

    @asynccontextmanager
    async def lifespan(_app):
        rt = app.state.runtime
        engine = rt.extras.get("lookup")
        if engine is not None and rt.settings.lookup.warm_up:
            engine.start_warm_up()
        from freshgate.lookup.wiring import follow

        stop_following = follow(rt)  # every committed change, from any process, reaches this index
        try:
            async with mcp_server.session_manager.run():
                yield
        finally:
            stop_following()

    lookup_router = APIRouter(lifespan=lifespan)
    lookup_router.include_router(router)
    app.include_router(lookup_router)
