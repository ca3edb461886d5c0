"""A memo of the console's expensive read models (review list, bulk states, facets, decision counts).

Each value remembers the data version it was computed from: the newest audit event (every change of
a document, owner, conflict verdict or detection writes one) and the newest conflict change. A change
therefore shows on the next page load (computed then, while that request waits). Time alone (a review
falling due, new receipts in the decision counts) only makes a value old: after `ttl` seconds the page
still gets the value it has and a background thread recomputes it (stale-while-revalidate), so one
unlucky page load does not pay for a rebuild at 100k documents. One lock per entry: a burst of loads
computes once.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from typing import Any, Callable

from sqlalchemy import func, select
from sqlmodel import Session

from freshgate.conflicts.models import ConflictRecord
from freshgate.registry.models import AuditEvent

log = logging.getLogger(__name__)
Compute = Callable[[Session], Any]


def data_version(session: Session) -> tuple:
    """What the read models depend on besides time: newest audit event, newest conflict change."""
    conn = session.connection()
    audit = conn.execute(select(func.max(AuditEvent.id))).scalar()
    conflict = conn.execute(select(func.max(ConflictRecord.updated_at))).scalar()
    return audit, str(conflict)


class Memo:
    """Values by name: (version, computed at, value), refreshed in the background once older than `ttl`."""

    def __init__(self, engine, ttl: float = 300, size: int = 64) -> None:
        self.engine, self.ttl, self.size = engine, ttl, size
        self.items: dict[tuple, tuple[Any, float, Any]] = {}
        self.locks: dict[tuple, threading.Lock] = {}
        self.refreshing: set[tuple] = set()
        self.guard = threading.Lock()

    def get(self, name: tuple, version: Any, session: Session, compute: Compute) -> Any:
        """The value of `name` for `version`: memoised, computed now when the data changed, refreshed later
        in the background when it is only old."""
        hit = self.items.get(name)
        if hit is not None and hit[0] == version:
            if time.monotonic() - hit[1] >= self.ttl:
                self._refresh_later(name, version, compute)
            return hit[2]
        with self.guard:
            lock = self.locks.setdefault(name, threading.Lock())
        with lock:
            hit = self.items.get(name)
            if hit is not None and hit[0] == version:
                return hit[2]
            value = compute(session)
            self._store(name, version, value)
            return value

    def _store(self, name: tuple, version: Any, value: Any) -> None:
        with self.guard:
            self.items[name] = (version, time.monotonic(), value)
            while len(self.items) > self.size:
                oldest = min(self.items, key=lambda k: self.items[k][1])
                self.items.pop(oldest)
                self.locks.pop(oldest, None)

    def _refresh_later(self, name: tuple, version: Any, compute: Compute) -> None:
        with self.guard:
            if name in self.refreshing:
                return
            self.refreshing.add(name)

        def run() -> None:
            try:
                with Session(self.engine, expire_on_commit=False) as session:
                    self._store(name, version, compute(session))
            except Exception:  # noqa: BLE001 - the old value stays; the next load tries again
                log.exception("console: refreshing %s failed", name)
            finally:
                with self.guard:
                    self.refreshing.discard(name)

        threading.Thread(target=run, name=f"console-memo-{name[0]}", daemon=True).start()


def memo_for(app) -> Memo:
    """The app's memo (one per application)."""
    memo = getattr(app.state, "console_memo", None)
    if memo is None:
        memo = app.state.console_memo = Memo(app.state.engine)
    return memo


def cached(request, session: Session, name: str, compute: Compute, *parts: Any) -> Any:
    """`compute(session)` memoised under `name` + `parts` for the current data version."""
    return memo_for(request.app).get((name, *parts), data_version(session), session, compute)


def cached_by_time(request, session: Session, name: str, compute: Compute) -> Any:
    """`compute(session)` memoised under `name`, refreshed in the background when old (for figures no audit
    event changes, like decision counts from receipts)."""
    return memo_for(request.app).get((name,), None, session, compute)


def settled(value: Any) -> Any:
    """`value`, after one full garbage collection, with every live object frozen out of later collections.

    A memoised review list at 100k documents is some 10^5 live containers; the first full collection after it
    was built walked them all inside whichever request came next (1.7 s wall under load: the queue's p99).
    Collecting here puts that cost on the rebuild, which pays seconds anyway, and freezing keeps later full
    collections small. Unfreezing first lets a collection find cyclic garbage frozen the last time."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return value


def review_report(request, session: Session):
    """The review list at the app clock's now, memoised for the current data version (overview, queue and
    document list share it: one bulk evaluation per change, not one per page)."""
    from freshgate.reports.service import review

    rt = request.app.state.runtime
    ctx = rt.registry_ctx
    return cached(request, session, "review", lambda s: settled(review(s, ctx.rules, rt.extras, ctx.clock())))


def shared_evaluation(request, session: Session):
    """The bulk document states the memoised review list was built from."""
    return review_report(request, session).evaluation
