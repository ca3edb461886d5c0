"""Who acts: ownership and teams, impersonation attempts, key lifecycle, trusted proxy headers, auth off."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text, update
from sqlmodel import Session

from freshgate.app import create_app
from freshgate.auth.models import ApiKey
from freshgate.auth.service import KeyService
from tests.auth.conftest import snapshot
from tests.conftest import bearer, make_key, make_settings


def audit_actors(client, doc_id):
    return [(e["action"], e["actor"]) for e in client.get(f"/v1/documents/{doc_id}/audit").json()]


def test_owner_acts_only_on_own_and_team_documents(docs, client_as):
    lena = client_as("owner", "lena")
    assert lena.post("/v1/documents/shipping/verify", json={}).status_code == 200
    before = snapshot(docs)
    r = lena.post("/v1/documents/refunds/verify", json={})
    assert r.status_code == 403 and r.json()["code"] == "forbidden" and "dana" in r.json()["detail"]
    assert lena.put("/v1/documents/refunds/content", json={"content": "# Evil\n\nattacker text\n"}).status_code == 403
    assert lena.post("/v1/documents/refunds/transfer", json={"owner": "lena"}).status_code == 403
    assert lena.post("/v1/documents/refunds/retire", json={}).status_code == 403
    assert lena.get("/v1/documents/refunds/audit").status_code == 403
    assert lena.post("/v1/documents/pricing/verify", json={}).status_code == 403  # not in team-billing yet
    assert snapshot(docs) == before
    # lena joins team-billing: now the team's document is hers to renew
    r = docs.put("/v1/owners/team-billing/members", json={"members": ["lena"]})
    assert r.status_code == 200 and r.json()["members"] == ["lena"]
    lena2 = client_as("owner", "lena")
    assert lena2.post("/v1/documents/pricing/verify", json={}).status_code == 200
    assert audit_actors(docs, "pricing")[0] == ("verify", "lena")
    assert lena2.put("/v1/owners/team-billing/members", json={"members": []}).status_code == 403  # operators only


def test_impersonation_is_refused_and_the_real_principal_is_recorded(docs, client_as):
    lena = client_as("owner", "lena")
    before = snapshot(docs)
    r = lena.post("/v1/documents/shipping/verify", json={"actor": "dana"})
    assert r.status_code == 422 and r.json()["errors"] == [{"field": "actor", "message": "unknown field 'actor'"}]
    r = lena.post("/v1/documents/shipping/verify", json={"on_behalf_of": "dana"})
    assert r.status_code == 403 and "operators" in r.json()["detail"]
    r = lena.post("/v1/documents/shipping/verify?as=dana", json={}, headers={"X-Freshgate-As": "dana"})
    assert r.status_code == 200
    assert audit_actors(docs, "shipping")[0] == ("verify", "lena")
    assert docs.get("/v1/documents/shipping").json()["verified_by"] == "lena"
    r = docs.post("/v1/documents/refunds/verify", json={"on_behalf_of": "dana"})
    assert r.status_code == 200 and r.json()["verified_by"] == "dana (by test operator)"


def test_key_lifecycle_create_use_expire_revoke_hash_only(docs, client_as, runtime):
    agent = client_as("agent")
    assert agent.post("/v1/keys", json={"label": "x", "role": "operator"}).status_code == 403
    r = docs.post("/v1/keys", json={"label": "billing bot", "role": "agent"})
    assert r.status_code == 201
    raw, key_id = r.json()["key"], r.json()["id"]
    assert raw.startswith(f"fg_{key_id}_")
    listed = docs.get("/v1/keys").json()
    assert raw not in str(listed) and all("key" not in k for k in listed)
    with Session(runtime.engine) as s:  # only the sha256 is stored
        row = s.get(ApiKey, key_id)
        assert row.key_hash == hashlib.sha256(raw.encode()).hexdigest()
        assert raw not in str(s.execute(text("SELECT * FROM api_key")).all())
    bot = TestClient(docs.app, headers=bearer(raw))
    who = bot.get("/v1/whoami").json()
    assert who == {"id": f"key:{key_id}", "name": "billing bot", "role": "agent", "owners": [], "via": "api_key"}
    assert bot.post("/v1/lookup", json={"query": ""}).status_code == 422  # passes the gate, fails validation
    assert [k for k in docs.get("/v1/keys").json() if k["id"] == key_id][0]["last_used_at"]
    assert TestClient(docs.app, headers={"X-API-Key": raw}).get("/v1/whoami").status_code == 200
    # revoke over the API: refused at once
    assert docs.delete(f"/v1/keys/{key_id}").json()["revoked_at"]
    r = bot.get("/v1/whoami")
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    assert docs.delete("/v1/keys/000000000000").status_code == 404
    # expiry: a key past its expiry is refused
    late = make_key(runtime.engine, "agent", label="short-lived")
    with Session(runtime.engine) as s:
        s.execute(update(ApiKey).where(ApiKey.label == "short-lived").values(
            expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
        s.commit()
    assert TestClient(docs.app, headers=bearer(late)).get("/v1/whoami").status_code == 401
    for bad in ("fg_nothex_zzz", late[:-1] + ("A" if late[-1] != "A" else "B"), "x" * 5000):
        assert TestClient(docs.app, headers=bearer(bad)).get("/v1/whoami").status_code in (401, 413, 431), bad
    expired = docs.post("/v1/keys", json={"label": "x", "role": "agent", "expires": "2000-01-01T00:00:00Z"})
    assert expired.status_code == 422 and expired.json()["errors"][0]["field"] == "expires"
    assert docs.post("/v1/keys", json={"label": "x", "role": "owner"}).status_code == 422  # owner needs an owner
    audit = {e["action"] for e in docs.get("/v1/audit").json()}
    assert {"key_created", "key_revoked"} <= audit


def test_a_key_revoked_by_another_process_stops_authenticating(runtime):
    raw = make_key(runtime.engine, "agent")
    with Session(runtime.engine) as s:
        svc = KeyService(s)
        assert svc.authenticate(raw).role == "agent"
        svc.revoke(svc.list()[0].id)
        s.commit()
        assert svc.authenticate(raw) is None


def test_trusted_proxy_headers_only_from_configured_addresses(database_url, tmp_path):
    s = make_settings(database_url)
    s.auth.trusted_proxies = ["10.0.0.0/8"]
    with TestClient(create_app(s)) as c:
        headers = {"X-Forwarded-User": "lena", "X-Forwarded-Groups": "team-billing"}
        via_proxy = TestClient(c.app, client=("10.1.2.3", 40000), headers=headers)
        who = via_proxy.get("/v1/whoami").json()
        assert who["id"] == "proxy:lena" and who["role"] == "owner" and set(who["owners"]) == {"lena", "team-billing"}
        ops = TestClient(c.app, client=("10.1.2.3", 40000),
                         headers={"X-Forwarded-User": "ola", "X-Forwarded-Groups": "freshgate-operators"})
        assert ops.get("/v1/whoami").json()["role"] == "operator"
        for addr in ("127.0.0.1", "192.168.1.9", "testclient"):
            direct = TestClient(c.app, client=(addr, 40000), headers=headers)
            r = direct.get("/v1/whoami")
            assert r.status_code == 401 and r.json()["code"] == "unauthenticated", addr


def test_auth_off_is_refused_on_a_public_bind_and_loud_on_loopback(database_url, caplog):
    s = make_settings(database_url)
    s.auth.mode = "off"
    s.server.host = "0.0.0.0"
    with pytest.raises(RuntimeError, match="refused"):
        create_app(s)
    s.server.host = "127.0.0.1"
    s.auth.allowed_hosts = ["testserver", "10.0.0.1"]
    with caplog.at_level("WARNING"), TestClient(create_app(s)) as c:
        assert c.get("/v1/whoami").json()["via"] == "auth_off"
        # `freshgate serve --host 10.0.0.1` binds elsewhere than the settings say: refused per request too
        r = TestClient(c.app, base_url="http://10.0.0.1").get("/v1/whoami")
        assert r.status_code == 401 and "non-loopback" in r.json()["detail"]
    assert any("AUTH IS OFF" in r.message for r in caplog.records)


def test_first_start_writes_an_operator_key_only_the_user_can_read(database_url, tmp_path, capsys):
    import os
    import stat

    s = make_settings(database_url)
    s.auth.key_file = str(tmp_path / "sub" / "key")
    with TestClient(create_app(s)) as c:
        raw = open(s.auth.key_file).read().strip()
        assert stat.S_IMODE(os.stat(s.auth.key_file).st_mode) == 0o600
        assert raw in capsys.readouterr().err  # printed once
        assert TestClient(c.app, headers=bearer(raw)).get("/v1/whoami").json()["role"] == "operator"
    with TestClient(create_app(s)):  # second start: an operator key exists, nothing new is printed
        assert raw not in capsys.readouterr().err


def test_agents_see_only_their_own_receipts(docs, client_as, runtime):
    from freshgate.embeddings.embedder import HashingEmbedder

    runtime.extras["lookup"].use_embedder(HashingEmbedder())
    a, b = client_as("agent"), client_as("agent")
    ra = a.post("/v1/lookup", json={"query": "shipping text"}).json()["receipt_id"]
    rb = b.post("/v1/lookup", json={"query": "refund text"}).json()["receipt_id"]
    assert ra and rb
    assert [r["id"] for r in a.get("/v1/receipts").json()] == [ra]
    assert a.get(f"/v1/receipts/{ra}").json()["principal"] == a.get("/v1/whoami").json()["id"]
    r = a.get(f"/v1/receipts/{rb}")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert {ra, rb} <= {r["id"] for r in docs.get("/v1/receipts").json()}  # operators see everyone's
