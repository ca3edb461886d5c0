"""Decision receipts written off the response path: queued, batched, never dropped, durable at shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

import httpx
import pytest
from sqlalchemy import event, text

from freshgate import db
from freshgate.lookup.receipt_queue import ReceiptWriter
from tests.conftest import make_key
from tests.lookup.conftest import ask, hashing_kb  # noqa: F401 - fixture
from tests.lookup.live import free_port


def _receipt(i: int, doc: str = "refund-policy") -> dict:
    return {"id": f"r{i:031d}", "at": datetime.now(timezone.utc), "query": f"q{i}", "risk": "low", "scope": None,
            "decision": "proceed", "reasons": [], "principal": None,
            "citations": [{"document_id": doc, "version": 1}], "links": {doc: 1}}


def _count(url: str, table: str = "lookup_receipt") -> int:
    """Rows as another process sees them (own engine: no read-your-writes flush)."""
    engine = db.make_engine(url)
    try:
        with engine.connect() as c:
            return c.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()
    finally:
        engine.dispose()


def test_a_full_queue_pushes_back_on_the_caller_instead_of_dropping(runtime):
    """While the database is slow, the queue fills; then submit says 'write it yourself' and nothing is lost."""
    release = threading.Event()

    def slow_database(conn, cursor, statement, *a):
        if statement.lstrip().upper().startswith("INSERT INTO LOOKUP_RECEIPT") and not release.is_set():
            release.wait(30)

    event.listen(runtime.engine, "before_cursor_execute", slow_database)
    writer = ReceiptWriter(runtime.engine, capacity=2, interval=0.0)
    try:
        assert writer.submit(_receipt(1)) and writer.submit(_receipt(2))
        assert writer.submit(_receipt(3)) is False  # full: back-pressure, the lookup writes its own
        assert writer.synchronous == 1 and writer.pending() == 2
        release.set()
        assert writer.flush(30)
        assert _count(runtime.settings.database_url) == 2
        with runtime.engine.connect() as c:  # reliance counted once per receipt and day
            assert c.execute(text("SELECT lookups FROM reliance_daily WHERE document_id = 'refund-policy'")).scalar() == 2
    finally:
        release.set()
        writer.close()  # (before the listener goes: removing one while the writer runs them fails its batch)
        event.remove(runtime.engine, "before_cursor_execute", slow_database)


def test_a_failing_database_keeps_receipts_queued_and_lookups_write_their_own(runtime):
    """A batch the database refuses stays queued (retried); meanwhile submit refuses, so lookups fail safe."""
    broken = threading.Event()
    broken.set()

    def refuse(conn, cursor, statement, *a):
        if broken.is_set() and statement.lstrip().upper().startswith("INSERT INTO LOOKUP_RECEIPT"):
            raise RuntimeError("disk full")

    event.listen(runtime.engine, "before_cursor_execute", refuse)
    writer = ReceiptWriter(runtime.engine, capacity=10, interval=0.0)
    try:
        assert writer.submit(_receipt(1))
        assert writer.flush(10) is False and not writer.healthy
        assert writer.submit(_receipt(2)) is False  # unhealthy: the lookup writes itself (and fails safe)
        assert writer.pending() == 1 and _count(runtime.settings.database_url) == 0
        broken.clear()
        deadline = time.monotonic() + 30
        while writer.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.healthy and _count(runtime.settings.database_url) == 1  # the retry wrote it
    finally:
        broken.clear()
        writer.close()
        event.remove(runtime.engine, "before_cursor_execute", refuse)


def test_receipts_are_readable_right_after_the_lookup(hashing_kb, runtime):
    """GET /v1/receipts waits for this process's queue (read-your-writes); the receipt went through it."""
    writer = runtime.extras["lookup"].receipts
    out = ask(hashing_kb, "refund window for monthly plans")
    r = hashing_kb.get(f"/v1/receipts/{out['receipt_id']}")
    assert r.status_code == 200 and r.json()["decision"] == out["decision"]
    assert out["receipt_id"] in [x["id"] for x in hashing_kb.get("/v1/receipts").json()]
    assert writer.written >= 1 and writer.synchronous == 0
    queue = hashing_kb.get("/healthz").json()["lookup"]["receipt_queue"]  # the operator sees the lookup's queue too
    assert queue["healthy"] is True and queue["written"] >= 1 and queue["queued"] == 0


