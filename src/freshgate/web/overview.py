"""The overview page: where knowledge stands and what needs a human."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from freshgate.deps import get_session
from freshgate.lookup.receipts import unanswered
from freshgate.reports import chart, rollup
from freshgate.scheduler.service import last_runs
from freshgate.auth import policy
from freshgate.web import stats
from freshgate.web.identity import principal_for
from freshgate.web.memo import review_report
from freshgate.web.pages import render

router = APIRouter(include_in_schema=False)
SessionDep = Annotated[Session, Depends(get_session)]
OWNERS_SHOWN = 20  # the riskiest owners' queues; the review queue lists everyone's


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, session: SessionDep):
    """Counts per state with the 8-week trend, decisions, served stale, conflicts, gaps, queue, jobs."""
    rt = request.app.state.runtime
    who = principal_for(request)
    now = rt.registry_ctx.clock()
    report = review_report(request, session)
    n_conflicts, oldest = stats.open_conflicts(session, now)
    return render(request, "overview.html", {
        "counts": report.state_counts, "week_ago": report.week_ago, "chart": chart.svg(report.weeks),
        "windows": rollup.windows(session, now),  # closed days rolled up, today incremental: cheap, always current
        "conflicts": n_conflicts, "oldest_conflict_days": oldest,
        "topics": unanswered(session, 5) if policy.allows(who.role, "unanswered") else None,
        "queue": report.groups[:OWNERS_SHOWN], "queue_owners": len(report.groups), "queue_total": report.total,
        "generated_at": report.generated_at, "now": now,
        "jobs": sorted(last_runs(rt.engine).values(), key=lambda r: r.job_id),
    })
