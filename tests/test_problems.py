"""Every error is RFC 9457 problem+json with the same shape, whatever raised it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from freshgate import db
from freshgate.app import Runtime, create_app, run_sync
from freshgate.registry.service import RegistryContext
from tests.conftest import make_settings, write_doc

REQUIRED = {"type", "title", "status", "detail"}


def assert_problem(r, status: int, code: str, *, errors: bool = False) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert REQUIRED <= set(body), body
    assert body["status"] == status and body["code"] == code
    assert body["type"] == f"/problems/{code}"
    assert isinstance(body["title"], str) and body["title"] and isinstance(body["detail"], str) and body["detail"]
    assert body["instance"] == r.request.url.path
    if errors:
        assert body["errors"] and all({"field", "message"} <= set(e) for e in body["errors"]), body
    else:
        assert "errors" not in body or body["errors"]
    return body


@pytest.fixture
def api(runtime, client, tmp_path):
    src = tmp_path / "sources"
    write_doc(src, "policy.md", "owner: dana\nlast_verified: -1d")
    write_doc(src, "other.md", "owner: dana\nlast_verified: -1d")
    assert run_sync(runtime, [src]).failed == []
    return client


def test_every_error_kind_has_the_problem_shape(api):
    # 404: our NotFound
    body = assert_problem(api.get("/v1/documents/nope"), 404, "not_found")
    assert "nope" in body["detail"]
    # 404: unknown route
    assert_problem(api.get("/v1/no-such-route"), 404, "not_found")
    # 405: known route, wrong method
    assert_problem(api.delete("/v1/documents"), 405, "method_not_allowed")
    # 409: our Conflict
    api.post("/v1/documents/other/retire", json={})
    assert_problem(api.post("/v1/documents/other/retire", json={}), 409, "conflict")
    # 412: stale If-Match, with the current revision to reload
    body = assert_problem(api.post("/v1/documents/policy/verify", json={}, headers={"If-Match": '"99"'}),
                          412, "precondition_failed")
    assert body["current_revision"] == 1
    # 422: request validation, with field errors
    body = assert_problem(api.put("/v1/documents/policy/content", json={"actor": ""}), 422, "invalid", errors=True)
    assert {e["field"] for e in body["errors"]} == {"actor", "content"}
    # 422: our Invalid, with field errors
    body = assert_problem(api.post("/v1/documents/policy/retire", json={"successor": "ghost"}), 422, "invalid",
                          errors=True)
    assert body["errors"] == [{"field": "successor", "message": "does not exist"}]
    # 422: malformed JSON
    r = api.post("/v1/documents/policy/verify", content=b"{not json", headers={"content-type": "application/json"})
    assert_problem(r, 422, "invalid", errors=True)


def test_database_down_is_503_with_retry_after(tmp_path):
    dead = db.make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2")
    rt = Runtime(settings=make_settings(f"sqlite:///{tmp_path / 'unused.db'}"), engine=dead,
                 registry_ctx=RegistryContext())
    with TestClient(create_app(runtime=rt)) as c:
        r = c.get("/healthz")
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert r.json()["database"] == "unreachable" and r.headers["content-type"] == "application/problem+json"
        # a key cannot be checked without the database: 503, not 401 and not 500
        r = c.get("/v1/documents", headers={"Authorization": "Bearer fg_0123456789ab_" + "x" * 43})
        assert_problem(r, 503, "database_unavailable")


def test_method_not_allowed_keeps_allow_header(client):
    """A 405 problem still tells the client which methods are allowed (RFC 9110)."""
    r = client.delete("/v1/documents")
    assert r.status_code == 405
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "GET" in r.headers.get("allow", "")
