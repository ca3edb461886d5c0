"""The review list: ranking by risk, grouping by owner, the action of every row."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session

from freshgate.errors import Invalid
from freshgate.registry.models import Document
from freshgate.reports.service import build_review, review
from freshgate.reports.signals import Signals
from tests.conftest import NOW
from tests.reports.helpers import doc, states_kb, sync_at


@pytest.fixture
def states(runtime, tmp_path):
    """The states knowledge base synced at NOW; status-page made unreachable by 3 failed fetches."""
    sync_at(runtime, states_kb(tmp_path / "kb"))
    with Session(runtime.engine) as s:
        # The bookkeeping the remote refresh leaves after three failed fetches.
        s.execute(update(Document).where(Document.id == "status-page").values(fetch_failures=3))
        s.commit()
    return runtime


def _review(rt, signals=None, **kw):
    with Session(rt.engine) as s:
        return build_review(s, rt.registry_ctx.rules, signals or Signals(), NOW, **kw)


def test_high_criticality_expired_doc_relied_on_outranks_low_due_doc(states):
    rep = _review(states, Signals(reliance={"refunds": (40, 6)}))
    order = [i.document_id for i in rep.items]
    assert order[0] == "refunds"
    assert order.index("refunds") < order.index("lunch-menu")
    top = rep.items[0]
    assert (top.state, top.lookups, top.stops, top.overdue_days) == ("expired", 40, 6, 3)
    low = next(i for i in rep.items if i.document_id == "lunch-menu")
    assert low.state == "due" and low.risk == 1.0  # low weight x reliance 1 x due base 1


def test_reliance_changes_the_order(states):
    """Without receipts, stale high-criticality pricing leads; lookups on the due menu can lift it above."""
    plain = [i.document_id for i in _review(states).items]
    assert plain.index("pricing") < plain.index("lunch-menu")
    relied = [i.document_id for i in _review(states, Signals(reliance={"lunch-menu": (500, 100)})).items]
    assert relied.index("lunch-menu") < relied.index("pricing")


def test_every_row_says_what_to_do(states):
    sig = Signals(conflicts={"fresh-one": 2},
                  unanswered=[{"topic": "do we ship to Norway?", "count": 7}])
    rows = {i.document_id or i.title: i for i in _review(states, sig).items}
    expect = {
        "refunds": ("expired", "update"), "lunch-menu": ("due", "verify"), "pricing": ("stale", "verify"),
        "ancient": ("stale", "retire"), "carriers": ("orphaned", "transfer"), "status-page": ("unreachable", "update"),
        "use-pricing": ("suspect", "verify"), "fresh-one": ("conflict", "resolve_conflict"),
        "do we ship to Norway?": ("unanswered", "write_source"),
    }
    assert {k: (r.state, r.action) for k, r in rows.items()} == expect
    assert rows["do we ship to Norway?"].owner is None and rows["do we ship to Norway?"].lookups == 7
    assert all(r.action_text for r in rows.values())


def test_changed_document_is_verify(runtime, tmp_path):
    root = tmp_path / "kb"
    doc(root, "policy", "ann")
    sync_at(runtime, root)
    doc(root, "policy", "ann")  # same front matter ...
    (root / "policy.md").write_text((root / "policy.md").read_text() + "\nA new paragraph.\n")
    sync_at(runtime, root, NOW + timedelta(days=1))
    rows = _review(runtime).items
    assert [(r.document_id, r.state, r.action) for r in rows] == [("policy", "changed", "verify")]


def test_rows_are_grouped_by_owner_and_filtered(states):
    rep = _review(states)
    groups = {g.owner: [i.document_id for i in g.items] for g in rep.groups}
    assert set(groups["ann"]) == {"refunds", "pricing", "use-pricing"}
    assert set(groups["bob"]) == {"lunch-menu", "ancient", "status-page"}
    assert groups["gone"] == ["carriers"]
    assert all(i.owner == "bob" for i in _review(states, owner="bob").items)
    assert [i.document_id for i in _review(states, state="stale").items] == ["pricing", "ancient"]
    with pytest.raises(Invalid):
        _review(states, state="sparkling")


def test_summary_counts_every_state(states):
    rep = _review(states)
    counts = rep.state_counts
    assert (counts["expired"], counts["stale"], counts["due"], counts["orphaned"], counts["fresh"]) == (1, 2, 1, 1, 1)
    assert rep.week_ago is None and len(rep.weeks) == 1  # nothing recorded yet: just the current counts


def test_review_degrades_when_no_other_domain_is_wired(states):
    """With no lookup/conflicts services in extras, reliance is 1 and no topic/conflict rows appear."""
    with Session(states.engine) as s:
        rep = review(s, states.registry_ctx.rules, {}, NOW)
    assert rep.items and all(i.lookups == 0 and i.state not in ("conflict", "unanswered") for i in rep.items)


def test_reliance_and_unanswered_topics_come_from_lookup_receipts(states):
    """Receipts that cited a document in the last 30 days raise its risk; an unanswered topic becomes a row."""
    receipts = pytest.importorskip("freshgate.lookup.receipts")
    if "lookup" not in states.extras:
        pytest.skip("lookup domain not wired")
    with Session(states.engine) as s:
        for n in range(30):
            decision = "stop_and_ask" if n < 5 else "caution"
            receipts.record_receipt(s, receipt_id=f"r{n:031d}", at=NOW - timedelta(days=n % 20), query="refund?",
                                    risk="low", scope=None, decision=decision, reasons=[],
                                    citations=[{"document_id": "lunch-menu", "version": 1}])
        receipts.record_receipt(s, receipt_id="old" + "0" * 29, at=NOW - timedelta(days=45), query="refund?",
                                risk="low", scope=None, decision="proceed", reasons=[],
                                citations=[{"document_id": "lunch-menu", "version": 1}])
        for _ in range(3):
            receipts.record_unanswered(s, "do we ship to Norway?", None, NOW, 0.8)
        s.commit()
        rep = review(s, states.registry_ctx.rules, states.extras, NOW)
    menu = next(i for i in rep.items if i.document_id == "lunch-menu")
    assert (menu.lookups, menu.stops) == (30, 5)  # the 45-day-old receipt is outside the window
    assert menu.risk == 35.0  # low 1 x (30 + 5) x due 1
    topics = [i for i in rep.items if i.state == "unanswered"]
    assert [(t.title, t.action) for t in topics] == [("do we ship to Norway?", "write_source")] * len(topics)
    assert topics
