"""End-to-end smoke: the example knowledge base syncs and every list route answers."""

from freshgate.app import run_sync


def test_example_kb_syncs_and_lists(runtime, client, kb):
    report = run_sync(runtime, [kb / "sources", kb / "sop_cards"])
    assert report.failed == []
    assert len(report.added) >= 15
    docs = client.get("/v1/documents").json()
    assert {d["id"] for d in docs} >= {"refund-policy", "pricing"}
    r = client.get("/v1/documents/refund-policy")
    assert r.status_code == 200 and r.headers["etag"] == f'"{r.json()["revision"]}"'
