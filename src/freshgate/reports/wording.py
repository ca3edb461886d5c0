"""Sentences about the review list shared by every renderer (text, Markdown, CSV, HTML, console)."""

from __future__ import annotations

from freshgate.reports.service import ReviewItem, ReviewReport


def why(item: ReviewItem, limit: int = 2) -> str:
    """The first reasons of a row as one sentence."""
    text = "; ".join(r["message"] for r in item.reasons[:limit])
    if item.open_conflicts:
        text = f"{item.open_conflicts} open conflict(s); " + text
    return text


def summary_line(report: ReviewReport) -> str:
    """'N items need a human (M owners): 3 expired, 2 stale, ...'."""
    by_state: dict[str, int] = {}
    for i in report.items:
        by_state[i.state] = by_state.get(i.state, 0) + 1
    parts = ", ".join(f"{n} {s}" for s, n in sorted(by_state.items(), key=lambda x: -x[1]))
    owners = len([g for g in report.groups if g.owner])
    return f"{len(report.items)} items need a human ({owners} owners){': ' + parts if parts else ''}"
