"""A short-lived memo of the console's expensive read models (review list, bulk states, decision stats).

Entries are keyed by the data's version: the newest audit event (every change of a document, owner,
conflict verdict or detection writes one) and the newest conflict change, plus the five minutes.
A change therefore shows on the next page load; only time-driven drift (a review falling due, new
receipts in the decision counts) can lag, by at most `ttl` seconds (five minutes). One lock per key: a burst of page loads
computes a model once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import func, select
from sqlmodel import Session

from freshgate.conflicts.models import ConflictRecord
from freshgate.registry.models import AuditEvent


def data_version(session: Session, now: datetime, ttl: int) -> tuple:
    """What the read models depend on: newest audit event, newest conflict change, the time bucket."""
    conn = session.connection()
    audit = conn.execute(select(func.max(AuditEvent.id))).scalar()
    conflict = conn.execute(select(func.max(ConflictRecord.updated_at))).scalar()
    return audit, str(conflict), int(now.timestamp()) // ttl


class Memo:
    """Computed values by key, newest `size` kept, each at most `ttl` seconds old."""

    def __init__(self, ttl: int = 300, size: int = 64) -> None:
        self.ttl, self.size = ttl, size
        self.items: OrderedDict[tuple, tuple[float, Any]] = OrderedDict()
        self.locks: dict[tuple, threading.Lock] = {}
        self.guard = threading.Lock()

    def get(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """The memoised value of `key`, computed once when missing or too old."""
        with self.guard:
            lock = self.locks.setdefault(key, threading.Lock())
        with lock:
            hit = self.items.get(key)
            if hit is not None and time.monotonic() - hit[0] < self.ttl:
                return hit[1]
            value = compute()
            with self.guard:
                self.items[key] = (time.monotonic(), value)
                self.items.move_to_end(key)
                while len(self.items) > self.size:
                    old, _ = self.items.popitem(last=False)
                    self.locks.pop(old, None)
            return value


def memo_for(app) -> Memo:
    """The app's memo (one per application)."""
    memo = getattr(app.state, "console_memo", None)
    if memo is None:
        memo = app.state.console_memo = Memo()
    return memo


def cached(request, session: Session, name: str, compute: Callable[[], Any], *parts: Any) -> Any:
    """`compute()` memoised under `name` + `parts` for the current data version."""
    memo = memo_for(request.app)
    now = request.app.state.runtime.registry_ctx.clock()
    return memo.get((name, *parts, *data_version(session, now, memo.ttl)), compute)


def cached_by_time(request, name: str, compute: Callable[[], Any]) -> Any:
    """`compute()` memoised under `name` for the current time bucket (for figures no audit event changes,
    like decision counts from receipts)."""
    memo = memo_for(request.app)
    now = request.app.state.runtime.registry_ctx.clock()
    return memo.get((name, int(now.timestamp()) // memo.ttl), compute)
