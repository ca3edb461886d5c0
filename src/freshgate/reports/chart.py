"""Charts of state counts over weeks: unicode blocks and mermaid for Markdown, inline SVG for HTML."""

from __future__ import annotations

from datetime import datetime
from html import escape

ATTENTION = ("expired", "changed", "orphaned", "unreachable", "stale", "suspect", "due")
CHARTED = ATTENTION + ("fresh",)  # retired documents are left out: nobody needs to act on them
COLORS = {"expired": "#b91c1c", "changed": "#a21caf", "orphaned": "#7f1d1d", "unreachable": "#ea580c",
          "stale": "#dc2626", "suspect": "#ca8a04", "due": "#facc15", "fresh": "#16a34a"}
_BLOCKS = " ▏▎▍▌▋▊▉█"

Weeks = list[tuple[datetime, dict[str, int]]]


def attention(counts: dict[str, int]) -> int:
    """Documents needing attention in one count map."""
    return sum(counts.get(s, 0) for s in ATTENTION)


def _bar(value: float, scale: float, width: int = 40) -> str:
    eighths = round(value / scale * width * 8) if scale else 0
    full, part = divmod(eighths, 8)
    return "█" * full + (_BLOCKS[part] if part else "")


def text_chart(weeks: Weeks) -> list[str]:
    """One line per week: a block bar of documents needing attention, then the counts by state."""
    peak = max((attention(c) for _, c in weeks), default=0) or 1
    lines = [f"{'week of':<10}  {'needing attention':<41} detail"]
    for at, c in weeks:
        n = attention(c)
        detail = " ".join(f"{s}={c[s]}" for s in CHARTED if c.get(s))
        lines.append(f"{at:%Y-%m-%d}  {_bar(n, peak):<40} {n:>4}  {detail}")
    return lines


def mermaid(weeks: Weeks) -> list[str]:
    """A mermaid xychart-beta block (renders on GitHub/GitLab; the text chart above is the fallback)."""
    labels = ", ".join(f'"{at:%m-%d}"' for at, _ in weeks)
    values = ", ".join(str(attention(c)) for _, c in weeks)
    top = max((attention(c) for _, c in weeks), default=0) + 1
    return ["```mermaid", "xychart-beta", '    title "Documents needing attention"', f"    x-axis [{labels}]",
            f'    y-axis "documents" 0 --> {top}', f"    bar [{values}]", "```"]


def svg(weeks: Weeks, width: int = 640, height: int = 240) -> str:
    """A stacked bar chart of state counts per week, as inline SVG (no scripts, no network)."""
    pad_l, pad_b, pad_t, legend_w = 40, 28, 12, 110
    plot_w, plot_h = width - pad_l - legend_w, height - pad_b - pad_t
    peak = max((sum(c.get(s, 0) for s in CHARTED) for _, c in weeks), default=0) or 1
    slot = plot_w / max(1, len(weeks))
    bar_w = slot * 0.6
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}"><title>Documents per state, last {len(weeks)} week(s)</title>',
             f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{pad_l + plot_w}" y2="{pad_t + plot_h}" stroke="#555"/>',
             f'<text x="{pad_l - 6}" y="{pad_t + 8}" text-anchor="end" font-size="10">{peak}</text>',
             f'<text x="{pad_l - 6}" y="{pad_t + plot_h}" text-anchor="end" font-size="10">0</text>']
    for k, (at, c) in enumerate(weeks):
        x = pad_l + k * slot + (slot - bar_w) / 2
        y = pad_t + plot_h
        for s in CHARTED:
            n = c.get(s, 0)
            if not n:
                continue
            h = n / peak * plot_h
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{COLORS[s]}">'
                         f'<title>{at:%Y-%m-%d} {s}: {n}</title></rect>')
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - 10}" text-anchor="middle" font-size="10">'
                     f'{at:%m-%d}</text>')
    for k, s in enumerate(CHARTED):
        ly = pad_t + k * 16
        parts.append(f'<rect x="{width - legend_w + 10}" y="{ly}" width="10" height="10" fill="{COLORS[s]}"/>'
                     f'<text x="{width - legend_w + 26}" y="{ly + 9}" font-size="11">{escape(s)}</text>')
    parts.append("</svg>")
    return "".join(parts)
