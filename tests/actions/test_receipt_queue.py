"""Action receipts written off the response path (lookup/receipt_queue.py): queued, batched, readable at
once in this process, never dropped (full queue or failing writer: the check writes its own), written at
close. On SQLite and PostgreSQL, through the API."""

from __future__ import annotations

import threading
import time

from sqlalchemy import event, text

from freshgate import db
from tests.actions.conftest import check


def _rows(url: str, sql: str) -> list[tuple]:
    """Rows as another process sees them (its own engine: no read-your-writes flush)."""
    engine = db.make_engine(url)
    try:
        with engine.connect() as c:
            return [tuple(r) for r in c.execute(text(sql))]
    finally:
        engine.dispose()


def _receipt_ids(url: str) -> set[str]:
    return {r[0] for r in _rows(url, "SELECT id FROM action_receipt")}


def _writer(runtime, interval: float = 3600.0):
    """The runtime's action receipt writer, gathering for an hour unless a reader, a full queue or close asks."""
    writer = runtime.extras["actions"].receipts
    assert writer is not None and writer.name == "freshgate-action-receipts"
    writer.interval = interval
    return writer


def test_a_receipt_waits_in_the_queue_and_a_reader_in_this_process_sees_it_at_once(example, runtime):
    url = runtime.settings.database_url
    writer = _writer(runtime)
    a = check(example, "orders.lookup", {"order_id": "NW-1042"})
    assert a["decision"] == "proceed" and writer.pending() == 1
    assert _receipt_ids(url) == set()  # not written yet: another process does not see it
    r = example.get(f"/v1/actions/receipts/{a['receipt_id']}")  # read-your-writes: the read waits for the queue
    assert r.status_code == 200 and r.json()["decision"] == "proceed"
    assert writer.pending() == 0 and _receipt_ids(url) == {a["receipt_id"]}
    u = check(example, "crm.export_contacts")
    rows = example.get("/v1/actions/uncovered").json()  # the uncovered tool is counted by the same queue
    assert [(x["tool"], x["count"], x["last_receipt"]) for x in rows] == [("crm.export_contacts", 1, u["receipt_id"])]
    assert writer.synchronous == 0 and writer.written == 2


def test_a_batch_writes_receipts_links_reliance_and_uncovered_counts(example, runtime):
    url = runtime.settings.database_url
    writer = _writer(runtime)
    ids = [check(example, "orders.lookup", {"order_id": f"NW-{i}"})["receipt_id"] for i in range(3)]
    ids += [check(example, "crm.export_contacts")["receipt_id"] for _ in range(2)]
    assert writer.pending() == 5 and _receipt_ids(url) == set()
    assert writer.flush(30)
    assert writer.batches == 1 and writer.written == 5 and _receipt_ids(url) == set(ids)
    links = _rows(url, "SELECT document_id, COUNT(*) FROM action_receipt_document GROUP BY document_id "
                       "ORDER BY document_id")
    assert links == [("shipping-delay-reply", 3), ("shipping-policy", 3)]
    reliance = _rows(url, "SELECT document_id, lookups, stops FROM reliance_daily ORDER BY document_id")
    assert reliance == [("shipping-delay-reply", 3, 0), ("shipping-policy", 3, 0)]  # counted once per document
    uncovered = _rows(url, "SELECT tool, count, last_receipt FROM uncovered_action")
    assert uncovered == [("crm.export_contacts", 2, ids[-1])]


def test_a_full_queue_makes_the_check_write_its_own_receipt(example, runtime):
    url = runtime.settings.database_url
    writer = _writer(runtime)
    writer.capacity = 1
    release = threading.Event()

    def stalled(conn, cursor, statement, *a):  # the writer thread cannot write until released
        if threading.current_thread().name == writer.name and not release.is_set():
            release.wait(30)

    event.listen(runtime.engine, "before_cursor_execute", stalled)
    try:
        first = check(example, "orders.lookup", {"order_id": "NW-1"})
        second = check(example, "orders.lookup", {"order_id": "NW-2"})
        assert first["decision"] == second["decision"] == "proceed"
        assert writer.synchronous == 1
        assert _receipt_ids(url) == {second["receipt_id"]}  # written in the request: visible at once everywhere
        release.set()
        assert writer.flush(30) and _receipt_ids(url) == {first["receipt_id"], second["receipt_id"]}
    finally:
        release.set()
        writer.flush(30)  # (removing a listener while the writer runs the listeners would fail its batch)
        event.remove(runtime.engine, "before_cursor_execute", stalled)


