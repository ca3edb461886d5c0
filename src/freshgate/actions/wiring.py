"""Attach the action gate to a runtime: `rt.extras["actions"]` and the registry listener that keeps
the permission table in step with the SOP cards (rebuilt in the same transaction, just before it commits).

A serving process (the HTTP server) also keeps the permission table in memory (`follow`): built at
start, then kept current by the change feed (other processes' changes) and by this process's own
commits (right after each commit: read-your-writes). Until it is built, or while the feed cannot
be read, every check answers stop_and_ask (freshness unknown)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from sqlalchemy import event
from sqlmodel import Session

from freshgate.actions import table
from freshgate.actions.cache import RuleCache
from freshgate.actions.overlaps import find_overlaps
from freshgate.actions.service import ActionService
from freshgate.registry.service import Change, RegistryService

log = logging.getLogger(__name__)
_PENDING = "freshgate.actions.pending"
_COMMITTING = "freshgate.actions.committing"
_HOOKED = "freshgate.actions.hooked"


class ActionsHub:
    """The process-wide part of the action gate."""

    def __init__(self, rt) -> None:
        self.rt = rt
        self.cache: RuleCache | None = None  # set by `follow` in a serving process
        self.receipts = _receipt_writer(rt)  # None: every check writes its receipt in its own transaction

    def service(self, session: Session) -> ActionService:
        """The action service bound to a session (reading the permission table in memory when this process keeps one)."""
        return ActionService(session, RegistryService(session, self.rt.registry_ctx), self.rt.settings.actions,
                             self.rt.extras.get("conflicts"), cache=self.cache, writer=self.receipts)

    # ---- the permission table in memory ---------------------------------------------------------
    def follow(self) -> Callable[[], None]:
        """Keep the permission table in memory, following the change feed; returns the function that stops it.
        Without the feed (feed.enabled false) or with actions.cache false, checks read the database."""
        from freshgate.feed.tailer import FeedFollower

        settings = self.rt.settings
        if self.cache is not None or not settings.actions.cache or not settings.feed.enabled:
            return lambda: None
        cache = RuleCache(self.rt.engine, max_feed_age=settings.actions.feed_max_age)
        follower = FeedFollower(self.rt.engine, cache.apply_feed, interval=settings.feed.poll_interval,
                                listen=settings.feed.listen, watermark=lambda: cache.watermark,
                                set_watermark=cache.set_watermark, on_gap=lambda: _rebuilt(cache))
        cache.follower = follower
        self.cache = cache  # from here on checks go through it: stop_and_ask until it is built and following
        try:
            cache.build()
        except Exception as exc:  # noqa: BLE001 - the database may be down at start: build in the background
            log.warning("permission table not loaded at start (%s); retrying in the background", exc)
            threading.Thread(target=self._build_later, args=(cache,), name="freshgate-actions-build",
                             daemon=True).start()
        follower.start()

        def stop() -> None:
            cache.closed = True
            follower.stop()
            self.cache = None

        return stop

    @staticmethod
    def _build_later(cache: RuleCache) -> None:
        delay = 1.0
        while cache.watermark is None and not cache.closed:
            time.sleep(delay)
            try:
                cache.build()
            except Exception as exc:  # noqa: BLE001 - keep trying; checks stop meanwhile
                log.warning("permission table still not loaded: %s", exc)
                delay = min(delay * 2, 30.0)

    def readiness(self) -> str | None:
        """For /readyz: why this replica's action checks would all stop now (None: they would not)."""
        return self.cache.unready_reason() if self.cache is not None else None

    def health(self) -> dict:
        """For /healthz: the permission table in memory (or that checks read the database) and the receipt queue."""
        out = self.cache.health() if self.cache is not None else {"cache": "off"}
        out["receipt_queue"] = self.receipts.health() if self.receipts is not None else "off"
        return out

    # ---- registry listener ---------------------------------------------------------------
    def listener(self, session: Session, change: Change) -> None:
        """Remember which documents changed; their rules are rebuilt just before the commit."""
        session.info.setdefault(_PENDING, set()).add(change.document_id)
        if not session.info.get(_HOOKED):
            session.info[_HOOKED] = True
            event.listen(session, "before_commit", self._before_commit)
            event.listen(session, "after_commit", self._after_commit)
            event.listen(session, "after_rollback", self._after_rollback)

    @staticmethod
    def _before_commit(session: Session) -> None:
        pending = session.info.pop(_PENDING, None)
        if pending:
            table.rebuild(session, sorted(pending))
            session.info.setdefault(_COMMITTING, set()).update(pending)

    def _after_commit(self, session: Session) -> None:
        if session.in_nested_transaction():
            return  # a released savepoint (sync, one file): wait for the real commit
        committed = session.info.pop(_COMMITTING, None)
        cache = self.cache
        if committed and cache is not None:
            try:
                cache.refresh(committed)  # this process sees its own change at once; the feed brings it again
            except Exception as exc:  # noqa: BLE001 - the change is committed; the feed entry reloads it
                log.warning("permission table not refreshed after a commit (the feed will): %s", exc)

    @staticmethod
    def _after_rollback(session: Session) -> None:
        if not session.in_nested_transaction():
            session.info.pop(_COMMITTING, None)

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
            rules = table.active_rules(session)
        return [o.message() for o in find_overlaps(rules)]


def wire(rt) -> ActionsHub:
    """Create the hub and listen to registry changes."""
    hub = ActionsHub(rt)
    rt.extras["actions"] = hub
    rt.registry_ctx.listeners.append(hub.listener)
    if hub.receipts is not None:
        rt.on_close.append(hub.receipts.close)  # queued receipts are written before the engine is disposed
    return hub


def _receipt_writer(rt):
    """Action receipts written in batches off the response path (lookup/receipt_queue.py), or None."""
    s = rt.settings.actions
    if rt.engine is None or s.receipt_queue <= 0:
        return None
    from freshgate.actions import receipts
    from freshgate.lookup.receipt_queue import ReceiptWriter

    return ReceiptWriter(rt.engine, capacity=s.receipt_queue, interval=s.receipt_flush_interval,
                         write=receipts.write_batch, tables=receipts.TABLES, name="freshgate-action-receipts")


def _rebuilt(cache: RuleCache) -> int:
    """The feed was pruned past the table's watermark: reload it whole; returns the watermark it reflects."""
    cache.build()
    return cache.watermark or 0
