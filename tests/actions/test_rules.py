"""Tool rules as pure functions: condition parsing, evaluation, resolution and overlaps (tables)."""

from __future__ import annotations

import pytest

from freshgate.actions.overlaps import conditions_overlap, find_overlaps
from freshgate.actions.rules import (ToolRule, evaluate_condition, is_read_only, normalise_tools, parse_condition,
                                     parse_quantity, resolve, split_conditions)


@pytest.mark.parametrize("text, value, dim", [
    ("5000 EUR", 5000, "money:EUR"), ("€5,000", 5000, "money:EUR"), ("5000€", 5000, "money:EUR"),
    ("$1,250.50", 1250.5, "money:USD"), ("20%", 20, "percent"), ("20 percent", 20, "percent"),
    ("14 days", 14 * 86400, "duration"), ("2 weeks", 14 * 86400, "duration"), ("36h", 36 * 3600, "duration"),
    ("2 GB", 2e9, "size"), ("7000", 7000, None), ("-3", -3, None),
])
def test_quantities(text, value, dim):
    q = parse_quantity(text)
    assert (q.value, q.dimension) == (value, dim)


@pytest.mark.parametrize("text", ["5000 EUUR", "5 k", "€5 USD"])
def test_unknown_or_mixed_units_are_errors(text):
    with pytest.raises(ValueError):
        parse_quantity(text)


@pytest.mark.parametrize("text, message", [
    ("amount >> 5000", "needs a number"), ("amount > enterprise", "needs a number"), ("amount >", "no value"),
    ("segment in []", "empty"), ("segment == [a, b]", "needs 'in'"), ("amount > 5000 EUUR", "unknown unit"),
    ("just words", "cannot parse"),
])
def test_bad_conditions_say_why(text, message):
    with pytest.raises(ValueError, match=message):
        parse_condition(text)


P = {"amount": 7000, "currency": "EUR", "customer": {"segment": "Enterprise", "country": "DE"},
     "percent_off": 20, "note": "7000 USD", "draft": True, "delay": "3 days", "total": "€4,999.99"}


@pytest.mark.parametrize("cond, expected", [
    # money: currency from a sibling `currency` parameter, from the value, or unknown
    ("amount > 5000 EUR", True), ("amount <= 5000 EUR", False), ("amount > 7000 EUR", False),
    ("amount >= 7000 EUR", True), ("amount == 7000 EUR", True), ("amount != 7000 EUR", False),
    ("amount > 5000 USD", None),  # no exchange rates: cannot be told
    ("note > 5000 EUR", None), ("note > 5000 USD", True),
    ("total < 5000 EUR", True), ("total <= 4999.98 EUR", False),
    # percentages and durations: a bare number is read in the rule's unit
    ("percent_off > 15%", True), ("percent_off <= 20%", True), ("percent_off < 20%", False),
    ("delay > 2 days", True), ("delay > 72h", False), ("delay >= 72 hours", True), ("delay > 2 GB", None),
    # words: case-insensitive, dotted paths, membership
    ("customer.segment in [enterprise, strategic]", True), ("customer.segment == enterprise", True),
    ("customer.segment not in [enterprise]", False), ("customer.country in [FR, 'NL']", False),
    ("customer.country not in [FR, NL]", True), ("draft == true", True), ("draft != false", True),
    # missing parameters cannot be told
    ("refund.amount > 5 EUR", None), ("customer.tier in [gold]", None), ("missing != x", None),
])
def test_evaluation(cond, expected):
    assert evaluate_condition(parse_condition(cond), P) is expected


def test_bare_amount_without_currency_cannot_be_told():
    assert evaluate_condition(parse_condition("amount > 5000 EUR"), {"amount": 7000}) is None
    assert evaluate_condition(parse_condition("amount > 5000 EUR"), {"amount": 7000, "currency": "eur"}) is True
    assert evaluate_condition(parse_condition("amount > 5000 EUR"), {"amount": "7000 EUR"}) is True
    assert evaluate_condition(parse_condition("amount > 5000"), {"amount": "7000 EUR"}) is None


def test_flat_dotted_keys_count():
    assert evaluate_condition(parse_condition("customer.segment in [smb]"), {"customer.segment": "SMB"}) is True


def test_and_joins_conditions_outside_quotes_and_lists():
    assert split_conditions("amount > 500 EUR and amount <= 5000 EUR") == ["amount > 500 EUR", "amount <= 5000 EUR"]
    assert split_conditions(["reason == 'fraud and abuse'", "a in [x and y]"]) == ["reason == 'fraud and abuse'",
                                                                                     "a in [x and y]"]


REFUND = [ToolRule("stripe.refund", ("amount <= 500 EUR",), "automatic", "small", 0),
          ToolRule("stripe.refund", ("amount > 500 EUR", "amount <= 5000 EUR"), "approval", "small", 1),
          ToolRule("stripe.refund", ("amount > 5000 EUR",), "forbidden", "big", 0),
          ToolRule("stripe.*", ("customer.segment in [enterprise]",), "approval", "enterprise", 0)]
