"""The tool permission table page: every tool rule of the SOP cards, with the card's state, and the
tools agents tried that no card governs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from freshgate.actions.api import service_for
from freshgate.actions.rules import LANES
from freshgate.deps import get_session
from freshgate.freshness.rules import PRECEDENCE
from freshgate.web.pages import render

router = APIRouter(include_in_schema=False)
SessionDep = Annotated[Session, Depends(get_session)]


@router.get("/tools", response_class=HTMLResponse)
def tools_page(request: Request, session: SessionDep, lane: str | None = Query(None, max_length=20),
               state: str | None = Query(None, max_length=20), tool: str | None = Query(None, max_length=300)):
    """The permission table, filtered by lane, card state or tool name, and the uncovered tools with counts."""
    svc = service_for(request.app.state.runtime, session)
    lane = lane if lane in LANES else None
    state = state if state in PRECEDENCE else None
    tool = (tool or "").strip()
    rows = svc.tools(tool or None)
    total = len(rows)
    rows = [r for r in rows if (lane is None or r.lane == lane) and (state is None or r.card_state == state)]
    return render(request, "tools.html", {
        "rows": rows, "total": total, "lane": lane, "state": state, "tool": tool, "lanes": LANES,
        "states": PRECEDENCE, "uncovered": svc.uncovered(50),
        "no_rollback": sum(1 for r in rows if r.lane != "automatic" and not r.rollback),
    })
