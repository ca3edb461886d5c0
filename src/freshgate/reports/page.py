"""The review list as one self-contained HTML page (inline CSS and SVG; no scripts, no network)."""

from __future__ import annotations

from html import escape

from freshgate.reports import chart
from freshgate.reports.render import summary_line, why
from freshgate.reports.service import ReviewReport, change

_CSS = ("body{font-family:system-ui,sans-serif;margin:2rem;color:#111}table{border-collapse:collapse;margin:.5rem 0 1.5rem}"
        "th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}th{background:#f4f4f5}"
        ".num{text-align:right}.state{font-weight:600}.action{font-weight:600}")


def _cell(value: object, cls: str = "") -> str:
    return f'<td class="{cls}">{escape(str(value))}</td>' if cls else f"<td>{escape(str(value))}</td>"


def html_page(report: ReviewReport) -> str:
    """The full report: summary, change since last week, 8-week chart, rows per owner."""
    delta = change(report.state_counts, report.week_ago)
    h = ["<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
         f"<title>Freshgate review {report.generated_at:%Y-%m-%d}</title><style>{_CSS}</style></head><body>",
         f"<h1>Freshgate review — {report.generated_at:%Y-%m-%d}</h1>",
         f'<section id="summary"><p><strong>{escape(summary_line(report))}</strong></p>',
         "<table><tr><th>state</th><th>now</th><th>a week ago</th><th>change</th></tr>"]
    for s, n in report.state_counts.items():
        before = "-" if report.week_ago is None else report.week_ago.get(s, 0)
        d = "-" if delta is None else f"{delta[s]:+d}"
        h.append(f"<tr>{_cell(s, 'state')}{_cell(n, 'num')}{_cell(before, 'num')}{_cell(d, 'num')}</tr>")
    h.append("</table><table><tr><th>owner</th><th>items</th><th>risk</th></tr>")
    for g in report.groups:
        h.append(f"<tr>{_cell(g.owner or '(no owner)')}{_cell(len(g.items), 'num')}{_cell(f'{g.risk:g}', 'num')}</tr>")
    h.append(f"</table></section><section id=\"chart\"><h2>State counts, last {len(report.weeks)} week(s)</h2>")
    h.append(chart.svg(report.weeks))
    h.append("</section>")
    for g in report.groups:
        title = f"{g.name} ({g.owner})" if g.owner else "No owner / operators"
        contact = f" — {g.contact}" if g.contact else ""
        h.append(f'<section class="owner"><h2>{escape(title)}{escape(contact)}</h2><table><tr><th>#</th><th>item</th>'
                 "<th>state</th><th>criticality</th><th>risk</th><th>action</th><th>why</th></tr>")
        for n, i in enumerate(g.items, 1):
            item = f"{i.document_id} — {i.title}" if i.document_id else i.title
            h.append(f"<tr>{_cell(n, 'num')}{_cell(item)}{_cell(i.state, 'state')}{_cell(i.criticality)}"
                     f"{_cell(f'{i.risk:g}', 'num')}<td><span class=\"action\">{escape(i.action)}</span>: "
                     f"{escape(i.action_text)}</td>{_cell(why(i))}</tr>")
        h.append("</table></section>")
    h.append("</body></html>")
    return "\n".join(h)
