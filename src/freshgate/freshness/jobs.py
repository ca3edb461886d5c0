"""Scheduled freshness job: the sweep that records state transitions."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from freshgate import db
from freshgate.freshness.transitions import sweep_once

if TYPE_CHECKING:
    from freshgate.runtime import Runtime


def sweep(rt: "Runtime", now: datetime) -> dict:
    """Compute every document's state at `now`, record transitions, commit; returns a summary."""
    with db.session_scope(rt.engine) as session:
        result = sweep_once(session, now, rt.registry_ctx.rules)
    return result.as_dict()
