"""Lookups on the default (ONNX Runtime) embedder, and concurrent lookups sharing query batches."""

import threading

import pytest
from fastapi.testclient import TestClient

from freshgate.app import build_runtime, create_app, run_sync
from tests.conftest import bearer, make_key, make_settings
from tests.lookup.conftest import ask, cited


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.mark.model
def test_default_settings_embed_with_onnx_runtime_and_find_the_refund_policy(database_url, kb, onnx_cache):
    s = make_settings(database_url)
    s.embedding.cache_dir = str(onnx_cache)
    assert s.embedding.backend == "auto" and s.lookup.batch_queries
    rt = build_runtime(s)
    try:
        rt.extras["lookup"].activate()
        assert run_sync(rt, [kb / "sources", kb / "sop_cards"]).failed == []  # sections embedded by ORT
        with TestClient(create_app(runtime=rt), headers=bearer(make_key(rt.engine))) as c:
            a = ask(c, "what is our refund window?")
            assert "refund-policy" in cited(a)
            health = c.get("/healthz").json()["lookup"]
            assert health["embedding_backend"] == "onnx" and health["model"] == "ready" and health["batch_queries"]
    finally:
        rt.close()


def test_concurrent_lookups_each_get_their_own_answer_and_receipt(hashing_kb, runtime):
    questions = ["refund window for monthly plans", "vendors and subprocessors", "warranty coverage",
                 "shipping times for UK orders", "discount approval limits", "on call rota for SRE"] * 3
    expected = {q: cited(ask(hashing_kb, q)) for q in set(questions)}
    answers, errors = {}, []
    start = threading.Barrier(len(questions))

    def one(i, q):
        try:
            start.wait(10)
            answers[i] = ask(hashing_kb, q)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i, q)) for i, q in enumerate(questions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert all(cited(answers[i]) == expected[q] for i, q in enumerate(questions))
    ids = {a["receipt_id"] for a in answers.values()}
    assert len(ids) == len(questions) and None not in ids
    stored = hashing_kb.get("/v1/receipts", params={"limit": 1000}).json()
    assert ids <= {r["id"] for r in stored}
