"""Action gate fixtures: the example knowledge base synced (no model needed on this path)."""

from __future__ import annotations

import pytest

from freshgate.app import run_sync


@pytest.fixture
def example(runtime, client, kb):
    """The example KB synced; yields the API client (the sync report is on `client.sync_report`)."""
    report = run_sync(runtime, [kb / "sources", kb / "sop_cards"])
    client.sync_report = report
    return client


def check(client, tool, params=None, **kw):
    """POST /v1/actions/check and return the JSON answer (asserting 200)."""
    r = client.post("/v1/actions/check", json={"tool": tool, "parameters": params or {}, **kw})
    assert r.status_code == 200, r.text
    return r.json()


def codes(answer):
    """Reason codes, in order."""
    return [r["code"] for r in answer["reasons"]]
