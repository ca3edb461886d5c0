"""Decision receipts written off the response path: a bounded in-process queue flushed in batches.

A lookup hands its receipt (a plain dict: the `lookup_receipt` row plus its cited versions) to
`ReceiptWriter.submit`; one writer thread lets a batch gather for up to `interval` seconds (less
when a reader or the shutdown waits for it), then writes up to `batch` receipts in one transaction
(one INSERT per table, reliance counted once per document and day).

- Never dropped silently. A full queue makes `submit` return False and the lookup writes its
  receipt in its own transaction, as before (back-pressure, not loss). A failed batch stays at
  the head of the queue and is retried; while the last write failed `healthy` is False and
  lookups write synchronously, so a database that refuses receipts still turns answers into
  `stop_and_ask` (the fail-safe rule is unchanged). `close()` (server shutdown, `Runtime.close`)
  writes what is queued before returning and logs at ERROR, with the ids, whatever it could not.
- Read-your-writes in this process: a SELECT on the receipt tables through the same engine first
  waits (bounded) for the queue to be written, so every reader (API, console, reports) sees the
  receipts of lookups already answered. Another process sees them within `interval` seconds.

The same writer serves the action gate (actions/receipts.py): `write` is the function that stores
a batch in a transaction, `tables` the tables a reader must not see behind the queue, `name` the
thread's name. Submitting wakes the writer only when it waits for work (the queue was empty) or a
batch is complete; otherwise the batch gathers until `interval` has passed.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from datetime import date
from typing import Any, Callable, Iterable

from sqlalchemy import event, insert

from freshgate.lookup.models import LookupReceipt, ReceiptDocument
from freshgate.lookup.reliance import count_reliance_many, utc_day

log = logging.getLogger(__name__)
_TABLES = ("lookup_receipt", "receipt_document", "reliance_daily")


class ReceiptWriter:
    """A bounded queue of receipts and the thread that writes them in batches."""

    def __init__(self, engine, *, capacity: int = 2048, batch: int = 256, interval: float = 0.05,
                 read_wait: float = 5.0, write: Callable[[Any, list[dict[str, Any]]], None] | None = None,
                 tables: Iterable[str] = _TABLES, name: str = "freshgate-receipts") -> None:
        self.engine = engine
        self.write = write or write_batch
        self.name = name
        # A whole table name (not `receipt_document` inside `action_receipt_document`).
        self._tables = re.compile(r"\b(?:" + "|".join(re.escape(t) for t in tables) + r")\b")
        self.capacity, self.batch, self.interval, self.read_wait = capacity, max(1, batch), interval, read_wait
        self._queue: deque[dict[str, Any]] = deque()
        self._cv = threading.Condition()
        self._inflight = 0
        self._flushing = 0  # callers waiting in flush(): the writer stops gathering and writes
        self._thread: threading.Thread | None = None
        self._closed = False
        self.error: str | None = None  # why the last batch failed (None: the last write worked)
        self.written = 0
        self.batches = 0
        self.synchronous = 0  # receipts the lookups wrote themselves (queue full or writer unhealthy)
        event.listen(engine, "before_cursor_execute", self._before_read)

    @property
    def healthy(self) -> bool:
        """False while the last batch could not be written (lookups then write synchronously)."""
        return self.error is None and not self._closed

    def pending(self) -> int:
        """Receipts queued or being written (a batch being written stays in the queue until it is committed)."""
        return len(self._queue)

    def submit(self, receipt: dict[str, Any]) -> bool:
        """Queue a receipt; False when the caller must write it itself (queue full, unhealthy, closed)."""
        with self._cv:
            if not self.healthy or len(self._queue) >= self.capacity:
                self.synchronous += 1
                return False
            self._queue.append(receipt)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            n = len(self._queue)
            if n == 1 or n == self.batch or n >= self.capacity:
                self._cv.notify_all()  # the writer waits for work, or a batch is complete: no need to gather on
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is written; False on timeout or when a write fails."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            self._flushing += 1
            self._cv.notify_all()
            try:
                while self._queue or self._inflight:
                    if self.error is not None:
                        return False  # the head batch failed: it is retried, but not while a reader waits
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._cv.wait(0.05 if left is None else min(left, 0.05))
            finally:
                self._flushing -= 1
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, stop the thread; what cannot be written is logged with its ids."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        t = self._thread
        if t is not None:
            t.join(timeout)
        if self._queue:  # the thread died or the database kept refusing: one last synchronous attempt
            self._write_head()
        if self._queue:
            log.error("%d decision receipts could not be written at shutdown (%s): %s", len(self._queue),
                      self.error, ", ".join(r["id"] for r in self._queue))
        if event.contains(self.engine, "before_cursor_execute", self._before_read):  # (close twice: no error)
            event.remove(self.engine, "before_cursor_execute", self._before_read)

    def health(self) -> dict[str, Any]:
        """For /healthz (public): queued, written, written synchronously by the callers, and the first line of the
        last write error (the driver's message, never the statement or its parameters)."""
        error = self.error.splitlines()[0][:200] if self.error else None
        return {"queued": self.pending(), "capacity": self.capacity, "healthy": self.healthy, "error": error,
                "written": self.written, "batches": self.batches, "synchronous": self.synchronous}

    # ---- the writer thread -------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._closed:
                    self._cv.wait(1.0)
                if not self._queue:  # closed and nothing left
                    self._thread = None
                    self._cv.notify_all()
                    return
                # Let a batch gather (one transaction for many lookups) unless someone waits for it.
                deadline = time.monotonic() + self.interval
                while (len(self._queue) < min(self.batch, self.capacity) and not self._closed and not self._flushing
                       and (left := deadline - time.monotonic()) > 0):
                    self._cv.wait(left)
            if not self._write_head():
                with self._cv:
                    if self._closed:
                        self._thread = None
                        self._cv.notify_all()
                        return
                    self._cv.wait(min(1.0, max(0.1, 10 * self.interval)))  # retry the failed batch after a pause

    def _write_head(self) -> bool:
        """Write up to `batch` receipts from the head of the queue; they leave it only once committed."""
        with self._cv:
            batch = [self._queue[i] for i in range(min(self.batch, len(self._queue)))]
            self._inflight = len(batch)
        if not batch:
            return True
        try:
            with self.engine.begin() as conn:
                self.write(conn, batch)
        except Exception as exc:  # noqa: BLE001 - kept queued and retried; lookups meanwhile write themselves
            with self._cv:
                self._inflight = 0
                if self.error is None:
                    log.error("decision receipts not written (%d queued, retrying): %s", len(self._queue), exc)
                self.error = str(exc) or type(exc).__name__
                self._cv.notify_all()
            return False
        with self._cv:
            for _ in batch:
                self._queue.popleft()
            self._inflight = 0
            if self.error is not None:
                log.warning("decision receipts are written again (%s)", self.error)
            self.error = None
            self.written += len(batch)
            self.batches += 1
            self._cv.notify_all()
        return True

    # ---- read-your-writes ------------------------------------------------------------------
    def _before_read(self, conn, cursor, statement: str, parameters, context, executemany) -> None:
        if not (self._queue or self._inflight) or threading.current_thread() is self._thread:
            return
        head = statement.lstrip()[:6].upper()
        if head != "SELECT" and head != "WITH ":
            return
        if self._tables.search(statement) and not self.flush(self.read_wait):
            log.warning("reading receipts while %d are still queued (%s)", self.pending(), self.error or "slow writer")


def write_batch(conn, receipts: list[dict[str, Any]]) -> None:
    """Receipts, their version links and the per-day reliance counts, in the caller's transaction."""
    conn.execute(insert(LookupReceipt), [{k: r[k] for k in _COLUMNS} for r in receipts])
    links = [{"receipt_id": r["id"], "document_id": d, "version": v}
             for r in receipts for d, v in r["links"].items()]
    if links:
        conn.execute(insert(ReceiptDocument), links)
    counts: dict[tuple[str, date], list[int]] = {}
    for r in receipts:
        day, stop = utc_day(r["at"]), int(r["decision"] == "stop_and_ask")
        for d in r["links"]:
            c = counts.setdefault((d, day), [0, 0])
            c[0] += 1
            c[1] += stop
    count_reliance_many(conn, counts)


_COLUMNS = ("id", "at", "query", "risk", "scope", "decision", "reasons", "citations", "principal")
