"""Scheduled weekly review: build the list, send each owner their digest and operators the full list."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlmodel import Session

from freshgate.notify.jobs import deliver, service
from freshgate.reports import rollup
from freshgate.reports.render import markdown, summary_line
from freshgate.reports.service import review

log = logging.getLogger(__name__)
OPERATOR_HTML_ROWS = 500  # the e-mailed HTML report is cut here; the full list is one command away


def weekly_review(rt, now: datetime) -> dict[str, Any]:
    """The weekly review digest per owner plus the operators' list; each at most once per ISO week."""
    from freshgate.reports.page import html_page

    with Session(rt.engine, expire_on_commit=False) as session:
        report = review(session, rt.registry_ctx.rules, rt.extras, now)
        short = report.truncated(OPERATOR_HTML_ROWS)
        svc = service(rt, session)
        ids = svc.claim_digests(report, now, summary=summary_line(report), markdown=markdown(short),
                                html=html_page(short))
        session.commit()
        result = deliver(svc, ids, now)
    summary = {"items": len(report.items), "owners": len([g for g in report.groups if g.owner]),
               "claimed": len(ids), **result}
    log.info("weekly review: %s", summary)
    return summary


def decision_rollup(rt, now: datetime) -> dict[str, Any]:
    """Roll up the decisions of the closed UTC days of the overview's windows not rolled yet (one transaction
    per day; a replica racing for a day leaves it to the winner), so no page load scans a day of receipts."""
    days = rollup.window_days(now)
    rolled = rollup.ensure_rolled(rt.engine, days, now)
    return {"days_rolled": rolled, "first_day": days[0].isoformat()}
