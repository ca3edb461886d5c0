"""Liveness and readiness, computed without waiting for lookups or warm-up."""

from __future__ import annotations

from typing import Any

from freshgate import db


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
    for name, part in rt.extras.items():
        check = getattr(part, "readiness", None)
        if callable(check) and (why := check()):
            reasons.append(f"{name}: {why}")
    return reasons


def ping(rt: Any) -> bool:
    """True when the database answers (blocking: run it off the event loop)."""
    return db.ping(rt.engine)
