"""The example knowledge base answers its own questions: the first citation is the section that answers.

Questions as a support or ops team would ask them, each with the section(s) that answer it
(two where two documents state the same rule). With the real model and hybrid retrieval the
target is 90 % of rows citing an expected section first; the misses are listed in MISSES so they
stay visible (a fixed miss must be removed from it, a new miss fails the test), and the 90 %
check is an expected failure until they are fixed.
"""

from __future__ import annotations

import pytest

from freshgate.app import run_sync
from tests.lookup.conftest import ask, cited

pytestmark = pytest.mark.model

QUESTIONS: list[tuple[str, tuple[str, ...]]] = [
    ("how long do UK orders take to arrive?", ("shipping-policy#standard-shipping-delivery-times",)),
    ("can support staff speak to a journalist?", ("security-incident-runbook#notifying-authorities-and-customers",)),
    ("what is our refund window for monthly plans?", ("refund-policy#refund-window-for-monthly-plans",
                                                      "billing-faq#what-is-the-refund-window-for-monthly-plans")),
    ("do we offer express shipping to Norway?", ("shipping-policy#express-shipping-delivery-times",)),
    ("who pays import VAT on orders to Switzerland?",
     ("shipping-policy#customs-for-the-united-kingdom-switzerland-and-norway",
      "shipping-delay-reply#orders-to-the-united-kingdom-switzerland-and-norway")),
    ("what time is the cut-off for same-day dispatch?", ("shipping-policy#order-cut-off-time-and-dispatch",)),
    ("how much is standard shipping?", ("shipping-policy#shipping-costs", "pricing#shipping-prices")),
    ("when does a parcel count as lost?", ("lost-parcel-claims#when-a-parcel-counts-as-lost",
                                           "shipping-policy#delayed-and-lost-parcels")),
    ("how much does DHL pay out for a lost express parcel?", ("lost-parcel-claims#filing-a-claim-with-dhl-express",)),
    ("how many days does a customer have to send a physical item back?",
     ("returns-policy#return-window-for-physical-goods",)),
    ("who pays for the return label?", ("returns-policy#return-shipping-costs",)),
    ("what does Northwind Plus cost per month?", ("pricing#northwind-plus-prices",)),
    ("what perks do Plus members get?", ("pricing#northwind-plus-benefits",)),
    ("what uptime do we promise Business customers?", ("sla-business#uptime-commitment-for-northwind-business",)),
    ("how much credit does a Business customer get when we miss the uptime target?",
     ("sla-business#service-credits-for-missed-uptime", "sla-service-credit#calculating-the-service-credit")),
    ("what are the support opening hours?", ("sla-business#support-hours",)),
    ("how quickly must the on-call engineer acknowledge a page?", ("oncall-rotation#paging-and-acknowledgement-times",)),
    ("what counts as a Sev-1?", ("oncall-rotation#incident-severity-levels",)),
    ("how long do we keep call recordings?", ("data-retention#retention-of-support-tickets-and-call-recordings",)),
    ("do we store full card numbers?", ("data-retention#payment-card-data",)),
    ("how long must invoices be kept?", ("data-retention#retention-of-order-and-invoice-records",)),
    ("how many days do we have to answer a GDPR request?", ("privacy-requests#response-deadline-for-gdpr-requests",)),
    ("how do we check the identity of someone asking for their data?",
     ("privacy-requests#verifying-the-requesters-identity",
      "gdpr-access-request#logging-and-verifying-a-gdpr-access-request")),
    ("how often do we retry a failed card payment?",
     ("payment-failures-dunning#retry-schedule-for-failed-subscription-payments",
      "billing-faq#what-happens-when-a-subscription-payment-fails")),
    ("how long does a Business workspace keep working after a failed payment?",
     ("payment-failures-dunning#grace-period-for-northwind-business",)),
    ("what discount can a support agent give without asking anyone?",
     ("discount-approval-limits#discount-limits-for-support-agents",)),
    ("which company hosts our servers?", ("vendor-list#hosting-and-infrastructure-vendors",)),
    ("what isn't covered by the warranty?", ("warranty-policy#what-the-warranty-does-not-cover",)),
    ("how long is the legal guarantee for consumers?", ("warranty-policy#legal-guarantee-for-consumers",)),
    ("what evidence do we send the bank to fight a chargeback?",
     ("chargeback-handling#evidence-to-collect-for-a-chargeback",)),
    ("what is the WINTER20 code good for?", ("winter-promotion#winter-sale-code-winter20-for-physical-goods",)),
    ("what happens to a customer's data when they delete their account?",
     ("account-deletion#what-is-deleted-and-when",)),
    ("who do I escalate a suspected outage to?", ("escalation-matrix#escalating-a-suspected-outage",)),
    ("which carrier takes our standard parcels?", ("shipping-policy#warehouse-and-carriers", "vendor-list#carriers")),
    ("is there a discount for Business customers who pay yearly?",
     ("sales-playbook#annual-billing-offer-for-northwind-business",)),
    ("how much notice do customers get before a price increase?", ("pricing#announcing-price-changes",)),
    ("what does a team lead approve for discounts?",
     ("discount-approval-limits#discount-limits-for-team-leads-and-managers",)),
    ("a customer says someone else logged into their account, what do we do first?",
     ("security-incident-runbook#customer-account-takeover", "escalate-security-report#steps-for-a-suspected-account-takeover")),
    ("someone is sending phishing emails pretending to be Northwind Parcel",
     ("security-incident-runbook#phishing-that-uses-the-northwind-parcel-brand",
      "escalate-security-report#steps-for-a-phishing-report")),
    ("where do I send a legal threat from a customer?", ("escalation-matrix#escalating-legal-and-privacy-matters",)),
]
# Rows whose first citation is not an expected section today (question -> what was cited first).
MISSES: dict[str, str] = {
    "can support staff speak to a journalist?": "billing-faq#billing-faq-for-support-agents",
    "how many days does a customer have to send a physical item back?":
        "returns-policy#damaged-or-wrong-items-on-arrival",
    "what evidence do we send the bank to fight a chargeback?": "chargeback-handling#what-a-chargeback-is",
    "what happens to a customer's data when they delete their account?":
        "account-deletion#account-deletion-procedure",
    "a customer says someone else logged into their account, what do we do first?":
        "escalate-security-report#when-to-escalate-a-customers-security-report",
}


