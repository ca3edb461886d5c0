"""Auth fixtures: a small registry with two owners, a team and a conflict-free pair of documents."""

from __future__ import annotations

import pytest

from freshgate.app import run_sync
from tests.conftest import write_doc


@pytest.fixture
def docs(runtime, client, tmp_path):
    """lena owns shipping, dana owns refunds, team-billing owns pricing; returns the operator client."""
    src = tmp_path / "kb" / "sources"
    write_doc(src, "refunds.md", "owner: dana\nlast_verified: -10d")
    write_doc(src, "shipping.md", "owner: lena\nlast_verified: -10d")
    write_doc(src, "pricing.md", "owner: team-billing\nlast_verified: -10d")
    assert run_sync(runtime, [src]).failed == []
    return client


def snapshot(client) -> tuple:
    """What a hostile request must not change: every document's revision/content/owner and the audit log."""
    docs = sorted((d["id"], d["revision"], d["owner"], d["status"], d["version"])
                  for d in client.get("/v1/documents").json())
    owners = sorted((o["id"], o["contact"], o["active"]) for o in client.get("/v1/owners").json())
    audit = [(e["id"], e["action"]) for e in client.get("/v1/audit?limit=5000").json()]
    keys = sorted((k["id"], k["revoked_at"]) for k in client.get("/v1/keys").json())
    return docs, owners, audit, keys
