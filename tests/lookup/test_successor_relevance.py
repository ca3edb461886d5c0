"""One relevance rule for every citation: a successor is cited only when it answers the question itself."""

from __future__ import annotations

from freshgate.app import run_sync
from tests.lookup.conftest import ask, cited

OLD = """---
id: press-faq-2023
title: Press FAQ 2023
owner: dana.kim
criticality: medium
review_every: 90d
last_verified: -10d
verified_by: dana.kim
status: retired
successor: {successor}
---
# Press FAQ 2023

## Talking to reporters

Zebra quokka rule: staff never talk to reporters; forward every reporter to the comms team.
"""

NEW = """---
id: {id}
title: {title}
owner: dana.kim
criticality: medium
review_every: 90d
last_verified: -10d
verified_by: dana.kim
status: active
---
# {title}

## In short

{text}
"""


def _kb(runtime, kb, successor_text: str) -> None:
    (kb / "sources" / "press-faq-2023.md").write_text(OLD.format(successor="comms-policy"))
    (kb / "sources" / "comms-policy.md").write_text(NEW.format(id="comms-policy", title="Comms policy",
                                                                text=successor_text))
    assert run_sync(runtime, [kb / "sources", kb / "sop_cards"]).failed == []


def test_a_successor_below_the_threshold_is_named_but_not_cited(hashing_kb, runtime, kb):
    _kb(runtime, kb, "Invoices are issued monthly in euros.")
    a = ask(hashing_kb, "zebra quokka rule for reporters")
    assert "comms-policy" not in cited(a) and "press-faq-2023" not in cited(a)
    sup = [r for r in a["reasons"] if r["code"] == "superseded"]
    assert len(sup) == 1 and sup[0]["item"] == "comms-policy"
    assert "does not answer this question" in sup[0]["message"] and "press-faq-2023" in sup[0]["message"]
    # Nothing else answers it: a coverage gap, never a proceed on an unrelated successor.
    assert a["decision"] == "stop_and_ask" and a["reasons"][0]["code"] == "no_source"
    threshold = runtime.settings.lookup.relevance_threshold
    assert all(c["score"] >= threshold for c in a["citations"])


def test_a_successor_that_answers_is_cited_in_place_of_the_retired_page(hashing_kb, runtime, kb):
    _kb(runtime, kb, "Zebra guidance: staff may speak with reporters once the comms team agrees.")
    # top_k 1: only the retired page makes the cut on its own, so its successor stands in for it.
    a = ask(hashing_kb, "zebra quokka rule for reporters", top_k=1)
    c = a["citations"][0]
    assert c["document_id"] == "comms-policy" and c["substituted_for"] == "press-faq-2023"
    assert c["score"] >= runtime.settings.lookup.relevance_threshold
    assert a["decision"] == "caution" and "superseded" in [r["code"] for r in a["reasons"]]
