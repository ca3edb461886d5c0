"""A lookup restricted to named documents costs what its scope costs, not what the registry costs."""

from __future__ import annotations

import threading

from sqlalchemy import event

from freshgate.app import run_sync
from freshgate.embeddings.index import Scope
from tests.conftest import write_doc
from tests.lookup.conftest import ask, hashing_kb  # noqa: F401 - fixture

SCOPE = {"ids": ["refund-policy"]}
QUESTION = "refund window for monthly plans"


def _measure(client, runtime, monkeypatch) -> tuple[int, int, dict]:
    """(SQL statements, Scope.allows calls, answer) of one scoped lookup."""
    statements: list[str] = []

    def listener(conn, cursor, statement, *a):
        # This lookup's own statements: not those of background threads (every one is named freshgate-*: the
        # receipt writer, feed followers and their heartbeats, the start-up scan) nor the key check's.
        if not threading.current_thread().name.startswith("freshgate-") and "change_log" not in statement \
                and "api_key" not in statement:
            statements.append(statement)

    calls = [0]
    real = Scope.allows

    def counting(self, d):
        calls[0] += 1
        return real(self, d)

    monkeypatch.setattr(Scope, "allows", counting)
    event.listen(runtime.engine, "before_cursor_execute", listener)
    try:
        out = ask(client, QUESTION, scope=SCOPE)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", listener)
        monkeypatch.setattr(Scope, "allows", real)
    return len(statements), calls[0], out


def test_a_scoped_lookup_does_not_grow_with_the_registry(hashing_kb, runtime, kb, monkeypatch):
    """Same SQL statements and the same per-document scope checks at ~30 and at ~330 documents."""
    ask(hashing_kb, QUESTION, scope=SCOPE)  # warm: the index is built on the first lookup
    small_sql, small_checks, small = _measure(hashing_kb, runtime, monkeypatch)
    extra = kb / "extra"
    for i in range(300):
        write_doc(extra, f"gen-{i:03d}.md", f"owner: dana\nlast_verified: -5d\ntags: [generated]",
                  f"# Generated {i}\n\n## Refunds {i}\n\nRefund window note {i} for monthly plans.\n")
    assert run_sync(runtime, [kb / "sources", kb / "sop_cards", extra]).failed == []
    ask(hashing_kb, QUESTION, scope=SCOPE)  # the index catches up with the sync
    big_sql, big_checks, big = _measure(hashing_kb, runtime, monkeypatch)
    assert len(runtime.extras["lookup"].index.documents()) > 300
    assert [c["document_id"] for c in small["citations"]] == [c["document_id"] for c in big["citations"]] == [
        "refund-policy"]
    assert big_sql == small_sql
    assert big_checks == small_checks <= 4  # the named document, in each index: never every document
