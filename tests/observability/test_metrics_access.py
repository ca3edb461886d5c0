"""Who may read /metrics: operators by default; anyone only when metrics.public_scrape is set."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from freshgate.app import build_runtime, create_app
from freshgate.config import Settings
from tests.conftest import bearer, make_key, make_settings


def test_metrics_need_an_operator_by_default(client, client_as):
    anon = client_as(None)
    r = anon.get("/metrics")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "freshgate_" not in r.text
    assert client_as("agent").get("/metrics").status_code == 403
    ok = client.get("/metrics")  # the operator key
    assert ok.status_code == 200 and "freshgate_lookups_total" in ok.text


@pytest.fixture
def public_client(database_url):
    """An app whose settings let an unauthenticated scraper in, and no credential on the client."""
    settings = make_settings(database_url)
    settings.metrics.public_scrape = True
    rt = build_runtime(settings)
    try:
        with TestClient(create_app(runtime=rt)) as c:
            yield c, rt
    finally:
        rt.close()


def test_public_scrape_opens_metrics_and_nothing_else(public_client):
    anon, rt = public_client
    r = anon.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "freshgate_lookups_total" in r.text
    # Only /metrics: the API and the key routes still want a credential.
    assert anon.post("/v1/lookup", json={"query": "refund window"}).status_code == 401
    assert anon.get("/v1/receipts/1").status_code == 401
    # A credential is still accepted on /metrics (an operator's scraper keeps working when it is switched on).
    key = make_key(rt.engine, "operator")
    assert anon.get("/metrics", headers=bearer(key)).status_code == 200


def test_public_scrape_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("FRESHGATE_METRICS__PUBLIC_SCRAPE", "true")
    assert Settings().metrics.public_scrape is True
    monkeypatch.delenv("FRESHGATE_METRICS__PUBLIC_SCRAPE")
    assert Settings().metrics.public_scrape is False
