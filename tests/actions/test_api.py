"""The action check over HTTP on the example knowledge base: every outcome, conditions, freshness, receipts."""

from __future__ import annotations

from sqlmodel import Session

from freshgate.registry.service import RegistryService
from tests.actions.conftest import check, codes


def test_example_kb_shows_every_outcome(example):
    assert example.sync_report.failed == [] and example.sync_report.warnings == []
    a = check(example, "orders.lookup", {"order_id": "NW-1042"})
    assert a["decision"] == "proceed" and a["receipt_id"] and a["owner"] == "team-support"
    assert [c["id"] for c in a["cards"]] == ["shipping-delay-reply"] and a["sources"][0]["id"] == "shipping-policy"
    draft = check(example, "zendesk.reply", intent="draft an e-mail to the customer about the delay")
    assert draft["decision"] == "needs_approval" and codes(draft) == ["approval_required", "parameter_unknown"]
    assert draft["rollback"].startswith("a sent reply cannot be recalled") and draft["ask"]["owner"] == "team-support"
    macro = check(example, "zendesk.reply", {"macro": "order-on-its-way"})
    assert macro["decision"] == "proceed"
    gone = check(example, "privacy.delete_account", {"customer_id": "cus_1"})
    assert gone["decision"] == "forbidden" and codes(gone)[0] == "forbidden_lane"
    assert gone["ask"]["owner"] == "lena.hoffmann" and "not allowed for agents" in gone["ask"]["question"]
    stale = check(example, "stripe.invoice_retry", {"invoice": "in_1"})
    assert stale["decision"] == "stop_and_ask" and stale["lane"] == "automatic"
    assert stale["reasons"][0]["code"] == "stale_high_stakes" and stale["reasons"][0]["item"] == "payment-failures-dunning"
    assert stale["ask"]["owner"] == "team-billing" and "stale" in stale["ask"]["question"]
    low = check(example, "stripe.invoice_retry", {"invoice": "in_1"}, risk="low")
    assert low["decision"] == "proceed" and codes(low) == ["stale", "sop_suspect"]
    changed = check(example, "accounts.lock")
    assert changed["decision"] == "stop_and_ask" and "changed_unverified" in codes(changed)
    unknown = check(example, "crm.export_contacts")
    assert unknown["decision"] == "stop_and_ask" and codes(unknown) == ["no_procedure"] and unknown["receipt_id"]
    assert unknown["ask"]["owner"] is None and "No SOP card governs crm.export_contacts" in unknown["ask"]["question"]


def test_refunds_by_amount_and_the_strictest_rule_when_the_amount_is_unknown(example):
    cases = [({"amount": 200, "currency": "EUR"}, "proceed", "refund-subscription-charge"),
             ({"amount": "500 EUR"}, "proceed", "refund-subscription-charge"),
             ({"amount": "€700"}, "needs_approval", "refund-subscription-charge"),
             ({"amount": "5000 EUR"}, "needs_approval", "refund-subscription-charge"),
             ({"amount": "5000.01 EUR"}, "forbidden", "refund-over-5000"),
             ({}, "forbidden", "refund-over-5000"),  # missing: strictest, never the loosest
             ({"amount": 200}, "forbidden", "refund-over-5000"),  # no currency: cannot be told
             ({"amount": "200 USD"}, "forbidden", "refund-over-5000")]  # no exchange rates
    for params, decision, card in cases:
        a = check(example, "stripe.refund", params)
        assert (a["decision"], [c["id"] for c in a["cards"]]) == (decision, [card]), (params, a)
        assert [r["card"] for r in a["rules"] if r["governing"]] == [card]
    a = check(example, "stripe.refund", {})
    assert "parameter_unknown" in codes(a) and {r["status"] for r in a["rules"]} == {"unknown"}
    assert check(example, "stripe.coupon_create", {"percent_off": 20})["decision"] == "needs_approval"
    assert check(example, "stripe.coupon_create", {"percent_off": "60%"})["decision"] == "forbidden"


