"""Attach the action gate to a runtime: `rt.extras["actions"]` and the registry listener that keeps
the permission table in step with the SOP cards (rebuilt in the same transaction, just before it commits)."""

from __future__ import annotations

import logging

from sqlalchemy import event
from sqlmodel import Session

from freshgate.actions import table
from freshgate.actions.overlaps import find_overlaps
from freshgate.actions.service import ActionService
from freshgate.registry.service import Change, RegistryService

log = logging.getLogger(__name__)
_PENDING = "freshgate.actions.pending"
_HOOKED = "freshgate.actions.hooked"


class ActionsHub:
    """The process-wide part of the action gate."""

    def __init__(self, rt) -> None:
        self.rt = rt

    def service(self, session: Session) -> ActionService:
        """The action service bound to a session."""
        return ActionService(session, RegistryService(session, self.rt.registry_ctx), self.rt.settings.actions,
                             self.rt.extras.get("conflicts"))

    # ---- registry listener ---------------------------------------------------------------
    def listener(self, session: Session, change: Change) -> None:
        """Remember which documents changed; their rules are rebuilt just before the commit."""
        session.info.setdefault(_PENDING, set()).add(change.document_id)
        if not session.info.get(_HOOKED):
            session.info[_HOOKED] = True
            event.listen(session, "before_commit", self._before_commit)

    @staticmethod
    def _before_commit(session: Session) -> None:
        pending = session.info.pop(_PENDING, None)
        if pending:
            table.rebuild(session, sorted(pending))

    # ---- review list -----------------------------------------------------------------------
    def review_signals(self, session: Session, limit: int = 50) -> tuple[list[dict], list[dict]]:
        """(uncovered tools with counts, approval/forbidden rules of active cards without a rollback rule)."""
        svc = self.service(session)
        uncovered = [{"tool": u.tool, "count": u.count, "reason": u.last_reason, "last_seen": u.last_seen}
                     for u in svc.uncovered(limit)]
        docs = {}
        rows = []
        for r in svc.missing_rollback():
            doc = docs.get(r.card_id) or docs.setdefault(r.card_id, svc.registry.get(r.card_id))
            rows.append({"card": r.card_id, "tool": r.pattern, "lane": r.lane, "owner": doc.owner_id,
                         "criticality": doc.criticality})
        return uncovered, rows

    # ---- overlaps -------------------------------------------------------------------------
    def overlap_warnings(self) -> list[str]:
        """One line per pair of rules from different cards that can govern the same call."""
        with Session(self.rt.engine) as session:
            rules = [table.as_rule(r) for r in table.all_rows(session, active_only=True)]
        return [o.message() for o in find_overlaps(rules)]


def wire(rt) -> ActionsHub:
    """Create the hub and listen to registry changes."""
    hub = ActionsHub(rt)
    rt.extras["actions"] = hub
    rt.registry_ctx.listeners.append(hub.listener)
    return hub
