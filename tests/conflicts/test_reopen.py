"""Verdicts by the right people: either side's owner or an operator; a dismissal can be reopened."""

from __future__ import annotations


def _one(client):
    [c] = client.get("/v1/conflicts").json()
    return c


def test_verdicts_and_reopen_by_either_owner_or_an_operator(crt, docs, client, client_as):
    c = _one(client)
    carol, agent = client_as("owner", "carol"), client_as("agent")
    alice, bob = client_as("owner", "alice"), client_as("owner", "bob")
    for outsider in (carol, agent):
        r = outsider.post(f"/v1/conflicts/{c['id']}/dismiss", json={"reason": "not mine"})
        assert r.status_code == 403
    assert _one(client)["status"] == "open"
    r = alice.post(f"/v1/conflicts/{c['id']}/dismiss", json={"reason": "different plans"})
    assert r.status_code == 200 and r.json()["verdict_by"] == "alice"
    assert carol.post(f"/v1/conflicts/{c['id']}/reopen", json={"reason": "x"}).status_code == 403
    r = bob.post(f"/v1/conflicts/{c['id']}/reopen", json={"reason": "they are the same plan"})
    assert r.status_code == 200 and (r.json()["status"], r.json()["verdict_by"]) == ("open", "bob")
    again = bob.post(f"/v1/conflicts/{c['id']}/reopen", json={"reason": "again"})
    assert again.status_code == 409 and again.json()["current_status"] == "open"
    assert alice.post(f"/v1/conflicts/{c['id']}/dismiss", json={"reason": "again"}).status_code == 200
    r = client.post(f"/v1/conflicts/{c['id']}/reopen", json={"reason": "operator review"})
    assert r.status_code == 200 and r.json()["status"] == "open"
    assert client.post(f"/v1/conflicts/{c['id']}/reopen", json={}).status_code == 422  # reason required
    actions = [(e["action"], e["actor"]) for e in client.get("/v1/documents/faq/audit").json()]
    assert actions[:4] == [("conflict_reopened", "test operator"), ("conflict_dismissed", "alice"),
                           ("conflict_reopened", "bob"), ("conflict_dismissed", "alice")]