def test_a_failing_write_is_retried_nothing_is_lost_and_checks_fail_safe_meanwhile(example, runtime):
    url = runtime.settings.database_url
    writer = _writer(runtime, interval=0.0)
    broken = threading.Event()
    broken.set()

    def refuse(conn, cursor, statement, *a):
        if broken.is_set() and statement.lstrip().upper().startswith("INSERT INTO ACTION_RECEIPT "):
            raise conn.dialect.loaded_dbapi.OperationalError("disk full")  # as the driver would

    event.listen(runtime.engine, "before_cursor_execute", refuse)
    try:
        queued = check(example, "orders.lookup", {"order_id": "NW-1"})
        assert queued["decision"] == "proceed" and queued["receipt_id"]
        assert writer.flush(10) is False and not writer.healthy and writer.pending() == 1
        health = example.get("/healthz").json()["actions"]["receipt_queue"]
        assert health["healthy"] is False and health["queued"] == 1 and "disk full" in health["error"]
        assert "INSERT" not in health["error"] and "orders.lookup" not in health["error"]  # public: no statement
        # Unhealthy: the next check writes its own receipt, which fails too, so it must not proceed.
        refused = check(example, "orders.lookup", {"order_id": "NW-2"})
        assert refused["decision"] == "stop_and_ask" and refused["receipt_id"] is None
        assert refused["reasons"][0]["code"] == "freshness_unknown"
        assert writer.synchronous == 1 and _receipt_ids(url) == set()
        broken.clear()
        deadline = time.monotonic() + 30
        while writer.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.healthy and _receipt_ids(url) == {queued["receipt_id"]}  # the retry wrote it
        again = check(example, "orders.lookup", {"order_id": "NW-3"})
        assert again["decision"] == "proceed" and writer.synchronous == 1  # queued again
    finally:
        broken.clear()
        writer.flush(30)
        event.remove(runtime.engine, "before_cursor_execute", refuse)


def test_close_writes_what_is_queued_and_later_checks_write_their_own(example, runtime):
    url = runtime.settings.database_url
    writer = _writer(runtime)
    ids = {check(example, "orders.lookup", {"order_id": f"NW-{i}"})["receipt_id"] for i in range(2)}
    assert writer.pending() == 2 and _receipt_ids(url) == set()
    writer.close()
    assert writer.pending() == 0 and _receipt_ids(url) == ids
    late = check(example, "orders.lookup", {"order_id": "NW-9"})  # closed: written in the request, not lost
    assert late["receipt_id"] and _receipt_ids(url) == ids | {late["receipt_id"]} and writer.synchronous == 1


def test_without_a_queue_every_check_writes_its_own_receipt(example, runtime):
    runtime.extras["actions"].receipts.close()
    runtime.extras["actions"].receipts = None  # actions.receipt_queue = 0
    a = check(example, "orders.lookup", {"order_id": "NW-1042"})
    assert _receipt_ids(runtime.settings.database_url) == {a["receipt_id"]}
    assert example.get("/healthz").json()["actions"]["receipt_queue"] == "off"


def test_a_check_whose_commit_fails_stops_and_queues_no_receipt(example, runtime):
    """The receipt is queued only after the check's transaction committed: it never says `proceed` to an
    agent that was told stop_and_ask."""
    from sqlalchemy.exc import OperationalError

    writer = _writer(runtime, interval=0.0)
    armed, shots = threading.local(), [1]  # the first commit of a transaction that read a check's live facts fails

    def live_facts(conn, cursor, statement, *a):
        if "FROM owner o" in statement and shots:
            shots.pop()
            armed.on = True

    def lost_connection(conn):
        if getattr(armed, "on", False):
            armed.on = False
            raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    event.listen(runtime.engine, "before_cursor_execute", live_facts)
    event.listen(runtime.engine, "commit", lost_connection)
    try:
        a = check(example, "orders.lookup", {"order_id": "NW-1"})
        assert a["decision"] == "stop_and_ask" and a["receipt_id"] is None
        assert a["reasons"][0]["code"] == "freshness_unknown"
        assert writer.flush(30) and writer.written == 0 and _receipt_ids(runtime.settings.database_url) == set()
        assert not shots and check(example, "orders.lookup", {"order_id": "NW-2"})["receipt_id"]
        assert writer.flush(30) and writer.written == 1
    finally:
        event.remove(runtime.engine, "before_cursor_execute", live_facts)
        event.remove(runtime.engine, "commit", lost_connection)
