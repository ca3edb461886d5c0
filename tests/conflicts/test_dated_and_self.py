"""Dated disagreements name the newer side and ask the older side's owner; a retired document and its
successor are no conflict; a section that contradicts itself is a conflict with itself."""

from __future__ import annotations

import pytest

from freshgate.app import run_sync
from tests.conftest import write_doc
from tests.conflicts.conftest import FAQ, REFUNDS, add_doc, conflicts

OLD_FRONT = """id: faq
title: Faq
owner: bob
criticality: medium
review_every: 365d
last_verified: -200d
verified_by: bob
status: active"""


@pytest.fixture
def dated(crt, tmp_path):
    """refunds (alice, verified 5 days ago) and faq (bob, verified 200 days ago) disagree."""
    d = tmp_path / "docs"
    add_doc(d, "refunds", "alice", REFUNDS)
    write_doc(d, "faq.md", OLD_FRONT, FAQ)
    assert run_sync(crt, [d]).failed == []
    return d


def test_dated_conflict_says_which_side_is_newer(crt, dated):
    [c] = conflicts(crt)
    newer = c[c["newer"]]
    assert newer["document_id"] == "refunds" and c["older_document"] == "faq" and c["older_owner"] == "bob"
    assert c["a"]["effective"] and c["b"]["effective"]


def test_lookup_asks_the_older_sides_owner(crt, dated, client):
    a = client.post("/v1/lookup", json={"query": "refund window for monthly plans",
                                        "scope": {"ids": ["refunds", "faq"]}}).json()
    assert a["decision"] == "stop_and_ask" and a["reasons"][0]["code"] == "conflict"
    # bob (the older side's owner) is asked; without a registered contact the operators stand in for him.
    ask = a["ask"]
    assert ask["owner"] == "bob" or (ask["owner"] == "operators" and "bob" in (ask.get("note") or "")), ask
    assert "older than refunds#" in a["ask"]["question"]
    msg = " ".join(r["message"] for r in a["reasons"])
    assert "is newer" in msg and "faq is the one to update" in msg


def test_api_shows_the_dates(crt, dated, client):
    [c] = client.get("/v1/conflicts").json()
    assert c["newer"] in ("a", "b") and c["older_document"] == "faq" and c["older_owner"] == "bob"


def test_undated_conflict_names_no_newer_side(crt, docs):
    [c] = conflicts(crt)
    assert c["newer"] is None and c["older_owner"] is None


def test_a_retired_document_and_its_successor_are_no_conflict(crt, tmp_path):
    d = tmp_path / "docs"
    add_doc(d, "refunds", "alice", REFUNDS)
    write_doc(d, "faq.md", OLD_FRONT.replace("status: active", "status: retired\nsuccessor: refunds"), FAQ)
    assert run_sync(crt, [d]).failed == []
    assert conflicts(crt) == []


@pytest.mark.model
def test_a_section_that_contradicts_itself_is_a_conflict_with_itself(runtime, tmp_path):
    from freshgate.embeddings.embedder import SentenceTransformerEmbedder

    lk = runtime.extras["lookup"]
    lk.use_embedder(SentenceTransformerEmbedder())
    lk.warm_up()
    d = tmp_path / "docs"
    add_doc(d, "returns", "erin", "# Returns\n\n## Return window\n\nUnused items can be returned within 30 days of "
                                  "delivery. Labels are printed at the depot. Unused items can be returned within "
                                  "60 days of delivery.\n")
    add_doc(d, "carriers", "carl", "# Carriers\n\n## Parcel carriers\n\nParcels leave the warehouse in Venlo with DHL "
                                   "every working day. DHL does not collect on Sundays.\n")
    assert run_sync(runtime, [d]).failed == []
    found = conflicts(runtime)
    assert len(found) == 1, [c["explanation"] for c in found]
    [c] = found
    assert c["a"]["cite"] == c["b"]["cite"] == "returns#return-window"
    assert "contradicts itself" in c["explanation"] and "30 days" in c["explanation"]
