"""Conflict lifecycle on both databases: detection on change, dismissal memory, resolution, audit."""

from __future__ import annotations

import pytest

from freshgate import db
from freshgate.app import run_sync
from freshgate.errors import Conflict, Invalid
from tests.conflicts.conftest import FAQ, REFUNDS, add_doc, conflicts, faq_body, hub, registry_call


def _verdict(rt, fn):
    with db.session_scope(rt.engine) as session:
        return fn(hub(rt).service(session))


def _audit(rt, doc_id, action):
    return [e for e in registry_call(rt, lambda s: s.audit(doc_id)) if e.action == action]


def test_contradicting_sections_are_detected_with_evidence_on_sync(crt, docs):
    [c] = conflicts(crt)
    assert c["status"] == "open"
    assert {c["a"]["cite"], c["b"]["cite"]} == {"refunds#refund-window-for-monthly-plans",
                                                 "faq#refund-window-for-monthly-plans"}
    values = {(e["a"], e["b"]) for e in c["evidence"]}
    assert values in ({("14 days", "30 days")}, {("30 days", "14 days")})
    assert "30 days" in c["explanation"] and "14 days" in c["explanation"]
    assert {c["a"]["owner"], c["b"]["owner"]} == {"alice", "bob"}
    assert "within 14 days" in (c["a"]["text"] + c["b"]["text"])
    assert _audit(crt, "refunds", "conflict_detected") and _audit(crt, "faq", "conflict_detected")


def test_unrelated_and_agreeing_documents_are_not_reported(crt, tmp_path):
    d = tmp_path / "ok"
    add_doc(d, "refunds", "alice", REFUNDS)
    add_doc(d, "faq", "bob", faq_body(30))
    assert run_sync(crt, [d]).failed == []
    assert conflicts(crt) == []


def test_retired_documents_never_take_part(crt, tmp_path):
    d = tmp_path / "old"
    add_doc(d, "refunds", "alice", REFUNDS)
    add_doc(d, "faq", "bob", FAQ, status="retired")
    assert run_sync(crt, [d]).failed == []
    assert conflicts(crt) == []
    assert hub(crt).scan()["detected"] == []


def test_dismissal_is_remembered_until_a_text_changes(crt, docs):
    [c] = conflicts(crt)
    _verdict(crt, lambda s: s.dismiss(c["id"], actor="ops", reason="FAQ is about a different plan"))
    out = hub(crt).scan()
    assert out["detected"] == [] and out["suppressed_by_dismissal"] == 1
    assert [x["status"] for x in conflicts(crt)] == ["dismissed"]
    registry_call(crt, lambda s: s.update_content("faq", faq_body(10), actor="bob"))
    fresh = conflicts(crt, status="open")
    assert len(fresh) == 1 and fresh[0]["id"] != c["id"]
    assert "10 days" in fresh[0]["explanation"]
    assert conflicts(crt, status="dismissed")[0]["id"] == c["id"]


def test_update_that_makes_the_values_agree_resolves_it(crt, docs):
    [c] = conflicts(crt)
    registry_call(crt, lambda s: s.update_content("faq", faq_body(30), actor="bob"))
    [r] = conflicts(crt)
    assert r["id"] == c["id"] and r["status"] == "resolved"
    assert "faq" in r["resolution"] and "no longer disagree" in r["resolution"]
    assert conflicts(crt, status="open") == []
    for doc_id in ("faq", "refunds"):
        assert _audit(crt, doc_id, "conflict_resolved")


def test_update_that_still_disagrees_keeps_the_conflict_on_the_new_text(crt, docs):
    [c] = conflicts(crt)
    registry_call(crt, lambda s: s.update_content("faq", faq_body(10), actor="bob"))
    [r] = conflicts(crt)
    assert r["id"] == c["id"] and r["status"] == "open"
    assert "10 days" in r["explanation"]
    side = r["a"] if r["a"]["document_id"] == "faq" else r["b"]
    assert "within 10 days" in side["text"] and side["version"] == 2


def test_retiring_a_side_resolves_it(crt, docs):
    [c] = conflicts(crt)
    registry_call(crt, lambda s: s.retire("faq", actor="bob", successor="refunds"))
    [r] = conflicts(crt)
    assert r["status"] == "resolved" and "faq was retired" in r["resolution"]
    registry_call(crt, lambda s: s.unretire("faq", actor="bob"))
    assert len(conflicts(crt, status="open")) == 1  # back in use: the disagreement is back


def test_confirm_and_dismiss_are_audited_on_both_documents(crt, docs):
    [c] = conflicts(crt)
    _verdict(crt, lambda s: s.confirm(c["id"], actor="ops", reason="real"))
    _verdict(crt, lambda s: s.dismiss(c["id"], actor="dana", reason="the FAQ was checked with Billing"))
    for doc_id in ("refunds", "faq"):
        [conf] = _audit(crt, doc_id, "conflict_confirmed")
        [dism] = _audit(crt, doc_id, "conflict_dismissed")
        assert conf.actor == "ops" and conf.after["status"] == "confirmed"
        assert dism.actor == "dana" and dism.detail == "the FAQ was checked with Billing"
        assert dism.before["status"] == "confirmed"
    [r] = conflicts(crt)
    assert r["verdict_by"] == "dana" and r["verdict_reason"] == "the FAQ was checked with Billing"


def test_verdict_rules(crt, docs):
    [c] = conflicts(crt)
    with pytest.raises(Invalid):
        _verdict(crt, lambda s: s.dismiss(c["id"], actor="ops", reason="  "))
    registry_call(crt, lambda s: s.retire("faq", actor="bob"))
    with pytest.raises(Conflict):
        _verdict(crt, lambda s: s.dismiss(c["id"], actor="ops", reason="late"))
    with pytest.raises(Conflict):
        _verdict(crt, lambda s: s.confirm(c["id"], actor="ops"))


def test_a_self_contradicting_document_is_reported(crt, tmp_path):
    d = tmp_path / "self"
    add_doc(d, "refunds", "alice", REFUNDS + "\n## Refund window for monthly plans (summary)\n\n"
            "Refunds for monthly plans are available within 14 days of the charge date.\n")
    assert run_sync(crt, [d]).failed == []
    [c] = conflicts(crt)
    assert c["a"]["document_id"] == c["b"]["document_id"] == "refunds"
    with db.session_scope(crt.engine) as session:
        assert hub(crt).open_counts(session) == {"refunds": 1}


def test_full_scan_finds_what_the_incremental_check_missed(crt, tmp_path):
    crt.settings.conflicts.check_on_change = False
    d = tmp_path / "late"
    add_doc(d, "refunds", "alice", REFUNDS)
    add_doc(d, "faq", "bob", FAQ)
    assert run_sync(crt, [d]).failed == []
    assert conflicts(crt) == []
    out = hub(crt).scan()
    assert len(out["detected"]) == 1 and out["candidates"] < out["sections"] ** 2
    assert hub(crt).scan()["detected"] == []  # already known: not reported twice
    assert len(conflicts(crt)) == 1
