"""Two owners write one document at the same time: exactly one wins, the other is told (412)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from freshgate.app import create_app, run_sync
from freshgate.errors import PreconditionFailed
from freshgate.registry.service import RegistryService
from tests.conftest import NOW, bearer, make_key, write_doc


@pytest.fixture
def registered(runtime, tmp_path):
    runtime.registry_ctx.clock = lambda: NOW
    src = tmp_path / "kb" / "sources"
    write_doc(src, "policy.md", "owner: dana\nlast_verified: -10d", "# Policy\n\nVersion one.\n")
    assert run_sync(runtime, [src]).failed == []
    return runtime


WRITES = {
    "update": lambda svc, who, rev: svc.update_content("policy", f"# Policy\n\nText by {who}.\n", actor=who,
                                                       if_match=rev),
    "verify": lambda svc, who, rev: svc.verify("policy", actor=who, if_match=rev),
    "retire": lambda svc, who, rev: svc.retire("policy", actor=who, if_match=rev),
}


@pytest.mark.parametrize("action", list(WRITES))
def test_two_services_race_exactly_one_wins(registered, action):
    """Both sessions read revision 1 before either writes, so the If-Match check passes for both:
    the database's `WHERE revision = 1` must stop the second."""
    rt = registered
    both_read = threading.Barrier(2, timeout=30)

    def writer(who: str) -> str:
        with Session(rt.engine, expire_on_commit=False) as session:
            svc = RegistryService(session, rt.registry_ctx)
            rev = svc.get("policy").revision
            both_read.wait()
            try:
                WRITES[action](svc, who, rev)
                session.commit()
                return "won"
            except PreconditionFailed:
                session.rollback()
                return "412"

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(writer, ["alice", "bob"]))
    assert sorted(outcomes) == ["412", "won"]
    winner = ["alice", "bob"][outcomes.index("won")]
    with Session(rt.engine) as session:
        svc = RegistryService(session, rt.registry_ctx)
        doc = svc.get("policy")
        assert doc.revision == 2
        events = [e for e in svc.audit("policy") if e.action != "register"]
        assert [(e.action, e.actor) for e in events] == [(action, winner)]
        if action == "update":
            versions = svc.versions("policy")
            assert [v.version for v in versions] == [2, 1]
            assert versions[0].content == f"# Policy\n\nText by {winner}.\n"
            assert svc.sections("policy")[-1].text.endswith(f"Text by {winner}.")


def test_two_api_clients_race_on_content(registered):
    """Two HTTP clients hold the same ETag and both PUT: one 200, one 412, the loser's text is nowhere."""
    rt = registered
    ha, hb = bearer(make_key(rt.engine)), bearer(make_key(rt.engine))
    with TestClient(create_app(runtime=rt), headers=ha) as a, TestClient(create_app(runtime=rt), headers=hb) as b:
        tag = a.get("/v1/documents/policy").headers["etag"]
        assert b.get("/v1/documents/policy").headers["etag"] == tag
        start = threading.Barrier(2, timeout=30)

        def put(client: TestClient, who: str):
            start.wait()
            return client.put("/v1/documents/policy/content", headers={"If-Match": tag},
                              json={"content": f"# Policy\n\nBy {who}.\n"})

        with ThreadPoolExecutor(2) as pool:
            ra, rb = pool.map(lambda args: put(*args), [(a, "alice"), (b, "bob")])
        assert sorted([ra.status_code, rb.status_code]) == [200, 412], (ra.text, rb.text)
        won, lost = (ra, rb) if ra.status_code == 200 else (rb, ra)
        assert lost.headers["content-type"] == "application/problem+json"
        assert lost.json()["code"] == "precondition_failed"
        detail = a.get("/v1/documents/policy").json()
        assert detail["content"] == won.json()["content"] and detail["version"] == 2
        audit = a.get("/v1/documents/policy/audit").json()
        assert [e["action"] for e in audit] == ["update", "register"]
        loser = "bob" if won is ra else "alice"
        assert all(f"By {loser}." not in b.get(f"/v1/documents/policy/versions/{v}").json()["content"] for v in (1, 2))
        # The loser reloads and retries with the new ETag: nothing was lost, it just comes second.
        retry = b.put("/v1/documents/policy/content", headers={"If-Match": won.headers["etag"]},
                      json={"content": f"# Policy\n\nBy {loser}, on top.\n"})
        assert retry.status_code == 200 and retry.json()["version"] == 3
