"""Fail safe (model broken, database gone) and incremental index updates, through the API."""

from fastapi.testclient import TestClient

from freshgate.app import build_runtime, create_app, run_sync
from freshgate.db import make_engine
from tests.conftest import bearer, make_key, make_settings
from tests.lookup.conftest import ask, cited


def test_broken_model_path_never_proceeds(database_url, kb):
    s = make_settings(database_url)
    s.embedding.model_path = str(kb / "no-such-model")
    rt = build_runtime(s)
    try:
        rt.extras["lookup"].activate()
        assert run_sync(rt, [kb / "sources", kb / "sop_cards"]).failed == []  # the registry still works
        with TestClient(create_app(runtime=rt), headers=bearer(make_key(rt.engine))) as c:
            a = ask(c, "what is our refund window?")
            assert a["decision"] == "stop_and_ask"
            assert a["reasons"][0]["code"] == "freshness_unknown" and "model" in a["reasons"][0]["message"]
            assert a["receipt_id"]  # the refusal itself is on record
            health = c.get("/healthz").json()
            assert health["lookup"]["model"].startswith("error") and "no-such-model" in health["lookup"]["model"]
    finally:
        rt.close()


def test_database_gone_never_proceeds(hashing_kb):
    assert cited(ask(hashing_kb, "refund window for monthly plans"))  # the index is built and answering
    hashing_kb.app.state.engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/gone",
                                              connect_args={"connect_timeout": 2})
    a = ask(hashing_kb, "refund window for monthly plans")
    assert a["decision"] == "stop_and_ask" and a["reasons"][0]["code"] == "freshness_unknown"
    assert "database" in a["reasons"][0]["message"] and a["receipt_id"] is None


def test_lookup_not_wired_is_503_with_retry_after(runtime, client):
    runtime.extras.pop("lookup")
    r = client.post("/v1/lookup", json={"query": "anything"})
    assert r.status_code == 503 and r.headers["retry-after"]
    assert r.headers["content-type"].startswith("application/problem+json")


def test_updated_text_is_found_and_old_text_is_not(hashing_kb):
    scope = {"ids": ["vendor-list"]}
    before = ask(hashing_kb, "vendors and subprocessors", scope=scope)
    assert cited(before) == ["vendor-list"]
    r = hashing_kb.put("/v1/documents/vendor-list/content", json={
        "verify": True,
        "content": "# Parrots\n\n## Office parrot\n\nThe office parrot is called Captain Sprocket.\n"})
    assert r.status_code == 200
    after = ask(hashing_kb, "what is the office parrot called?")
    assert cited(after)[0] == "vendor-list" and after["citations"][0]["anchor"] == "office-parrot"
    assert after["citations"][0]["version"] == 2 and "Captain Sprocket" in after["citations"][0]["snippet"]
    old = ask(hashing_kb, "vendors and subprocessors", scope=scope)
    # The title still matches, but only through the new sections: the old ones left the index.
    assert {(c["anchor"], c["version"]) for c in old["citations"]} <= {("parrots", 2), ("office-parrot", 2)}


def test_invalid_lookup_is_a_problem(hashing_kb):
    r = hashing_kb.post("/v1/lookup", json={"query": "", "risk": "medium"})
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"query", "risk"}
