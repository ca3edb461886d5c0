"""The review list as one self-contained HTML page (inline CSS and SVG; no scripts, no network).

It is rendered from the console's templates (web/templates/report/review.html and the console
macros), with the console's stylesheet inlined, so the e-mailed report and the console look alike.
"""

from __future__ import annotations

from functools import lru_cache

from freshgate.reports import chart
from freshgate.reports.service import ReviewReport, change
from freshgate.reports.wording import summary_line, why
from freshgate.web.templating import TEMPLATES, environment


@lru_cache(maxsize=1)
def _css() -> str:
    return (TEMPLATES.parent / "static" / "console.css").read_text(encoding="utf-8")


def html_page(report: ReviewReport) -> str:
    """The full report: summary, change since last week, 8-week chart, rows per owner."""
    delta = change(report.state_counts, report.week_ago)
    return environment().get_template("report/review.html").render(
        r=report, delta=delta, summary=summary_line(report), chart=chart.svg(report.weeks), why=why, css=_css())