SMB = {"customer": {"segment": "smb"}}


@pytest.mark.parametrize("params, lane, governing", [
    ({"amount": "500 EUR", **SMB}, "automatic", ["small"]),  # boundary: <= 500 is automatic
    ({"amount": "500.01 EUR", **SMB}, "approval", ["small"]),
    ({"amount": "5000 EUR", **SMB}, "approval", ["small"]),
    ({"amount": "5000.01 EUR", **SMB}, "forbidden", ["big"]),
    # segment missing: the enterprise rule cannot be told, so it applies too
    ({"amount": "500 EUR"}, "approval", ["enterprise"]),
    ({"amount": "50 EUR", "customer": {"segment": "enterprise"}}, "approval", ["enterprise"]),
    ({"amount": "50 EUR", "customer": {"segment": "smb"}}, "automatic", ["small"]),
    # missing amount: every amount rule applies, so the strictest one, never the loosest
    ({"customer": {"segment": "smb"}}, "forbidden", ["big"]),
    ({"amount": 50}, "forbidden", ["big"]),  # no currency: same as missing
])
def test_resolution_takes_the_strictest_applicable_lane(params, lane, governing):
    res = resolve(REFUND, "stripe.refund", params)
    assert res.covered and res.lane == lane
    assert sorted({o.rule.card_id for o in res.governing}) == governing


def test_glob_and_case_and_uncovered():
    assert resolve(REFUND, "Stripe.Payout", {"customer": {"segment": "enterprise"}}).lane == "approval"
    res = resolve(REFUND, "stripe.payout", {"customer": {"segment": "smb"}})
    assert res.covered and res.lane is None and res.applicable == ()
    assert not resolve(REFUND, "crm.delete", {}).covered


def test_front_matter_entries_are_validated_and_normalised():
    out = normalise_tools(["zendesk.reply", {"name": "stripe.refund", "if": "amount > 5000 EUR", "lane": "forbidden",
                                             "rollback": "none"}])
    assert out[0] == "zendesk.reply"
    assert out[1] == {"tool": "stripe.refund", "when": ["amount > 5000 EUR"], "lane": "forbidden", "owner": None,
                      "log": None, "rollback": "none"}
    for bad, msg in [([{"tool": "x", "when": "amount ~ 1"}], "entry 1 \\(x\\): cannot parse"),
                     ([{"tool": "x", "lane": "sometimes"}], "lane"), ([{"tool": "x", "colour": 1}], "unknown key"),
                     (["has space"], "not a tool name"), ([{"when": "a > 1"}], "tool:"), ([3], "mapping")]:
        with pytest.raises(ValueError, match=msg):
            normalise_tools(bad)


@pytest.mark.parametrize("a, b, overlap", [
    (["amount > 5000 EUR"], ["amount <= 5000 EUR"], False), (["amount >= 5000 EUR"], ["amount <= 5000 EUR"], True),
    (["amount > 500 EUR", "amount <= 5000 EUR"], ["amount > 5000 EUR"], False),
    (["amount > 5000 EUR"], ["amount > 1000 USD"], True),  # other currency: cannot rule it out
    (["segment in [a, b]"], ["segment in [c]"], False), (["segment in [a, b]"], ["segment == b"], True),
    (["segment in [a]"], ["segment not in [a]"], False), (["segment in [a]"], [], True),
    (["amount == 5 EUR"], ["amount > 5 EUR"], False), (["amount == 5 EUR"], ["amount >= 5 EUR"], True),
])
def test_condition_overlap(a, b, overlap):
    assert conditions_overlap(a, b) is overlap


def test_overlaps_are_between_cards_only():
    found = find_overlaps(REFUND + [ToolRule("stripe.refund", (), "automatic", "other", 0),
                                    ToolRule("stripe.refund", ("amount > 1 EUR",), "approval", "same-lane", 0)])
    pairs = {(o.a.card_id, o.b.card_id) for o in found}
    assert ("big", "other") in pairs and ("enterprise", "other") in pairs and ("big", "enterprise") in pairs
    assert ("enterprise", "same-lane") not in pairs and ("big", "same-lane") in pairs
    assert all(a != b for a, b in pairs) and ("big", "small") not in pairs
    assert "strictest lane wins (forbidden)" in next(o for o in found if o.b.card_id == "other"
                                                     and o.a.card_id == "big").message()


@pytest.mark.parametrize("tool, ro", [("orders.get", True), ("orders.lookup", True), ("crm.search_contacts", True),
                                      ("orders.getaway", False), ("orders.delete", False), ("get", True)])
def test_read_only_naming_convention(tool, ro):
    assert is_read_only(tool, ["get", "list", "search", "lookup"]) is ro
