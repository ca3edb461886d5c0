"""Scheduled conflict work: the full scan (registered by the scheduler as conflict_scan)."""

from __future__ import annotations

import logging
from datetime import datetime

log = logging.getLogger(__name__)


def full_scan(rt, now: datetime) -> dict:
    """Scan every active section against its nearest neighbours; returns what the scan did."""
    hub = rt.extras.get("conflicts")
    if hub is None:
        from freshgate.conflicts.wiring import wire

        hub = wire(rt)
    out = hub.scan()
    log.info("conflict scan for %s: %d new, %d resolved", now.isoformat(), len(out["detected"]), len(out["resolved"]))
    return out
