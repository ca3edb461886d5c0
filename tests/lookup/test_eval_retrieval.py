"""`freshgate eval retrieval` on a small made-up fixture: ranks, pools, figures and the JSON report."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from freshgate.embeddings.embedder import HashingEmbedder
from freshgate.lookup.eval_retrieval import run

DOCS = [
    {"id": "acme", "title": "Acme privacy policy", "sections": [
        {"anchor": "segment-1", "heading": "Segment 1", "text": "We collect your email address when you sign up."},
        {"anchor": "segment-3", "heading": "Segment 3", "text": "We share data with advertisers for targeted ads."},
        {"anchor": "segment-4", "heading": "Segment 4", "text": "Data is encrypted at rest and in transit."}]},
    {"id": "globex", "title": "Globex privacy policy", "sections": [
        {"anchor": "segment-1", "heading": "Segment 1", "text": "Globex shares data with advertisers and ads partners."},
        {"anchor": "segment-2", "heading": "Segment 2", "text": "Cookies remember your settings."}]},
]
RECORDS = [
    {"id": "q1", "question": "Do you share data with advertisers?", "documents": DOCS,
     "relevant": [{"document": "acme", "anchor": "segment-3"}], "origin": "test"},
    {"id": "q2", "question": "Is my data encrypted?", "documents": DOCS[::-1],
     "relevant": [{"document": "acme", "anchor": "segment-4"}], "origin": "test"},
]


@pytest.fixture
def fixture_file(tmp_path):
    path = tmp_path / "retrieval.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n")
    return path


def test_eval_ranks_each_question_in_both_pools_for_every_method(fixture_file):
    report = run(fixture_file, HashingEmbedder())
    assert [r["id"] for r in report.rows] == ["q1", "q2"]
    s = report.summary()
    assert s["questions"] == 2 and set(s["methods"]) == {"bm25", "vector", "hybrid"}
    for m, res in s["methods"].items():
        # Scoped to the question's own policy, the right segment comes first by every method.
        assert res["own"] == {"recall@1": 1.0, "recall@5": 1.0, "mrr": 1.0}, m
        assert res["ms_per_question"]["p50"] > 0
    q1 = report.rows[0]["ranks"]
    # Over all documents the distractor's own advertisers paragraph competes (it counts as a miss).
    assert all(q1[m]["all"] in (1, 2) for m in q1)
    assert s["methods"]["bm25"]["all"]["recall@5"] == 1.0


@pytest.mark.model
def test_cli_writes_the_json_report(fixture_file, tmp_path):
    out = tmp_path / "report.json"
    r = subprocess.run([sys.executable, "-m", "freshgate", "eval", "retrieval", str(fixture_file), "--out", str(out),
                        "--method", "bm25", "--method", "hybrid"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "recall@5" in r.stdout and "hybrid" in r.stdout
    data = json.loads(out.read_text())
    assert set(data["summary"]["methods"]) == {"bm25", "hybrid"} and len(data["rows"]) == 2
