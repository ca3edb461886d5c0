"""Keep full garbage collections out of requests once a serving process has started.

A server at 10^5 sections holds some 3.7 × 10^5 long-lived, GC-tracked objects (index metadata, the
permission table, start-up caches). CPython's full (generation 2) collection walks all of them: measured
0.3-0.75 s on the 2-core reference machine, inside whichever lookup allocated last. Short-lived per-request
objects that survive a little longer (spans waiting in the tracing exporter's batch, receipts in the write
queue) are promoted and make those full collections come sooner. So once start-up is done (the lookup
index is ready), collect once and `gc.freeze()` everything alive: later full collections walk only what
was allocated since. Unfreezing first lets a collection find cyclic garbage frozen the previous time
(the console's review-list rebuilds settle the same way, `web.memo.settled`).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from typing import Any, Callable

log = logging.getLogger(__name__)


def settle() -> dict[str, float]:
    """Collect once and freeze what is alive; returns what it did (for logs and benches)."""
    t = time.perf_counter()
    gc.unfreeze()
    found = gc.collect()
    gc.freeze()
    return {"frozen": gc.get_freeze_count(), "collected": found, "seconds": round(time.perf_counter() - t, 3)}


def _settle_logged() -> None:
    log.info("heap settled after start-up: %(frozen)d objects frozen, %(collected)d collected in %(seconds).2fs",
             settle())


def settle_when_ready(ready: Callable[[], bool], stop: threading.Event, poll: float = 1.0,
                      action: Callable[[], Any] = settle) -> Callable[[], None]:
    """Run `action` (`settle`) in a background thread once `ready()` is true (asked every `poll` seconds until
    `stop`); returns the function that stops the thread."""

    def run() -> None:
        while not stop.is_set():
            if ready():
                action()
                return
            stop.wait(poll)

    thread = threading.Thread(target=run, name="freshgate-heap-settle", daemon=True)
    thread.start()

    def close() -> None:
        stop.set()
        thread.join(5)

    return close


def after_start(rt: Any, action: Callable[[], Any] = _settle_logged) -> Callable[[], None]:
    """Settle once this serving process's lookup index is ready (when `server.gc_freeze` and the process
    builds its read models at start, `lookup.warm_up`); a no-op stopper otherwise."""
    engine = rt.extras.get("lookup")
    if engine is None or not rt.settings.server.gc_freeze or not rt.settings.lookup.warm_up:
        return lambda: None
    return settle_when_ready(lambda: engine.index.ready, threading.Event(), action=action)
