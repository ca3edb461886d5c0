"""REST: list filters, detail, owner workflow, successor rules, audit trail, ETag / If-Match."""

from __future__ import annotations

from datetime import timedelta

import pytest

from freshgate.app import run_sync
from tests.conftest import NOW, write_doc


@pytest.fixture
def api(runtime, client, tmp_path):
    """A client on a registry holding four sources and two SOP cards, clock fixed at NOW."""
    runtime.registry_ctx.clock = lambda: NOW
    src, sop = tmp_path / "kb" / "sources", tmp_path / "kb" / "sop_cards"
    write_doc(src, "refunds.md", "owner: dana\ntags: [billing, refunds]\nlast_verified: -10d\ncriticality: high")
    write_doc(src, "pricing.md", "owner: dana\ntags: [billing]\nlast_verified: -80d")  # due
    write_doc(src, "shipping.md", "owner: lena\ntags: [logistics]\nlast_verified: -100d")  # stale
    write_doc(src, "old-refunds.md", "owner: lena\nlast_verified: -10d")
    write_doc(sop, "refund-card.md", "owner: dana\nlane: approval\nsources: [refunds, pricing]\nlast_verified: -5d")
    write_doc(sop, "ship-card.md", "owner: lena\nlane: automatic\nsources: [shipping]\nlast_verified: -5d")
    report = run_sync(runtime, [src, sop])
    assert report.failed == []
    return client


def ids(resp) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [d["id"] for d in resp.json()]


def etag_of(client, doc_id) -> str:
    return client.get(f"/v1/documents/{doc_id}").headers["etag"]


def test_list_filters(api):
    all_ = api.get("/v1/documents").json()
    assert {d["id"]: d["state"] for d in all_} == {
        "old-refunds": "fresh", "pricing": "due", "refund-card": "fresh", "refunds": "fresh",
        "ship-card": "suspect", "shipping": "stale"}
    assert ids(api.get("/v1/documents?kind=sop")) == ["refund-card", "ship-card"]
    assert ids(api.get("/v1/documents?state=stale")) == ["shipping"]
    assert ids(api.get("/v1/documents?state=suspect")) == ["ship-card"]
    assert ids(api.get("/v1/documents?owner=lena")) == ["old-refunds", "ship-card", "shipping"]
    assert ids(api.get("/v1/documents?tag=billing")) == ["pricing", "refunds"]
    assert ids(api.get("/v1/documents?kind=source&owner=dana&tag=refunds")) == ["refunds"]
    due = (NOW + timedelta(days=15)).date().isoformat()
    assert ids(api.get(f"/v1/documents?due_before={due}")) == ["pricing", "shipping"]
    assert ids(api.get(f"/v1/documents?due_before={due}T00:00:00Z")) == ["pricing", "shipping"]


def test_list_rejects_unknown_kind_and_state(api):
    for q in ("kind=policy", "state=rotten", "due_before=tomorrow"):
        r = api.get(f"/v1/documents?{q}")
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", q
        assert r.json()["errors"], q


def test_detail_fields(api):
    r = api.get("/v1/documents/refund-card")
    d = r.json()
    assert r.headers["etag"] == f'"{d["revision"]}"'
    assert (d["kind"], d["lane"], d["state"], d["owner"]) == ("sop", "approval", "fresh", "dana")
    assert d["dependencies"] == ["pricing", "refunds"] and d["dependents"] == []
    assert d["next_review"].startswith((NOW + timedelta(days=85)).date().isoformat())
    assert [v["version"] for v in d["versions"]] == [1]
    assert d["sections"][0]["anchor"] == "title" and d["content"].startswith("# Title")
    assert api.get("/v1/documents/refunds").json()["dependents"] == ["refund-card"]
    stale = api.get("/v1/documents/shipping").json()
    assert stale["reasons"][0]["code"] == "stale" and "overdue by 10 days" in stale["reasons"][0]["message"]
    assert api.get("/v1/documents/nope").status_code == 404


def test_verify_stamps_and_clears_changed(api, runtime, client_as):
    lena = client_as("owner", "lena")
    lena.put("/v1/documents/shipping/content", json={"content": "# New\n\nnew text\n"})
    assert api.get("/v1/documents/shipping").json()["state"] == "changed"
    runtime.registry_ctx.clock = lambda: NOW + timedelta(hours=1)
    r = lena.post("/v1/documents/shipping/verify", json={"note": "checked with carrier"})
    d = r.json()
    assert r.status_code == 200 and d["state"] == "fresh"
    assert d["verified_by"] == "lena" and d["last_verified"].startswith(NOW.date().isoformat() + "T13:00")
    card = api.get("/v1/documents/ship-card").json()
    # The card was verified before the source changed: it must be re-checked even after the source is verified.
    assert card["state"] == "suspect" and card["reasons"][0]["code"] == "source_changed"


