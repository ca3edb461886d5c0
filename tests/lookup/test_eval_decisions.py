"""`freshgate eval decisions` on a made-up task: its placeholder owner must not make every document orphaned."""

from __future__ import annotations

import json

from freshgate.embeddings.embedder import HashingEmbedder
from freshgate.lookup.evaluate import run

TASK = {"id": "t1", "question": "What is the refund window for online orders?", "expected": "proceed",
        "category": "test", "origin": "test",
        "documents": [{"id": "refunds", "title": "Refund policy", "date": None,
                       "text": "# Refund policy\n\nThe refund window for online orders is 30 days from delivery."}]}


def test_eval_documents_count_as_owned_and_verified(tmp_path):
    path = tmp_path / "decisions.jsonl"
    path.write_text(json.dumps(TASK) + "\n")
    row = run(path, HashingEmbedder()).rows[0]
    # Before the fix every eval document was `orphaned` (owner_unknown): every task answered stop_and_ask.
    assert "owner_unknown" not in row["codes"] and "no_owner" not in row["codes"], row
    assert row["cited"] >= 1 and row["decision"] != "stop_and_ask", row
