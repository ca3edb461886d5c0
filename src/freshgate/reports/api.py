"""REST route of the review list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlmodel import Session

from freshgate.deps import get_session
from freshgate.reports.render import render
from freshgate.reports.service import review

router = APIRouter(prefix="/v1", tags=["reports"])
SessionDep = Annotated[Session, Depends(get_session)]
MEDIA = {"md": "text/markdown; charset=utf-8", "csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8",
         "table": "text/plain; charset=utf-8"}


@router.get("/review")
def get_review(request: Request, session: SessionDep, owner: str | None = None,
               state: str | None = Query(None, description="expired, stale, due, changed, unreachable, orphaned, "
                                                           "suspect, conflict or unanswered"),
               format: str = Query("json", pattern="^(json|md|csv|html|table)$", description="Response format."),
               limit: int | None = Query(None, ge=1, description="At most this many rows (riskiest first); "
                                                               "default: all."),
               offset: int = Query(0, ge=0, description="Skip this many rows of the risk order (paging).")):
    """Everything that needs a human, riskiest first and grouped by owner, with what to do for each item."""
    rt = request.app.state.runtime
    report = review(session, rt.registry_ctx.rules, rt.extras, rt.registry_ctx.clock(), owner=owner, state=state)
    if limit is not None or offset:
        report = report.page(offset, limit)
    if format == "json":
        return JSONResponse(report.to_dict())
    return Response(render(report, format), media_type=MEDIA[format])
