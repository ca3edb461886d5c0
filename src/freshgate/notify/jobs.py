"""Scheduled notification job: event-driven messages to owners (one per owner per batch)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlmodel import Session

from freshgate.notify.service import NotifyService
from freshgate.registry.service import RegistryService

log = logging.getLogger(__name__)


def service(rt, session: Session) -> NotifyService:
    """The notify service of a runtime on a session (tests may put a `notify_sleep` in rt.extras)."""
    kw: dict[str, Any] = {"sleep": rt.extras["notify_sleep"]} if "notify_sleep" in rt.extras else {}
    hub = rt.extras.get("conflicts")
    if hub is not None:
        kw["conflicts_since"] = lambda last_id: hub.opened_since(session, last_id)
    return NotifyService(session, rt.settings.notify, RegistryService(session, rt.registry_ctx), **kw)


def deliver(svc: NotifyService, ids: list[int], now: datetime) -> dict[str, int]:
    """Send claimed deliveries, committing each outcome at once so a crash cannot resend it."""
    sent = failed = 0
    for did in ids:
        if svc.send(did, now):
            sent += 1
        else:
            failed += 1
        svc.session.commit()
    return {"sent": sent, "failed": failed}


def notify_changes(rt, now: datetime) -> dict[str, Any]:
    """Retry failed deliveries, then notify owners about new state transitions (one message per owner)."""
    with Session(rt.engine, expire_on_commit=False) as session:
        svc = service(rt, session)
        retry = svc.claim_retries(now)
        session.commit()
        ids, info = svc.claim_events(now)
        session.commit()
        result = deliver(svc, retry + ids, now)
    summary = {**info, "retried": len(retry), "claimed": len(ids), **result}
    log.info("notify: %s", summary)
    return summary
