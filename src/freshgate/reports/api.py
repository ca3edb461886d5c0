"""REST route of the review list."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlmodel import Session

from freshgate.deps import get_session
from freshgate.problems import PROBLEM_RESPONSES
from freshgate.reports.render import render
from freshgate.reports.service import review

router = APIRouter(prefix="/v1", tags=["reports"], responses=PROBLEM_RESPONSES)
SessionDep = Annotated[Session, Depends(get_session)]
MEDIA = {"md": "text/markdown; charset=utf-8", "csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8",
         "table": "text/plain; charset=utf-8"}


@router.get("/review", responses={200: {"description": "The review list in the requested format", "content": {
    "application/json": {"schema": {"type": "object"}}, **{m: {"schema": {"type": "string"}} for m in MEDIA.values()}}}})
def get_review(request: Request, session: SessionDep, owner: str | None = Query(None, max_length=200),
               state: Literal["expired", "stale", "due", "changed", "unreachable", "orphaned", "suspect", "conflict",
                              "unanswered"] | None = Query(None, description="Only items in this state."),
               format: Literal["json", "md", "csv", "html", "table"] = Query("json", description="Response format."),
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
