"""Sign-in, roles and the same permission checks as the API, through the console (SQLite and PostgreSQL)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from freshgate.app import create_app
from tests.conftest import make_key
from tests.web.conftest import HTML, conflict_id, csrf, sign_in, submit


def test_signed_out_browsers_go_to_sign_in_and_api_clients_get_401(kb_rt):
    with TestClient(create_app(runtime=kb_rt)) as anon:
        r = anon.get("/review", headers=HTML, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/sign-in?next=/review"
        api = anon.get("/review")
        assert api.status_code == 401 and api.headers["content-type"].startswith("application/problem+json")
        bad = anon.post("/sign-in", data={"csrf": csrf(anon, "/sign-in"), "api_key": "fg_000000000000_nope"},
                        headers=HTML)
        assert bad.status_code == 401 and "That key is not valid" in bad.text
        assert anon.get("/review", headers=HTML, follow_redirects=False).status_code == 303


def test_header_shows_who_and_role_and_sign_out_ends_the_session(web):
    page = web.get("/", headers=HTML).text
    assert 'data-testid="who">ops-console<' in page and 'data-testid="role">operator<' in page
    assert 'href="/keys"' in page and 'href="/audit"' in page
    r = submit(web, "/sign-out", {}, page="/")
    assert r.status_code == 303 and 'freshgate_session=""' in r.headers["set-cookie"]
    web.cookies.clear()
    assert web.get("/", headers=HTML, follow_redirects=False).headers["location"].startswith("/sign-in")


def test_owner_sees_own_items_first_and_is_refused_elsewhere(kb_rt, owner_web, client):
    page = owner_web.get("/review", headers=HTML).text
    assert 'data-testid="role">owner<' in page
    assert page.index("My items — alice") < page.index('data-testid="row-faq"')
    assert "Verify returns" in page and "Belongs to bob: ask them or an operator." in page
    assert 'href="/audit"' not in page and 'href="/keys"' not in page and 'href="/unanswered"' not in page
    theirs = owner_web.get("/documents/faq", headers=HTML).text
    assert 'data-testid="not-yours"' in theirs and "belongs to <strong>bob</strong>" in theirs
    refused = submit(owner_web, "/documents/faq/verify", {}, page="/documents/faq")
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
    assert "may not act on faq, owned by bob" in refused.text
    assert client.get("/v1/documents/faq/audit").json()[0]["action"] != "verify"
    mine = submit(owner_web, "/documents/returns/verify", {}, page="/documents/returns")
    assert mine.status_code == 303
    assert client.get("/v1/documents/returns/audit").json()[0]["actor"] == "alice"
    audit = owner_web.get("/audit", headers=HTML)
    assert audit.status_code == 403 and "role owner may not do this" in audit.text and "<html" in audit.text


def test_conflict_verdicts_follow_the_api_rule(kb_rt, owner_web, client):
    cid = conflict_id(client)
    with TestClient(create_app(runtime=kb_rt)) as carol:
        sign_in(carol, make_key(kb_rt.engine, "owner", owner="carol"))
        page = carol.get(f"/conflicts/{cid}", headers=HTML).text
        assert "Only the owners of either side (" in page and "or an operator can decide on this conflict" in page
        assert "/conflicts/{}/dismiss".format(cid) not in page
        r = submit(carol, f"/conflicts/{cid}/dismiss", {"reason": "not mine"}, page=f"/conflicts/{cid}")
        assert r.status_code == 403 and "owns neither side of conflict" in r.text
    ok = submit(owner_web, f"/conflicts/{cid}/dismiss", {"reason": "plans differ"}, page=f"/conflicts/{cid}")
    assert ok.status_code == 303
    assert 'data-testid="verdict-by">alice<' in owner_web.get(f"/conflicts/{cid}", headers=HTML).text


def test_a_form_token_from_another_session_is_refused(kb_rt, web, owner_web, client):
    theirs = csrf(owner_web, "/documents/returns")
    r = web.post("/documents/returns/verify", data={"csrf": theirs}, headers=HTML)
    assert r.status_code == 403 and "CSRF" in r.text
    assert client.get("/v1/documents/returns").json()["state"] == "stale"


def test_receipts_are_scoped_like_the_api(kb_rt, web, owner_web, client):
    stop = client.post("/v1/lookup", json={"query": "refund window for monthly plans"}).json()
    assert f'/receipts/{stop["receipt_id"]}' in web.get("/receipts", headers=HTML).text
    assert f'/receipts/{stop["receipt_id"]}' not in owner_web.get("/receipts", headers=HTML).text
    assert owner_web.get(f'/receipts/{stop["receipt_id"]}', headers=HTML).status_code == 404


def test_operator_creates_and_revokes_a_key(kb_rt, web):
    page = submit(web, "/keys", {"label": "support bot", "role": "agent"}, page="/keys")
    assert page.status_code == 201 and "shown only once" in page.text
    raw = page.text.split('data-testid="new-key">')[1].split("<")[0]
    bot = TestClient(web.app, headers={"Authorization": f"Bearer {raw}"})  # the same server (its key cache)
    assert bot.get("/v1/whoami").json()["role"] == "agent"
    key_id = raw.split("_")[1]
    assert submit(web, f"/keys/{key_id}/revoke", {}, page="/keys").status_code == 303
    assert bot.get("/v1/whoami").status_code == 401
    assert "key_revoked" in web.get("/audit", headers=HTML).text


def test_every_console_route_has_a_policy_entry(kb_rt, client):
    from freshgate.auth import policy
    from freshgate.auth.deps import served_routes

    app = client.app
    mine = [r for r in served_routes(app) if not r.path.startswith(("/v1", "/mcp", "/healthz", "/livez", "/readyz",
                                                                   "/metrics", "/openapi"))]
    assert len(mine) > 25
    missing = [(k, r.path) for r in mine for k, _ in r.keys if policy.permission(k, r.path) is None]
    assert missing == []


def test_receipts_filter_by_agent_key(kb_rt, web, client):
    from tests.conftest import bearer, make_key

    raw = make_key(kb_rt.engine, "agent", label="bot-a")
    mine = client.post("/v1/lookup", json={"query": "parcel carriers venlo"}, headers=bearer(raw)).json()
    other = client.post("/v1/lookup", json={"query": "refund window for monthly plans"}).json()
    key_id = raw.split("_")[1]
    page = web.get("/receipts", params={"agent": f"key:{key_id}"}, headers=HTML).text
    assert f'/receipts/{mine["receipt_id"]}' in page and f'/receipts/{other["receipt_id"]}' not in page
