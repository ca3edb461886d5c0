"""The conflicts REST API: filters, verdicts and problem+json errors, on both databases."""

from __future__ import annotations

from tests.conflicts.conftest import registry_call


def _one(client):
    [c] = client.get("/v1/conflicts").json()
    return c


def test_list_filters_by_status_document_and_owner(crt, docs, client):
    c = _one(client)
    assert c["status"] == "open" and {c["a_document"], c["b_document"]} == {"refunds", "faq"}
    assert [x["id"] for x in client.get("/v1/conflicts", params={"document": "faq"}).json()] == [c["id"]]
    assert client.get("/v1/conflicts", params={"document": "shipping"}).json() == []
    assert [x["id"] for x in client.get("/v1/conflicts", params={"owner": "alice"}).json()] == [c["id"]]
    assert client.get("/v1/conflicts", params={"owner": "carol"}).json() == []
    assert client.get("/v1/conflicts", params={"status": "dismissed"}).json() == []
    r = client.get("/v1/conflicts", params={"status": "bogus"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "status"


def test_show_confirm_dismiss(crt, docs, client):
    c = _one(client)
    got = client.get(f"/v1/conflicts/{c['id']}").json()
    assert got["evidence"] and got["a"]["text"] and got["b"]["owner"] in ("alice", "bob")
    r = client.post(f"/v1/conflicts/{c['id']}/confirm", json={})
    assert r.status_code == 200 and r.json()["status"] == "confirmed" and r.json()["verdict_by"] == "test operator"
    r = client.post(f"/v1/conflicts/{c['id']}/confirm", json={})
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    r = client.post(f"/v1/conflicts/{c['id']}/dismiss", json={"reason": "different plans"})
    assert r.status_code == 200 and r.json()["status"] == "dismissed"
    assert client.get("/v1/conflicts", params={"status": "dismissed"}).json()[0]["verdict_reason"] == "different plans"
    audit = client.get("/v1/documents/faq/audit").json()
    assert {"conflict_confirmed", "conflict_dismissed"} <= {e["action"] for e in audit}


def test_problem_json_errors(crt, docs, client):
    c = _one(client)
    r = client.get("/v1/conflicts/999999")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == "/problems/not_found" and r.json()["status"] == 404
    r = client.post(f"/v1/conflicts/{c['id']}/dismiss", json={})
    assert r.status_code == 422 and any(e["field"] == "reason" for e in r.json()["errors"])
    registry_call(crt, lambda s: s.retire("faq", actor="bob"))
    assert client.get(f"/v1/conflicts/{c['id']}").json()["status"] == "resolved"
    r = client.post(f"/v1/conflicts/{c['id']}/dismiss", json={"reason": "too late"})
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["current_status"] == "resolved"


def test_api_update_triggers_the_check(crt, docs, client):
    c = _one(client)
    r = client.put("/v1/documents/faq/content", json={"content": "# FAQ\n\n## Refund window for monthly "
                   "plans\n\nRefunds for monthly plans are available within 30 days of the charge date.\n"})
    assert r.status_code == 200
    assert client.get(f"/v1/conflicts/{c['id']}").json()["status"] == "resolved"
    assert client.post("/v1/conflicts/scan").json()["detected"] == []