def test_update_content_makes_new_version_and_get_version(api):
    r = api.put("/v1/documents/refunds/content", json={"content": "# Refunds\n\n14 days now.\n"})
    d = r.json()
    assert (d["version"], d["state"]) == (2, "changed")
    assert api.get("/v1/documents/refunds/versions/2").json()["content"] == "# Refunds\n\n14 days now.\n"
    assert "Some text." in api.get("/v1/documents/refunds/versions/1").json()["content"]
    assert api.get("/v1/documents/refunds/versions/9").status_code == 404
    verified = api.put("/v1/documents/pricing/content", json={"content": "# P\n\nnew\n", "verify": True}).json()
    assert (verified["version"], verified["state"]) == (2, "fresh")
    assert api.put("/v1/documents/refunds/content", json={"content": "   "}).status_code == 422


def test_retire_with_successor_and_unretire(api):
    r = api.post("/v1/documents/old-refunds/retire", json={"successor": "refunds", "reason": "merged"})
    d = r.json()
    assert (d["state"], d["status"], d["successor"]) == ("retired", "retired", "refunds")
    assert d["reasons"][0]["item"] == "refunds"
    assert api.post("/v1/documents/old-refunds/retire", json={}).status_code == 409  # already retired
    assert api.post("/v1/documents/old-refunds/verify", json={}).status_code == 409
    u = api.post("/v1/documents/old-refunds/unretire", json={}).json()
    assert (u["status"], u["successor"], u["state"]) == ("active", None, "fresh")
    assert api.post("/v1/documents/old-refunds/unretire", json={}).status_code == 409
    plain = api.post("/v1/documents/pricing/retire", json={}).json()
    assert plain["reasons"][0]["code"] == "retired_no_successor"


@pytest.mark.parametrize("case,successor,status,code", [
    ("missing", "ghost", 422, "invalid"),
    ("self", "old-refunds", 422, "invalid"),
    ("retired", "shipping", 422, "invalid"),
])
def test_successor_rules(api, case, successor, status, code):
    if case == "retired":
        api.post("/v1/documents/shipping/retire", json={})
    r = api.post("/v1/documents/old-refunds/retire", json={"successor": successor})
    assert r.status_code == status and r.json()["code"] == code
    assert r.json()["errors"][0]["field"] == "successor"
    assert api.get("/v1/documents/old-refunds").json()["status"] == "active"


def test_successor_cycle_is_refused(api):
    assert api.post("/v1/documents/old-refunds/retire", json={"successor": "refunds"}).status_code == 200
    r = api.post("/v1/documents/refunds/retire", json={"successor": "old-refunds"})
    assert r.status_code == 409 and "cycle" in r.json()["detail"]
    assert api.get("/v1/documents/refunds").json()["status"] == "active"


def test_transfer_owners_and_deactivate_makes_orphaned(api):
    assert api.post("/v1/owners", json={"id": "sam", "name": "Sam", "contact": "sam@x.example"}).status_code == 201
    assert {o["id"]: o["active"] for o in api.get("/v1/owners").json()} == {"dana": True, "lena": True, "sam": True}
    r = api.post("/v1/owners/lena/deactivate", json={})
    assert r.json()["active"] is False
    assert api.get("/v1/documents/shipping").json()["state"] == "orphaned"
    assert set(ids(api.get("/v1/documents?state=orphaned"))) == {"old-refunds", "ship-card", "shipping"}
    t = api.post("/v1/documents/old-refunds/transfer", json={"owner": "sam"}).json()
    assert (t["owner"], t["state"], t["owner_detail"]["contact"]) == ("sam", "fresh", "sam@x.example")
    assert api.post("/v1/documents/refunds/transfer", json={"owner": "lena"}).status_code == 422  # inactive
    assert api.post("/v1/documents/refunds/transfer", json={"owner": "nobody"}).status_code == 404
    assert api.post("/v1/owners/lena/activate", json={}).json()["active"] is True
    assert api.get("/v1/documents/shipping").json()["state"] == "stale"
    assert api.get("/v1/owners/nobody").status_code == 404


