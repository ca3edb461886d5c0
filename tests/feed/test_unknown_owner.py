"""An unknown owner is not a fresh document, and `ask` never points at someone who cannot answer
(issue 10, item 5)."""

from __future__ import annotations

import pytest

from freshgate.app import build_runtime, create_app, run_sync
from freshgate.embeddings.embedder import HashingEmbedder
from tests.conftest import bearer, make_key, make_settings, write_doc

FRONT = "id: yard\ntitle: Yard\nowner: ghost\nreview_every: 90d\nlast_verified: -5d\nverified_by: ghost"


def ask(client, q):
    r = client.post("/v1/lookup", json={"query": q})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def runtime(database_url):
    """A runtime with the product's default: an owner without a contact is unknown."""
    rt = build_runtime(make_settings(database_url, freshness={"owner_contact_required": True}))
    assert rt.registry_ctx.rules.owner_contact_required
    yield rt
    rt.close()


@pytest.fixture
def client(runtime):
    from fastapi.testclient import TestClient

    with TestClient(create_app(runtime=runtime), headers=bearer(make_key(runtime.engine))) as c:
        yield c


def test_unknown_owner_is_orphaned_and_ask_falls_back_to_the_operators(runtime, client, tmp_path):
    runtime.settings.lookup.relevance_threshold = 0.2
    runtime.settings.lookup.operators_contact = "ops@northwind.example"
    lk = runtime.extras["lookup"]
    lk.use_embedder(HashingEmbedder())
    lk.activate()
    root = tmp_path / "kb" / "sources"
    write_doc(root, "yard.md", FRONT, "# Yard\n\n## Gate\n\ngate forklift yard pallets\n")
    report = run_sync(runtime, [root])
    assert report.failed == [] and [o for o, _m in report.warnings] == ["ghost"]
    assert "owner_unknown" in report.warnings[0][1]
    doc = client.get("/v1/documents/yard").json()
    assert doc["state"] == "orphaned" and "owner_unknown" in [r["code"] for r in doc["reasons"]]
    a = ask(client, "gate forklift yard pallets")
    assert a["decision"] == "stop_and_ask" and a["citations"][0]["document_id"] == "yard"
    assert a["ask"]["owner"] == "operators" and a["ask"]["contact"] == "ops@northwind.example"
    assert "ghost" in a["ask"]["note"] and "operators" in a["ask"]["note"]

    # An owners file declares the owner with a contact: the document is fresh and the owner is asked.
    (root / "owners.yaml").write_text("- {id: ghost, name: Gus Host, contact: gus@northwind.example}\n")
    report = run_sync(runtime, [root])
    assert report.warnings == []
    assert client.get("/v1/documents/yard").json()["state"] == "fresh"
    assert ask(client, "gate forklift yard pallets")["decision"] == "proceed"

    # Deactivated: orphaned again, and `ask` goes to the operators, never to the deactivated owner.
    assert client.post("/v1/owners/ghost/deactivate", json={}).status_code == 200
    a = ask(client, "gate forklift yard pallets")
    assert a["decision"] == "stop_and_ask" and a["ask"]["owner"] == "operators"
    assert "deactivated" in a["ask"]["note"]


@pytest.mark.parametrize("env", ["FRESHGATE_LOOKUP__OPERATORS_CONTACT", "FRESHGATE_AUTH__OPERATORS_CONTACT"])
def test_one_operators_contact_for_lookups_and_key_answers(database_url, monkeypatch, env):
    from fastapi.testclient import TestClient

    monkeypatch.setenv(env, "ops@northwind.example")
    if env.startswith("FRESHGATE_AUTH"):  # the old name still works, and says it is deprecated
        with pytest.warns(DeprecationWarning, match="lookup.operators_contact"):
            settings = make_settings(database_url)
    else:
        settings = make_settings(database_url)
    assert settings.lookup.operators_contact == "ops@northwind.example"
    rt = build_runtime(settings)
    try:
        with TestClient(create_app(runtime=rt)) as anonymous:
            r = anonymous.get("/v1/documents")
        assert r.status_code == 401 and "ask ops@northwind.example for a key" in r.json()["detail"]
    finally:
        rt.close()
