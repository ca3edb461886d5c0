"""Hostile input gets a clear 4xx and changes nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from tests.auth.conftest import snapshot


def problem(r, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    if code:
        assert body["code"] == code, body
    return body


def test_body_over_the_limit_is_refused_before_it_is_read(docs, runtime):
    before = snapshot(docs)
    limit = runtime.settings.auth.max_body_bytes
    big = b'{"content": "' + b"x" * (limit + 10) + b'"}'
    body = problem(docs.put("/v1/documents/refunds/content", content=big,
                            headers={"content-type": "application/json"}), 413, "body_too_large")
    assert str(limit) in body["detail"]

    def chunks():  # no Content-Length: counted while streaming, refused once over the limit
        yield b'{"content": "'
        for _ in range(limit // 65536 + 2):
            yield b"y" * 65536
        yield b'"}'

    problem(docs.put("/v1/documents/refunds/content", content=chunks(),
                     headers={"content-type": "application/json"}), 413, "body_too_large")
    assert snapshot(docs) == before


def test_unknown_fields_are_named(docs):
    before = snapshot(docs)
    body = problem(docs.post("/v1/lookup", json={"query": "refund window", "riks": "high"}), 422, "invalid")
    assert body["errors"] == [{"field": "riks", "message": "unknown field 'riks'"}]
    body = problem(docs.post("/v1/documents/refunds/verify", json={"note": "ok", "verified_by": "x"}), 422)
    assert body["errors"][0]["field"] == "verified_by"
    body = problem(docs.post("/v1/lookup", json={"query": "q", "scope": {"idz": ["a"]}}), 422)
    assert body["errors"][0]["field"] == "scope.idz"
    assert snapshot(docs) == before


@pytest.mark.parametrize("method,url,body", [
    ("post", "/v1/owners", {"id": "mallory", "name": "Mal\u0000lory"}),
    ("put", "/v1/documents/refunds/content", {"content": "# T\n\nnul \u0000 here\n"}),
    ("post", "/v1/documents/refunds/retire", {"reason": "x\u0000"}),
    ("post", "/v1/lookup", {"query": "refund\u0000window"}),
    ("get", "/v1/documents/refu%00nds", None),
    ("get", "/v1/documents?owner=da%00na", None),
    ("post", "/v1/documents/ref%00unds/verify", {}),
])
def test_nul_bytes_are_refused_before_the_database(docs, method, url, body):
    before = snapshot(docs)
    r = getattr(docs, method)(url, **({"json": body} if body is not None else {}))
    b = problem(r, 422, "invalid")
    assert "NUL" in b["detail"] or any("NUL" in e["message"] for e in b.get("errors", []))
    assert snapshot(docs) == before


@pytest.mark.parametrize("url", [
    f"/v1/conflicts/{2**31}", f"/v1/conflicts/{2**63 + 5}", f"/v1/conflicts/{10**40}", "/v1/conflicts/-1",
    f"/v1/documents/refunds/versions/{2**31}", f"/v1/documents/refunds/versions/{2**64}",
])
def test_over_range_ids_are_refused_before_the_database(docs, url):
    before = snapshot(docs)
    r = docs.get(url)
    problem(r, 422 if r.status_code == 422 else 404)
    r = docs.post(url.replace("/versions/", "/x/") + "/confirm", json={})
    assert r.status_code in (404, 405, 422) and r.headers["content-type"] == "application/problem+json"
    assert snapshot(docs) == before


def test_conflict_scan_is_not_read_as_an_id(docs):
    r = docs.get("/v1/conflicts/scan")
    assert r.status_code == 405 and "POST" in r.headers["allow"]


def test_foreign_host_headers_are_refused(docs):
    before = snapshot(docs)
    for host in ("evil.example", "evil.example:8080", "127.0.0.1.evil.example", "localhost.evil"):
        body = problem(docs.post("/v1/documents/refunds/retire", json={}, headers={"Host": host}), 400,
                       "host_not_allowed")
        assert "allowed_hosts" in body["detail"]
    for host in ("localhost:8080", "127.0.0.1", "[::1]:8080", "testserver"):
        assert docs.get("/v1/status", headers={"Host": host}).status_code == 200, host
    assert snapshot(docs) == before


def test_options_answers_allow(docs, anon_client):
    r = anon_client.options("/v1/documents/refunds")
    assert r.status_code == 204 and r.headers["allow"] == "GET, HEAD, OPTIONS"
    assert "POST" in anon_client.options("/v1/keys").headers["allow"]


@pytest.mark.parametrize("method,url,body,field", [
    ("get", "/v1/documents?due_before=0.5", None, "due_before"),
    ("get", "/v1/documents?due_before=1796055149", None, "due_before"),
    ("post", "/v1/keys", {"label": "bot", "role": "agent", "expires": 4102444800}, "expires"),
])
def test_a_number_is_not_a_date_time(docs, method, url, body, field):
    """The spec says ISO 8601 text; a number (pydantic would read Unix seconds) is refused, naming the field."""
    before = snapshot(docs)
    b = problem(getattr(docs, method)(url, **({"json": body} if body is not None else {})), 422, "invalid")
    assert b["errors"][0]["field"].endswith(field) and "ISO 8601" in b["errors"][0]["message"]
    assert snapshot(docs) == before
    assert docs.get("/v1/documents?due_before=2999-01-01T00:00:00Z").status_code == 200
    assert docs.get("/v1/documents?due_before=2999-01-01").status_code == 200


def test_a_stale_key_does_not_break_public_routes(docs, anon_client):
    """A health probe with a revoked or mistyped key still gets its answer; a protected route says 401."""
    stale = {"Authorization": "Bearer fg_000000000000_not-a-key-at-all-xxxxxxxxxxxxx"}
    for url in ("/livez", "/healthz", "/openapi.json"):
        assert anon_client.get(url, headers=stale).status_code == 200, url
    problem(anon_client.get("/v1/documents", headers=stale), 401, "unauthenticated")
    problem(anon_client.get("/v1/status", headers=stale), 401, "unauthenticated")


def test_if_match_is_documented_as_the_route_reads_it(docs):
    """The spec's If-Match pattern accepts what the route accepts (a header is never `null`)."""
    import re

    p = next(x for x in docs.app.openapi()["paths"]["/v1/documents/{doc_id}/verify"]["post"]["parameters"]
             if x["name"] == "If-Match")
    assert p["schema"]["type"] == "string" and "anyOf" not in p["schema"]
    rev = docs.get("/v1/documents/refunds").json()["revision"]
    for value, status in ((f'"{rev}"', 200), ("*", 200), (f'W/"x", "{rev + 1}"', 412), ("null", 400), ("7", 400)):
        assert bool(re.match(p["schema"]["pattern"], value)) == (status != 400), value
        r = docs.post("/v1/documents/refunds/verify", json={}, headers={"If-Match": value})
        assert r.status_code == status, (value, r.text)
        rev = docs.get("/v1/documents/refunds").json()["revision"]


def test_a_number_is_not_a_boolean_and_text_without_nul_is_documented(docs):
    """`"verify": 0` is refused naming the field; the spec says text fields hold no NUL (as the server enforces)."""
    from freshgate.strict import NO_NUL

    before = snapshot(docs)
    b = problem(docs.put("/v1/documents/refunds/content", json={"content": "# T\n\nx\n", "verify": 0}), 422, "invalid")
    assert b["errors"][0]["field"] == "verify"
    assert snapshot(docs) == before
    schemas = docs.app.openapi()["components"]["schemas"]
    assert schemas["VerifyIn"]["properties"]["note"]["pattern"] == NO_NUL
    assert schemas["LookupIn"]["properties"]["query"]["pattern"] == NO_NUL