def test_freshness_turns_an_allowed_action_into_stop_and_ask(example, runtime):
    assert check(example, "orders.lookup")["decision"] == "proceed"
    r = example.put("/v1/documents/shipping-policy/content",
                    json={"content": "# Shipping\n\n## Cut-off\n\nOrders leave at noon.\n"})
    assert r.status_code == 200, r.text
    a = check(example, "orders.lookup")
    assert a["decision"] == "stop_and_ask" and a["reasons"][0]["code"] == "changed_unverified"
    assert a["reasons"][0]["item"] == "shipping-policy" and a["ask"]["owner"] == "sofia.marquez"
    assert example.post("/v1/documents/shipping-policy/verify", json={}).status_code == 200
    # the card was verified before its source changed: it proceeds, with a note that the card should be re-checked
    a = check(example, "orders.lookup")
    assert a["decision"] == "proceed" and codes(a) == ["sop_suspect"]
    with Session(runtime.engine) as s:
        RegistryService(s, runtime.registry_ctx).set_owner_active("team-support", False, actor="ops")
        s.commit()
    a = check(example, "orders.lookup")
    assert a["decision"] == "stop_and_ask" and codes(a)[0] == "orphaned"
    with Session(runtime.engine) as s:
        RegistryService(s, runtime.registry_ctx).set_owner_active("team-support", True, actor="ops")
        s.commit()
    assert example.post("/v1/documents/shipping-delay-reply/retire", json={}).status_code == 200
    a = check(example, "orders.lookup")
    assert a["decision"] == "stop_and_ask" and codes(a)[0] == "retired_no_successor"


def test_an_open_conflict_on_a_source_stops_the_action(example, runtime):
    from freshgate.conflicts.service import ConflictService

    before = check(example, "stripe.credit_note", {"invoice": "in_9"})
    assert before["decision"] == "needs_approval"
    with Session(runtime.engine) as s:
        svc = ConflictService(s, runtime.extras["conflicts"].ctx)
        _open_conflict(s, svc, "sla-business", "pricing")
        s.commit()
    a = check(example, "stripe.credit_note", {"invoice": "in_9"})
    assert a["decision"] == "stop_and_ask" and codes(a)[0] == "conflict"
    assert {r["item"] for r in a["reasons"] if r["code"] == "conflict"} == {"sla-business", "pricing"}


def _open_conflict(session, svc, doc_a, doc_b):
    from freshgate.conflicts.models import ConflictRecord, pair_key

    sa, sb = (svc.registry.sections(d)[0] for d in (doc_a, doc_b))
    now = svc.now()
    session.add(ConflictRecord(pair_key=pair_key(sa.text_hash, sb.text_hash), doc_a=doc_a, version_a=sa.version,
                               anchor_a=sa.anchor, hash_a=sa.text_hash, text_a=sa.text, doc_b=doc_b,
                               version_b=sb.version, anchor_b=sb.anchor, hash_b=sb.text_hash, text_b=sb.text,
                               similarity=0.9, score=0.9, judge="test", detected_at=now, updated_at=now))


def test_a_retired_card_with_a_successor_hands_its_rules_over(example, runtime):
    a = check(example, "stripe.credit_note")
    assert a["cards"][0]["id"] == "sla-service-credit"
    r = example.post("/v1/documents/sla-service-credit/retire", json={"successor": "refund-subscription-charge"})
    assert r.status_code == 200, r.text
    a = check(example, "stripe.credit_note")  # the successor has no rule for it: nobody governs it now
    assert a["decision"] == "stop_and_ask" and codes(a) == ["no_procedure"]


def test_unknown_tools_are_recorded_and_listed(example, runtime):
    for tool in ("crm.export_contacts", "crm.export_contacts", "orders.get"):
        check(example, tool)
    check(example, "zendesk.reply", {"macro": "not-a-known-macro"})  # covered: approval rule
    rows = example.get("/v1/actions/uncovered").json()
    assert [(u["tool"], u["count"], u["last_reason"]) for u in rows] == [("crm.export_contacts", 2, "no_procedure"),
                                                                         ("orders.get", 1, "no_procedure")]
    review = example.get("/v1/review?format=json").json()
    uncovered = [i for i in review["items"] if i["state"] == "uncovered"]
    assert [(i["title"], i["lookups"]) for i in uncovered] == [("crm.export_contacts", 2), ("orders.get", 1)]
    assert all(i["action"] == "write_sop" for i in uncovered)
    runtime.settings.actions.unknown_read_only = "caution"
    assert check(example, "orders.get")["decision"] == "caution"
    assert check(example, "crm.export_contacts")["decision"] == "stop_and_ask"


def test_review_lists_approval_and_forbidden_tools_without_rollback(example):
    review = example.get("/v1/review?format=json").json()
    rows = {(i["document_id"], i["title"]) for i in review["items"] if i["state"] == "no_rollback"}
    assert ("gdpr-access-request", "privacy.export") in rows and ("gdpr-access-request", "privacy.register") in rows
    assert not any(d == "refund-over-5000" for d, _ in rows)  # it names a rollback rule
    assert not any(t == "stripe.invoice_retry" for _, t in rows)  # automatic lane


