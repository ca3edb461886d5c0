"""What other domains know that the review list needs: reliance on documents (from decision
receipts), open conflicts and unanswered topics. The one place to wire them.

Each comes from a domain service found in `rt.extras` when present; when a service (or the
method) is absent, the signal is empty and the review list still works (reliance 1 everywhere).
Expected service methods (duck-typed):
  extras["lookup"].reliance(session, since)     -> {document_id: (lookups, stops)}
  extras["lookup"].unanswered(session, limit)   -> [{"topic"|"query": str, "count": int, "last_seen": datetime}]
  extras["conflicts"].open_counts(session)       -> {document_id: number of open conflicts}
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)
RELIANCE_DAYS = 30


@dataclass
class Signals:
    """Reliance, conflicts and coverage gaps known at report time."""

    reliance: dict[str, tuple[int, int]] = field(default_factory=dict)  # doc -> (lookups, stops)
    conflicts: dict[str, int] = field(default_factory=dict)  # doc -> open conflicts
    unanswered: list[dict[str, Any]] = field(default_factory=list)


def _call(service: Any, name: str, *args: Any, default: Any) -> Any:
    fn = getattr(service, name, None) if service is not None else None
    if fn is None:
        return default
    try:
        return fn(*args) or default
    except Exception:  # noqa: BLE001 - a broken signal must not take the review list down
        log.exception("review signal %s failed; treating it as empty", name)
        return default


def gather(extras: dict[str, Any], session, now: datetime, *, unanswered_limit: int = 50) -> Signals:
    """Collect the signals from the domain services present in `extras` (empty when absent)."""
    lookup, conflicts = extras.get("lookup"), extras.get("conflicts")
    since = now - timedelta(days=RELIANCE_DAYS)
    return Signals(
        reliance=dict(_call(lookup, "reliance", session, since, default={})),
        conflicts=dict(_call(conflicts, "open_counts", session, default={})),
        unanswered=list(_call(lookup, "unanswered", session, unanswered_limit, default=[])),
    )