@pytest.fixture
def first_citations(model_kb):
    """question -> (first cite, every citation's score)."""
    out = {}
    for question, _ in QUESTIONS:
        a = ask(model_kb, question)
        out[question] = (a["citations"][0]["cite"] if a["citations"] else "(nothing cited)",
                         [(c["cite"], c["score"]) for c in a["citations"]])
    return out


def test_the_first_citation_is_the_section_that_answers(first_citations, runtime):
    threshold = runtime.settings.lookup.relevance_threshold
    below = [(q, cite, score) for q, (_, cs) in first_citations.items() for cite, score in cs if score < threshold]
    misses = {q: first_citations[q][0] for q, expected in QUESTIONS if first_citations[q][0] not in expected}
    assert below == [], "citations below the relevance threshold"
    assert misses == MISSES, "misses changed (update MISSES when one is fixed)"
    assert len(QUESTIONS) >= 30


@pytest.mark.xfail(strict=True, reason="35 of 40 rows today (87.5 %): the misses listed in MISSES")
def test_at_least_90_percent_of_rows_cite_the_answer_first():
    assert len(QUESTIONS) - len(MISSES) >= 0.9 * len(QUESTIONS)


def test_a_retired_faq_does_not_drag_in_an_unrelated_successor(model_kb, runtime, kb):
    # The case: billing-faq retired in favour of refund-policy; a press question must not cite
    # a refund section below the threshold because it stands in for the FAQ.
    path = kb / "sources" / "billing-faq.md"
    path.write_text(path.read_text().replace("status: active", "status: retired\nsuccessor: refund-policy"))
    assert run_sync(runtime, [kb / "sources", kb / "sop_cards"]).failed == []
    a = ask(model_kb, "can support staff speak to a journalist?")
    threshold = runtime.settings.lookup.relevance_threshold
    assert all(c["score"] >= threshold for c in a["citations"]), a["citations"]
    assert not any(c["substituted_for"] == "billing-faq" for c in a["citations"])
    assert "billing-faq" not in cited(a)
    # Still a miss of the table (MISSES): the runbook's "press" sentence is not found for "journalist".
