"""What other domains know that the review list needs: reliance on documents (from decision
receipts), open conflicts and unanswered topics. The one place to wire them.

Each signal is read only when its domain is present in `rt.extras`; when a domain (or a
function) is absent or fails, the signal is empty and the review list still works (reliance 1).
- lookup (`extras["lookup"]`): `reliance(session, since) -> {doc: (lookups, stops)}` from the engine,
  else from `freshgate.lookup.reliance` (per-day counts, whole UTC days from `since`'s day), else
  `freshgate.lookup.receipts`, else `_reliance_from_receipts` below; unanswered topics from
  `freshgate.lookup.receipts.unanswered`.
- conflicts (`extras["conflicts"]`): `open_counts(session) -> {doc: n}`.
- actions (`extras["actions"]`): `review_signals(session) -> (uncovered tools, rules without rollback)`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy import bindparam, text
from sqlmodel.sql.sqltypes import UTCDateTime

log = logging.getLogger(__name__)
RELIANCE_DAYS = 30
# Receipts citing each document since :since, and how many of them stopped the agent.
_RELIANCE = text(
    "SELECT rd.document_id, COUNT(*), SUM(CASE WHEN r.decision = 'stop_and_ask' THEN 1 ELSE 0 END)"
    " FROM receipt_document rd JOIN lookup_receipt r ON r.id = rd.receipt_id"
    " WHERE r.at >= :since GROUP BY rd.document_id"
).bindparams(bindparam("since", type_=UTCDateTime()))


@dataclass
class Signals:
    """Reliance, conflicts and coverage gaps known at report time."""

    reliance: dict[str, tuple[int, int]] = field(default_factory=dict)  # doc -> (lookups, stops)
    conflicts: dict[str, int] = field(default_factory=dict)  # doc -> open conflicts
    unanswered: list[dict[str, Any]] = field(default_factory=list)
    uncovered: list[dict[str, Any]] = field(default_factory=list)  # tools agents tried that no card governs
    no_rollback: list[dict[str, Any]] = field(default_factory=list)  # approval/forbidden rules without rollback


def _safe(name: str, fn: Callable[[], Any], default: Any) -> Any:
    try:
        return fn() or default
    except Exception:  # noqa: BLE001 - a broken signal must not take the review list down
        log.exception("review signal %s failed; treating it as empty", name)
        return default


def _reliance_from_receipts(session, since: datetime) -> dict[str, tuple[int, int]]:
    return {d: (int(n), int(s or 0)) for d, n, s in session.execute(_RELIANCE, {"since": since}).all()}


def _lookup_signals(engine: Any, session, since: datetime, limit: int, with_reliance: bool = True) -> tuple[dict, list]:
    try:
        from freshgate.lookup import receipts
    except ImportError:
        receipts = None
    try:  # per-day counts kept by the receipt writer: a sum over <= 31 days, not a join over every link
        from freshgate.lookup import reliance as daily
    except ImportError:
        daily = None
    rel_fn = (getattr(engine, "reliance", None) or getattr(daily, "reliance", None)
              or getattr(receipts, "reliance", None))
    reliance = _safe("reliance", lambda: (rel_fn or _reliance_from_receipts)(session, since), {}) if with_reliance else {}
    un_fn = getattr(receipts, "unanswered", None)
    topics = _safe("unanswered", lambda: un_fn(session, limit) if un_fn else [], [])
    return reliance, [t if isinstance(t, dict) else {"topic": t.query, "count": t.count, "last_seen": t.last_seen}
                      for t in topics]


def action_signals(extras: dict[str, Any], session) -> tuple[list, list]:
    """(uncovered tools, rules without rollback) from the actions domain (empty when absent)."""
    actions = extras.get("actions")
    if actions is not None and hasattr(actions, "review_signals"):
        return _safe("actions", lambda: actions.review_signals(session), ([], []))
    return [], []


def gather(extras: dict[str, Any], session, now: datetime, *, unanswered_limit: int = 50,
           with_reliance: bool = True, with_actions: bool = True) -> Signals:
    """Collect the signals from the domains present in `extras` (empty when absent; reliance also when
    `with_reliance` is false: the incremental review list keeps its last full build's)."""
    out = Signals()
    if extras.get("lookup") is not None:
        reliance, topics = _lookup_signals(extras["lookup"], session, now - timedelta(days=RELIANCE_DAYS),
                                           unanswered_limit, with_reliance)
        out.reliance, out.unanswered = dict(reliance), topics
    conflicts = extras.get("conflicts")
    if conflicts is not None and hasattr(conflicts, "open_counts"):
        out.conflicts = dict(_safe("conflicts", lambda: conflicts.open_counts(session), {}))
    if with_actions:
        out.uncovered, out.no_rollback = action_signals(extras, session)
    return out
