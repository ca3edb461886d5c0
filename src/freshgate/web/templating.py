"""One Jinja2 environment for every HTML the service writes: console pages and the review report."""

from __future__ import annotations

from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
STATE_ORDER = ("expired", "changed", "orphaned", "unreachable", "stale", "suspect", "due", "fresh", "retired")


def when(value: datetime | date | None) -> str:
    """A timestamp as 'YYYY-MM-DD HH:MM' (UTC), a date as 'YYYY-MM-DD', nothing as '—'."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """'3 days ago', '5 hours ago', 'just now' (naive times are UTC)."""
    if value is None:
        return "never"
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    secs = ((now or datetime.now(timezone.utc)) - value).total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if abs(secs) >= size:
            n = int(abs(secs) // size)
            text = f"{n} {unit}{'s' if n != 1 else ''}"
            return f"in {text}" if secs < 0 else f"{text} ago"
    return "just now"


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The shared environment (autoescaped; templates under web/templates)."""
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=when, ago=ago)
    env.globals.update(STATE_ORDER=STATE_ORDER)
    return env
