"""Liveness and readiness, computed without waiting for lookups or warm-up."""

from __future__ import annotations

from typing import Any

from freshgate import db

FEED_MAX_LAG_SECONDS = 10.0  # a replica further behind the change feed than this is not ready


def lookup_reasons(rt: Any) -> list[str]:
    """Why this process's lookup cannot answer yet ([] when model and index are ready)."""
    engine = rt.extras.get("lookup")
    if engine is None:
        return ["lookup is not available in this process"]
    reasons = []
    if rt.settings.embedding.enabled and (model := engine.model_status()) != "ready":
        reasons.append(f"model {model}")
    if (index := engine.index_status()) != "ready":
        reasons.append(f"index {index}")
    return reasons


def not_ready_reasons(rt: Any, *, database_ok: bool) -> list[str]:
    """Every reason this replica should not get traffic; [] = ready.

    Besides the database and the lookup, any part in `rt.extras` may offer `readiness() -> str | None`
    (None when ready, else why not), e.g. a change feed that is not caught up.
    """
    reasons = [] if database_ok else ["database unreachable"]
    reasons += lookup_reasons(rt)
    reasons += feed_reasons(rt)
    for name, part in rt.extras.items():
        check = getattr(part, "readiness", None)
        if callable(check) and (why := check()):
            reasons.append(f"{name}: {why}")
    return reasons


def feed_reasons(rt: Any) -> list[str]:
    """Why this process's index is not caught up with the change feed ([] when it is, or no feed runs)."""
    feed = rt.extras.get("feed")
    if feed is None or not callable(getattr(feed, "health", None)):
        return []
    h = feed.health()
    if not h.get("following"):
        return ["change feed not followed"]
    lag = h.get("lag_seconds") or 0.0
    if lag > FEED_MAX_LAG_SECONDS:
        return [f"change feed {lag:.0f} s behind ({h.get('lag_changes')} changes)"]
    age, interval = h.get("last_poll_age"), h.get("poll_interval") or 0.5
    if age is not None and age > max(30.0, 20 * interval):
        return [f"change feed not polled for {age:.0f} s ({h.get('last_error') or 'no error recorded'})"]
    return []


def ping(rt: Any) -> bool:
    """True when the database answers (blocking: run it off the event loop)."""
    return db.ping(rt.engine)
