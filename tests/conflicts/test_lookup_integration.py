"""A lookup touching an open conflict stops and names both sides; a dismissed one does not."""

from __future__ import annotations


def _ask(client, query):
    r = client.post("/v1/lookup", json={"query": query, "scope": {"ids": ["refunds", "faq"]}})
    assert r.status_code == 200, r.text
    return r.json()


def test_open_conflict_stops_the_lookup_and_names_both_owners(crt, docs, client):
    a = _ask(client, "refund window for monthly plans")
    assert a["decision"] == "stop_and_ask"
    reasons = [r for r in a["reasons"] if r["code"] == "conflict"]
    assert reasons, a["reasons"]
    msg = " ".join(r["message"] for r in reasons)
    assert "faq" in msg and "refunds" in msg and "alice" in msg and "bob" in msg
    assert a["conflicts"] and {a["conflicts"][0]["a_document"], a["conflicts"][0]["b_document"]} == {"refunds", "faq"}


def test_confirmed_conflict_still_stops_and_dismissed_does_not(crt, docs, client):
    [c] = client.get("/v1/conflicts").json()
    client.post(f"/v1/conflicts/{c['id']}/confirm", json={})
    assert _ask(client, "refund window for monthly plans")["decision"] == "stop_and_ask"
    client.post(f"/v1/conflicts/{c['id']}/dismiss", json={"reason": "checked with Billing"})
    a = _ask(client, "refund window for monthly plans")
    assert "conflict" not in [r["code"] for r in a["reasons"]] and a["conflicts"] == []
    assert a["decision"] == "proceed"


def test_a_lookup_on_other_sections_is_not_stopped(crt, docs, client):
    r = client.post("/v1/lookup", json={"query": "which carriers take parcels from the warehouse"})
    a = r.json()
    assert a["citations"][0]["document_id"] == "shipping"
    assert "conflict" not in [x["code"] for x in a["reasons"]]


def test_the_other_side_of_a_conflict_is_cited_even_beyond_top_k(crt, docs, client):
    r = client.post("/v1/lookup", json={"query": "refund window for monthly plans", "top_k": 1,
                                        "scope": {"ids": ["refunds", "faq"]}})
    a = r.json()
    assert a["decision"] == "stop_and_ask"
    assert {c["document_id"] for c in a["citations"]} == {"refunds", "faq"}


def test_relevant_sources_that_disagree_stop_the_lookup_even_when_neither_is_the_best(crt, docs, client):
    from tests.conflicts.conftest import add_doc
    from freshgate.app import run_sync

    add_doc(docs, "glossary", "dana", "# Glossary\n\n## Refund window for monthly plans\n\nRefund window, monthly "
                                      "plans: the refund window for monthly plans is the time a customer on a "
                                      "monthly plan has to ask for a refund.\n")
    assert run_sync(crt, [docs]).failed == []
    a = client.post("/v1/lookup", json={"query": "refund window monthly plans", "top_k": 1}).json()
    cited = [c["document_id"] for c in a["citations"]]
    assert cited[0] == "glossary", [(c["document_id"], c["score"]) for c in a["citations"]]
    assert a["decision"] == "stop_and_ask" and "conflict" in [x["code"] for x in a["reasons"]]
    assert {"refunds", "faq"} <= set(cited)
    assert {a["conflicts"][0]["a_document"], a["conflicts"][0]["b_document"]} == {"refunds", "faq"}


def test_a_conflict_with_an_irrelevant_document_does_not_stop_an_unrelated_lookup(crt, docs, client):
    a = client.post("/v1/lookup", json={"query": "parcel carriers warehouse Venlo DHL PostNL", "top_k": 1}).json()
    assert [c["document_id"] for c in a["citations"]] == ["shipping"]
    assert a["decision"] != "stop_and_ask" or "conflict" not in [x["code"] for x in a["reasons"]]
