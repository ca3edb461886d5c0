"""Follow the change log: poll every `feed.poll_interval` seconds (PostgreSQL: also wake on NOTIFY)
and hand each batch of changed document ids to the subscriber that keeps the index current.

The follower's watermark is the id of the last change applied. Because change ids become
visible in id order (feed.service), `id > watermark` never misses a change — unless the log was
pruned past it (feed.prune): then `on_gap` rebuilds from the database instead. A heartbeat thread
writes the watermark to `feed_consumer`, so pruning keeps what a live follower still needs.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy.engine import Engine

from freshgate.feed import prune, service
from freshgate.feed.service import ChangeRow

log = logging.getLogger(__name__)
Apply = Callable[[list[ChangeRow]], None]
HEARTBEAT = 10.0  # seconds between watermark heartbeats (feed.consumer_timeout is far longer)


class FeedFollower:
    """A background thread applying committed changes; `watermark` is read and set by its owner."""

    def __init__(self, engine: Engine, apply: Apply, *, interval: float = 0.5, listen: bool = True,
                 watermark: Callable[[], int | None] | None = None,
                 set_watermark: Callable[[int], None] | None = None,
                 on_gap: Callable[[], int] | None = None) -> None:
        import uuid

        from freshgate.feed.owed import process_name

        self.engine = engine
        self.on_gap = on_gap  # rebuild from the database; returns the watermark it reflects
        self.name = f"{process_name()}:{uuid.uuid4().hex[:6]}"
        self.gaps = 0
        self.apply = apply
        self.interval = max(0.01, interval)
        self.listen = listen and engine.dialect.name == "postgresql"
        self._get_wm = watermark
        self._set_wm = set_watermark
        self._own_wm: int | None = None
        self.db_watermark = 0
        self.oldest_pending_at: datetime | None = None
        self.last_poll_at: float | None = None
        self.last_error: str | None = None
        self.applied = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    # ---- watermark -----------------------------------------------------------------
    @property
    def watermark(self) -> int | None:
        """Id of the newest change applied (None until the index is built)."""
        return self._get_wm() if self._get_wm else self._own_wm

    def _advance(self, wm: int) -> None:
        if self._set_wm:
            self._set_wm(wm)
        else:
            self._own_wm = wm

    # ---- one poll ------------------------------------------------------------------
    def poll(self) -> int:
        """Read and apply what is new; returns how many changes were applied."""
        self.last_poll_at = time.monotonic()
        with self.engine.connect() as conn:
            self.db_watermark = service.latest_id(conn)
            wm = self.watermark
            if wm is None or self.db_watermark <= wm:
                self.oldest_pending_at = None
                return 0
            if self.on_gap is not None and wm < prune.pruned_through(conn):
                gap = True
            else:
                gap, rows = False, service.changes_since(conn, wm)
        if gap:  # changes after our watermark were pruned: reload everything rather than miss them
            log.warning("change feed: entries after watermark %d were pruned; rebuilding the index", wm)
            self.gaps += 1
            self._advance(self.on_gap())
            return 1
        if not rows:
            return 0
        self.oldest_pending_at = rows[0].created_at
        self.apply(rows)
        self._advance(rows[-1].id)
        self.applied += len(rows)
        self.oldest_pending_at = None
        return len(rows)

    # ---- the loop ------------------------------------------------------------------
    def start(self) -> None:
        """Follow in background threads until `stop()`."""
        if self._threads:
            return
        self._threads.append(threading.Thread(target=self._run, name="freshgate-feed", daemon=True))
        self._threads.append(threading.Thread(target=self._heartbeat, name="freshgate-feed-heartbeat", daemon=True))
        if self.listen:
            self._threads.append(threading.Thread(target=self._listen, name="freshgate-feed-listen", daemon=True))
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """Stop following (waits briefly for the threads)."""
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(5)
        self._threads.clear()
        try:
            prune.forget(self.engine, self.name)
        except Exception as exc:  # noqa: BLE001 - it times out of the consumers by itself
            log.info("change feed: could not deregister follower %s: %s", self.name, exc)

    @property
    def following(self) -> bool:
        """True while the threads run."""
        return bool(self._threads)

    def wake(self) -> None:
        """Poll now instead of at the next interval."""
        self._wake.set()

    def _run(self) -> None:
        backoff = self.interval
        while not self._stop.is_set():
            try:
                while self.poll() and not self._stop.is_set():
                    pass  # a full page: read the next one at once
                self.last_error, backoff = None, self.interval
            except Exception as exc:  # noqa: BLE001 - a database blip: report, retry with backoff
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("change feed poll failed: %s", exc)
                backoff = min(backoff * 2, 10.0)
            self._wake.wait(backoff)
            self._wake.clear()

    def _heartbeat(self) -> None:
        """Tell pruning which changes this follower still needs (its own thread: a busy writer never delays polls)."""
        while not self._stop.is_set():
            wm = self.watermark
            if wm is not None:
                try:
                    prune.heartbeat(self.engine, self.name, wm)
                except Exception as exc:  # noqa: BLE001 - pruning waits for the consumer timeout meanwhile
                    log.info("change feed heartbeat failed: %s", exc)
            self._stop.wait(HEARTBEAT)

    def _listen(self) -> None:
        """PostgreSQL LISTEN: each NOTIFY wakes the poller (polling alone stays correct)."""
        import psycopg

        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {service.CHANNEL}")
                    while not self._stop.is_set():
                        for _n in conn.notifies(timeout=1.0, stop_after=1):
                            self._wake.set()
            except Exception as exc:  # noqa: BLE001 - polling goes on; listen again shortly
                log.info("change feed LISTEN connection lost (%s); polling only for now", exc)
                self._stop.wait(5)

    # ---- health ----------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """Watermarks and lag for /healthz."""
        wm = self.watermark
        lag_s = 0.0
        if self.oldest_pending_at is not None:
            at = self.oldest_pending_at
            at = at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at
            lag_s = max(0.0, (datetime.now(timezone.utc) - at).total_seconds())
        return {"index_watermark": wm, "db_watermark": self.db_watermark,
                "lag_changes": None if wm is None else max(0, self.db_watermark - wm), "lag_seconds": round(lag_s, 3),
                "poll_interval": self.interval, "listen": self.listen, "following": bool(self._threads),
                "last_poll_age": None if self.last_poll_at is None else round(time.monotonic() - self.last_poll_at, 3),
                "applied": self.applied, "last_error": self.last_error, "gaps_rebuilt": self.gaps}