def test_permission_table_is_listable(example):
    rows = example.get("/v1/tools").json()
    refund = [r for r in rows if r["tool"] == "stripe.refund"]
    assert [(r["card"], r["lane"], r["conditions"]) for r in refund] == [
        ("refund-over-5000", "forbidden", ["amount > 5000 EUR"]),
        ("refund-subscription-charge", "automatic", ["amount <= 500 EUR"]),
        ("refund-subscription-charge", "approval", ["amount > 500 EUR", "amount <= 5000 EUR"])]
    retry = next(r for r in rows if r["tool"] == "stripe.invoice_retry")  # the old form: card's lane
    assert retry["lane_from_card"] and retry["lane"] == "automatic" and retry["card_state"] == "suspect"
    assert [r["card"] for r in example.get("/v1/tools?tool=Stripe.Refund").json()] == [r["card"] for r in refund]


def test_receipts_redact_parameters_and_the_impact_list_covers_actions(example, runtime):
    runtime.settings.actions.redact_keys = ["email", "token"]
    a = check(example, "zendesk.reply", {"macro": "order-on-its-way", "customer": {"email": "a@example.com",
                                                                                   "name": "Ann"},
                                         "api_token": "sek", "list": [{"Email": "x"}]}, intent="tell Ann")
    r = example.get(f"/v1/actions/receipts/{a['receipt_id']}").json()
    assert r["parameters"] == {"macro": "order-on-its-way", "customer": {"email": "[redacted]", "name": "Ann"},
                               "api_token": "[redacted]", "list": [{"Email": "[redacted]"}]}
    assert r["decision"] == "proceed" and r["rules"][0]["card_id"] == "shipping-delay-reply"
    assert {(d["document_id"], d["role"]) for d in r["documents"]} == {("shipping-delay-reply", "card"),
                                                                       ("shipping-policy", "source")}
    impact = example.get("/v1/receipts?document=shipping-delay-reply").json()
    assert impact[0]["id"] == a["receipt_id"] and impact[0]["kind"] == "action"
    assert impact[0]["action"]["tool"] == "zendesk.reply" and impact[0]["query"] == "tell Ann"
    assert example.get("/v1/receipts?document=shipping-policy").json()[0]["id"] == a["receipt_id"]
    listed = example.get("/v1/actions/receipts?document=shipping-delay-reply").json()
    assert [x["id"] for x in listed] == [a["receipt_id"]]


def test_bad_input_is_a_problem(example):
    r = example.post("/v1/actions/check", json={"tool": "", "parameters": {}})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    r = example.post("/v1/actions/check", json={"tool": "x", "parameters": [1, 2]})
    assert r.status_code == 422
    assert example.get("/v1/actions/receipts/nope").status_code == 404


def test_roles_agents_check_and_see_only_their_own_receipts(example, client_as, runtime):
    agent, other = client_as("agent"), client_as("agent")
    mine = check(agent, "zendesk.reply", {"macro": "order-on-its-way", "customer": {"name": "Ann"}})
    theirs = check(other, "zendesk.reply", {"macro": "order-on-its-way", "customer": {"name": "Bob"}})
    assert agent.get("/v1/tools").status_code == 200
    assert agent.get("/v1/actions/uncovered").status_code == 403
    listed = agent.get("/v1/actions/receipts").json()
    assert [r["id"] for r in listed] == [mine["receipt_id"]] and listed[0]["parameters"]["customer"]["name"] == "Ann"
    assert agent.get(f"/v1/actions/receipts/{theirs['receipt_id']}").status_code == 404
    impact = agent.get("/v1/receipts?document=shipping-delay-reply").json()
    assert [r["id"] for r in impact] == [mine["receipt_id"]]
    # the owner of the governing card sees both, with parameters; an owner of something else sees neither
    card_owner, stranger = client_as("owner", "team-support"), client_as("owner", "dana.kim")
    seen = {r["id"]: r for r in card_owner.get("/v1/actions/receipts?document=shipping-delay-reply").json()}
    assert set(seen) == {mine["receipt_id"], theirs["receipt_id"]}
    assert seen[theirs["receipt_id"]]["parameters"]["customer"]["name"] == "Bob"
    assert stranger.get("/v1/actions/receipts").json() == []
    assert stranger.get(f"/v1/actions/receipts/{mine['receipt_id']}").status_code == 404
    assert {r["id"] for r in example.get("/v1/actions/receipts").json()} == {mine["receipt_id"], theirs["receipt_id"]}
    principal = example.get(f"/v1/actions/receipts/{mine['receipt_id']}").json()["principal"]
    assert principal and principal.startswith("key:")
    assert client_as(None).post("/v1/actions/check", json={"tool": "x"}).status_code == 401