def test_audit_trail_per_document_with_before_and_after(api, client_as):
    dana = client_as("owner", "dana")
    assert dana.post("/v1/documents/refunds/verify", json={}).status_code == 200
    assert dana.put("/v1/documents/refunds/content", json={"content": "# R\n\nv2\n"}).status_code == 200
    api.post("/v1/owners", json={"id": "sam"})
    assert api.post("/v1/documents/refunds/transfer", json={"owner": "sam", "on_behalf_of": "boss"}).status_code == 200
    sam = client_as("owner", "sam")
    assert sam.post("/v1/documents/refunds/retire", json={"reason": "obsolete"}).status_code == 200
    assert sam.post("/v1/documents/refunds/unretire", json={}).status_code == 200
    events = api.get("/v1/documents/refunds/audit").json()
    assert [e["action"] for e in events] == ["unretire", "retire", "transfer", "update", "verify", "register"]
    assert [e["actor"] for e in events[:5]] == ["sam", "sam", "boss (by test operator)", "dana", "dana"]
    by = {e["action"]: e for e in events}
    assert (by["transfer"]["before"]["owner"], by["transfer"]["after"]["owner"]) == ("dana", "sam")
    assert (by["update"]["before"]["version"], by["update"]["after"]["version"]) == (1, 2)
    assert (by["retire"]["after"]["status"], by["retire"]["detail"]) == ("retired", "obsolete")
    assert by["verify"]["after"]["verified_by"] == "dana"
    assert by["register"]["before"] is None and by["register"]["after"]["title"] == "Title"
    assert api.get("/v1/documents/nope/audit").status_code == 404
    everything = api.get("/v1/audit?limit=500").json()
    assert {"owner_created", "register"} <= {e["action"] for e in everything}


def test_etag_changes_on_every_write_and_stale_if_match_gets_412(api):
    seen = [etag_of(api, "refunds")]
    api.post("/v1/owners", json={"id": "sam"})
    writes = [
        ("post", "/v1/documents/refunds/verify", {}),
        ("put", "/v1/documents/refunds/content", {"content": "# R\n\nnew\n"}),
        ("post", "/v1/documents/refunds/transfer", {"owner": "sam"}),
        ("post", "/v1/documents/refunds/retire", {}),
        ("post", "/v1/documents/refunds/unretire", {}),
    ]
    for method, url, body in writes:
        stale = seen[0]
        r = getattr(api, method)(url, json=body, headers={"If-Match": seen[-1]})
        assert r.status_code == 200, (url, r.text)
        assert r.headers["etag"] not in seen and r.headers["etag"] == etag_of(api, "refunds")
        seen.append(r.headers["etag"])
        refused = getattr(api, method)(url, json=body, headers={"If-Match": stale})
        assert refused.status_code == 412, url
        assert refused.json()["current_revision"] == int(seen[-1].strip('"'))
    assert etag_of(api, "refunds") == seen[-1]  # the refused writes changed nothing
    assert len(api.get("/v1/documents/refunds/audit").json()) == 1 + len(writes)
    # RFC 9110: If-Match compares strongly (a weak tag never matches), accepts `*` and a list; else 400.
    assert api.post("/v1/documents/refunds/verify", json={}, headers={"If-Match": f"W/{seen[-1]}"}).status_code == 412
    assert api.post("/v1/documents/refunds/verify", json={}, headers={"If-Match": "*"}).status_code == 200
    now = etag_of(api, "refunds")
    assert api.post("/v1/documents/refunds/verify", json={}, headers={"If-Match": f'"0", {now}'}).status_code == 200
    for bad in ("7", '"7', "W/7", '"1" "2"', '"1",,'):
        r = api.post("/v1/documents/refunds/verify", json={}, headers={"If-Match": bad})
        assert r.status_code == 400 and r.json()["code"] == "bad_header", bad


def test_status_counts_every_state(api):
    counts = api.get("/v1/status").json()
    assert list(counts) == ["retired", "expired", "changed", "orphaned", "unreachable", "stale", "suspect", "due",
                            "fresh"]
    assert (counts["fresh"], counts["due"], counts["stale"], counts["suspect"]) == (3, 1, 1, 1)


def test_healthz_and_openapi(api):
    assert api.get("/healthz").json()["database"] == "ok"
    spec = api.get("/openapi.json").json()
    assert "/v1/documents/{doc_id}/verify" in spec["paths"]
    assert api.get("/docs").status_code == 200
