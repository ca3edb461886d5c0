"""Claim extraction on real-looking policy sentences."""

import pytest

from freshgate.conflicts.claims import disagreements, extract, sentences


def one(text, kind):
    found = [c for c in extract(text) if c.kind == kind]
    assert found, f"no {kind} claim in {text!r}: {extract(text)}"
    return found[0]


@pytest.mark.parametrize("text, value, unit", [
    ("Discounts above €5,000 need approval from the sales director.", 5000, "EUR"),
    ("The plan costs USD 20 per seat.", 20, "USD"),
    ("Enterprise deals reach $1.2m in annual value.", 1_200_000, "USD"),
    ("Travel costs are reimbursed up to 250 euros per night.", 250, "EUR"),
    ("The fine is £40.", 40, "GBP"),
])
def test_money_with_currencies(text, value, unit):
    c = one(text, "money")
    assert c.value == pytest.approx(value) and c.unit == unit


@pytest.mark.parametrize("text, days, bound, unit", [
    ("Refunds are available within 30 days of purchase.", 30, "at_most", "days"),
    ("Claims must be filed within 30 calendar days.", 30, "at_most", "days"),
    ("Access reviews happen every 2 weeks.", 14, "exact", "days"),
    ("Payment is due 10 business days after invoicing.", 10, "exact", "business days"),
    ("Backups are kept for at least three months.", 90, "at_least", "days"),
])
def test_durations(text, days, bound, unit):
    c = one(text, "duration")
    assert (c.value, c.bound, c.unit) == (pytest.approx(days), bound, unit)


def test_time_with_zone_and_deadline_bound():
    c = one("Orders must be submitted no later than 5 p.m. CET on the last working day.", "time")
    assert c.value == 17 * 60 and c.unit == "CET" and c.bound == "at_most"


@pytest.mark.parametrize("text, iso", [
    ("The new policy applies by 2024-03-01.", "2024-03-01"),
    ("The contract was signed on March 3, 2021 in Berlin.", "2021-03-03"),
    ("He was born on 30 October 1891.", "1891-10-30"),
])
def test_dates(text, iso):
    from datetime import date

    assert one(text, "date").value == date.fromisoformat(iso).toordinal()


def test_ranges_and_limits():
    r = one("Standard delivery takes 3–5 business days.", "duration")
    assert (r.value, r.high, r.bound) == (3, 5, "range")
    p = one("Agents may offer up to 15% off list price.", "percent")
    assert (p.value, p.bound) == (pytest.approx(0.15), "at_most")
    n = one("A change needs at least 3 approvers.", "count")
    assert (n.value, n.bound, n.unit) == (3, "at_least", "approver")
    m = one("Send no more than 2 reminders per week.", "count")
    assert (m.value, m.bound) == (2, "at_most")


@pytest.mark.parametrize("text, polarity", [
    ("Agents must not share customer data with third parties.", -1),
    ("Agents may share order status with customers.", 1),
    ("Sharing passwords is prohibited.", -1),
    ("Managers must approve refunds above the limit.", 1),
    ("Agents never issue refunds without a ticket.", -1),
])
def test_polarity_and_modality(text, polarity):
    assert one(text, "modality").value == polarity


def test_subject_is_the_nearby_noun_phrase():
    c = one("The refund window for monthly plans is 30 days.", "duration")
    assert c.subject == "refund window for monthly plans"
    assert {"refund", "window"} <= c.words and {"monthly", "plan"} <= c.scope


def test_sentence_split_keeps_abbreviations():
    assert len(sentences("Submit by 5 p.m. CET on Fridays. Late forms wait a week.")) == 2


def test_disagreement_needs_same_subject_and_unit():
    a = extract("The refund window is 30 days.")
    assert disagreements(a, extract("The refund window is 14 days."))
    assert not disagreements(a, extract("The delivery time is 14 days."))
    assert not disagreements(extract("The quota is 10 GB."), extract("The quota is 10 users."))


def test_hard_wrapped_lines_stay_one_sentence_with_their_subject():
    text = "Refunds for monthly plans (Plus Monthly, and Business billed monthly) are\navailable within 30 days."
    assert len(sentences(text)) == 1
    assert one(text, "duration").subject == "Refunds for monthly plans"


def test_a_value_both_passages_state_is_agreement_not_a_changed_fact():
    ladder = extract("Refunds over €500 go to the team lead. Refunds over €5,000 go to the Head of Finance.")
    assert not disagreements(extract("Refunds over €5,000 are never issued by agents."), ladder)
    assert not disagreements(ladder, extract("Refunds over €5,000 are never issued by agents."))


def test_headings_with_different_qualifiers_are_different_topics():
    from freshgate.conflicts.claims import heading_words, same_topic

    plus, business = heading_words("## Northwind Plus prices\n\nx"), heading_words("## Northwind Business prices\n\nx")
    assert not same_topic(plus, business)
    assert same_topic(heading_words("## What is the refund window for monthly plans?\n"),
                      heading_words("", "refund-window-for-monthly-plans"))
    assert same_topic(heading_words("## Discount limits for agents"), heading_words("## Discount limits for support agents"))
