"""The facts an action check reads live (actions/facts.py): one statement for fetch failures, open
conflicts and owners, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session

from freshgate.actions.facts import read_live
from freshgate.conflicts.models import DISMISSED, ConflictRecord, pair_key
from freshgate.conflicts.service import ConflictService
from freshgate.registry.models import Document, Owner
from tests.actions.conftest import check, codes


def _conflict(session, svc, doc_a: str, doc_b: str, *, second: bool = False, status: str = "open") -> None:
    sa = svc.registry.sections(doc_a)[0]
    sb = svc.registry.sections(doc_b)[1 if second else 0]
    now = svc.now()
    session.add(ConflictRecord(pair_key=pair_key(sa.text_hash, sb.text_hash), doc_a=doc_a, version_a=sa.version,
                               anchor_a=sa.anchor, hash_a=sa.text_hash, text_a=sa.text, doc_b=doc_b,
                               version_b=sb.version, anchor_b=sb.anchor, hash_b=sb.text_hash, text_b=sb.text,
                               similarity=0.9, score=0.9, judge="test", detected_at=now, updated_at=now,
                               status=status))


def test_one_statement_reads_failures_open_conflicts_and_owners(example, runtime):
    with Session(runtime.engine) as s:
        svc = ConflictService(s, runtime.extras["conflicts"].ctx)
        _conflict(s, svc, "sla-business", "pricing")  # open, across two documents: counts for both
        _conflict(s, svc, "refund-policy", "refund-policy", second=True)  # within one document: counts once
        _conflict(s, svc, "shipping-policy", "returns-policy", status=DISMISSED)  # not open: not counted
        s.execute(update(Document).where(Document.id == "billing-faq").values(fetch_failures=4))
        s.execute(update(Owner).where(Owner.id == "team-billing").values(active=False, contact=""))
        s.commit()
    docs = ["sla-business", "pricing", "refund-policy", "shipping-policy", "returns-policy", "billing-faq", "nope"]
    with Session(runtime.engine) as s:
        live = read_live(s, docs, ["team-billing", "team-support", "nobody", None], with_conflicts=True)
        assert live.conflicts == {"sla-business": 1, "pricing": 1, "refund-policy": 1}
        assert live.fetch_failures == {"billing-faq": 4}
        assert live.owners == {"team-billing": (False, ""), "team-support": (True, live.contact("team-support"))}
        assert live.contact("team-support") and live.contact("team-billing") is None
        plain = read_live(s, docs, [], with_conflicts=False)  # no conflict detection wired: failures only
        assert plain.conflicts == {} and plain.fetch_failures == {"billing-faq": 4} and plain.owners == {}
        assert read_live(s, [], ["team-support"], with_conflicts=True).owners.keys() == {"team-support"}
        assert read_live(s, [], [], with_conflicts=True).owners == {}


def test_a_conflict_within_one_source_stops_the_action(example, runtime):
    before = check(example, "stripe.refund", {"amount": "200 EUR"})
    assert before["decision"] == "proceed" and "refund-policy" in {d["id"] for d in before["sources"]}
    with Session(runtime.engine) as s:
        _conflict(s, ConflictService(s, runtime.extras["conflicts"].ctx), "refund-policy", "refund-policy",
                  second=True)
        s.commit()
    a = check(example, "stripe.refund", {"amount": "200 EUR"})
    assert a["decision"] == "stop_and_ask" and codes(a)[0] == "conflict"