def test_a_full_queue_still_records_every_receipt_of_a_lookup(hashing_kb, runtime):
    """With a queue of one and a stalled writer, the second lookup writes its receipt before answering."""
    writer = runtime.extras["lookup"].receipts
    writer.capacity = 1
    release = threading.Event()

    def slow(conn, cursor, statement, *a):
        if threading.current_thread().name == "freshgate-receipts" and not release.is_set():
            release.wait(30)

    event.listen(runtime.engine, "before_cursor_execute", slow)
    try:
        first = ask(hashing_kb, "refund window for monthly plans")
        second = ask(hashing_kb, "who is on call for SRE?")
        assert writer.synchronous == 1
        other = db.make_engine(runtime.settings.database_url)
        with other.connect() as c:  # visible to another process at once: written in the request
            ids = {r[0] for r in c.execute(text("SELECT id FROM lookup_receipt"))}
        other.dispose()
        assert second["receipt_id"] in ids and first["receipt_id"] not in ids
        release.set()
        assert writer.flush(30) and _count(runtime.settings.database_url) == 2
    finally:
        release.set()
        writer.flush(30)  # (removing a listener while the writer runs the listeners would fail its batch)
        event.remove(runtime.engine, "before_cursor_execute", slow)


@pytest.mark.timeout(300)
def test_a_server_writes_its_queued_receipts_when_it_shuts_down(runtime, kb, tmp_path):
    """A real server process whose writer would wait an hour to batch: SIGTERM writes every receipt."""
    from freshgate.app import run_sync

    runtime.extras["lookup"].activate()
    assert run_sync(runtime, [kb / "sources", kb / "sop_cards"]).failed == []
    key = make_key(runtime.engine, "agent")
    port = free_port()
    env = {**os.environ, "FRESHGATE_DATABASE_URL": runtime.settings.database_url,
           "FRESHGATE_SERVER__SCHEDULER": "false", "FRESHGATE_CONFLICTS__SCAN_ON_START": "false",
           "FRESHGATE_EMBEDDING__KIND": "hashing", "FRESHGATE_LOOKUP__RELEVANCE_THRESHOLD": "0.2",
           "FRESHGATE_LOOKUP__RECEIPT_FLUSH_INTERVAL": "3600", "FRESHGATE_FEED__SNAPSHOT_DIR": "",
           "FRESHGATE_AUTH__KEY_FILE": str(tmp_path / "server.key")}
    code = ("import uvicorn; from freshgate.app import create_app; "
            f"uvicorn.run(create_app(), host='127.0.0.1', port={port}, log_level='warning')")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        base, ids = f"http://127.0.0.1:{port}", []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).json().get("lookup", {}).get("index") == "ready":
                    break
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.2)
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
            for q in ("refund window for monthly plans", "who is on call for SRE?", "a parcel was lost"):
                r = c.post("/v1/lookup", json={"query": q})
                assert r.status_code == 200, r.text
                ids.append(r.json()["receipt_id"])
        assert _count(runtime.settings.database_url) == 0  # still queued: the writer gathers for an hour
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)  # uvicorn shuts down gracefully, then re-raises SIGTERM (exit status -15)
    finally:
        if proc.poll() is None:
            proc.kill()
    engine = db.make_engine(runtime.settings.database_url)
    with engine.connect() as c:
        stored = {r[0] for r in c.execute(text("SELECT id FROM lookup_receipt"))}
    engine.dispose()
    assert stored == set(ids)
