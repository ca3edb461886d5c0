"""A memo of the console's expensive read models (facets, id lists, owner pickers); the review list and its
bulk states are kept incrementally by `reports.incremental.LiveReview` (`review_report` below).

Each value remembers the data version it was computed from: the newest audit event (every change of
a document, owner, conflict verdict or detection writes one) and the newest conflict change. A change
therefore shows on the next page load (computed then, while that request waits). Time alone (a review
falling due, new receipts in the decision counts) only makes a value old: after `ttl` seconds the page
still gets the value it has and a background thread recomputes it (stale-while-revalidate), so one
unlucky page load does not pay for a rebuild at 100k documents. One lock per entry: a burst of loads
computes once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from sqlmodel import Session

from freshgate import heap
from freshgate.reports.incremental import LiveReview, data_version

log = logging.getLogger(__name__)
Compute = Callable[[Session], Any]


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


def request_version(request, session: Session) -> Any:
    """`data_version(session)`, read once per page load (a page asks for it for the review list and each memo;
    a form's POST reads it afresh every time: it changes the data)."""
    if request.method != "GET":
        return data_version(session)
    version = getattr(request.state, "data_version", None)
    if version is None:
        version = request.state.data_version = data_version(session)
    return version


def cached(request, session: Session, name: str, compute: Compute, *parts: Any) -> Any:
    """`compute(session)` memoised under `name` + `parts` for the current data version."""
    return memo_for(request.app).get((name, *parts), request_version(request, session), session, compute)


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
    heap.settle()
    return value


def live_review(app) -> LiveReview:
    """The app's incrementally kept review list (one per application; its rebuild thread stops with the runtime)."""
    live = getattr(app.state, "console_review", None)
    if live is None:
        rt = app.state.runtime
        ctx, cfg = rt.registry_ctx, rt.settings.console
        live = LiveReview(rt.engine, ctx.rules, rt.extras, lambda: ctx.clock(), rebuild_seconds=cfg.rebuild_seconds,
                          max_moved=cfg.max_moved, after_full=settled if cfg.gc_freeze else (lambda v: v))
        app.state.console_review = live
        rt.on_close.append(live.close)
    return live


def review_report(request, session: Session):
    """The review list at the app clock's now for the current data version (overview, queue and document list
    share it): after a change only the documents it moved are re-evaluated (`reports.incremental`)."""
    return live_review(request.app).get(session, request_version(request, session))


def catalog_cached(request, session: Session, name: str, compute: Compute, *parts: Any) -> Any:
    """`compute(session)` memoised under `name` + `parts` until a change may have changed the document list's
    ids or facets (a registration, transfer or edit; not a verification, retirement, owner flip or verdict)."""
    live = live_review(request.app)
    live.get(session, request_version(request, session))
    return memo_for(request.app).get((name, *parts), ("catalog", live.live.catalog_mark), session, compute)


def live_catalog(app):
    """The app's unfiltered document facets and id list, kept by the change log (`web.catalog.LiveCatalog`)."""
    from freshgate.web.catalog import LiveCatalog

    live = getattr(app.state, "console_catalog", None)
    if live is None:
        live = app.state.console_catalog = LiveCatalog(app.state.runtime.settings.console.max_moved)
    return live


def shared_evaluation(request, session: Session):
    """The bulk document states the memoised review list was built from."""
    return review_report(request, session).evaluation


def warm_up(app, force: bool = False) -> threading.Thread | None:
    """Build the review list and the document facets in a background thread at start-up, so the first page
    load after a restart waits for what is left of the build (a full build: seconds at 100k documents) instead
    of starting it. At start-up only when the server builds its read models then (`lookup.warm_up`, which
    tests and benchmarks turn off) and the console's background rebuilds are on (`console.rebuild_seconds`
    > 0); `force`: whatever the settings say."""
    rt = getattr(app.state, "runtime", None)
    if rt is None or not (force or (rt.settings.lookup.warm_up and rt.settings.console.rebuild_seconds > 0)):
        return None
    live, catalog = live_review(app), live_catalog(app)

    def run() -> None:
        try:
            with Session(rt.engine, expire_on_commit=False) as session:
                live.get(session)
                catalog.get(session)
        except Exception:  # noqa: BLE001 - the first page load builds it instead
            log.exception("console: building the review list at start-up failed")

    thread = threading.Thread(target=run, name="freshgate-console-warm-up", daemon=True)
    thread.start()
    return thread
