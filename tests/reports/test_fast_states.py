"""The review list's bulk evaluation (SQL pre-filter + pure rules) agrees with the registry's own freshness."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlmodel import Session

from freshgate.app import run_sync
from freshgate.freshness.rules import PRECEDENCE
from freshgate.registry.service import RegistryService
from freshgate.reports.service import evaluate_all
from tests.conftest import NOW, write_doc
from tests.reports.helpers import states_kb, sync_at


@pytest.mark.parametrize("days", [0, 9, 16, 40, 100, 400])
def test_states_and_counts_match_the_registry(runtime, kb, tmp_path, days):
    sync_at(runtime, states_kb(tmp_path / "mine"))
    run_sync(runtime, [kb / "sources", kb / "sop_cards"])
    at = NOW + timedelta(days=days)
    with Session(runtime.engine) as s:
        svc = RegistryService(s, runtime.registry_ctx)
        docs = svc.all_documents()
        expected = {i: fr.state for i, fr in svc.freshness(docs, at).items() if i in {d.id for d in docs}}
        ev = evaluate_all(s, runtime.registry_ctx.rules, at)
    got = {i: fr.state for i, fr in ev.fresh.items()}
    assert {i: st for i, st in expected.items() if st != "fresh"} == {i: st for i, st in got.items() if st != "fresh"}
    counts = Counter(expected.values())
    assert ev.counts == {st: counts.get(st, 0) for st in PRECEDENCE}


def test_sop_cards_are_candidates_only_when_they_could_be_suspect(runtime, tmp_path):
    """Cards relying on an edited-then-reverified, missing or non-source item are suspect, as the
    registry says; a card relying only on fresh unedited sources is left out as fresh and counted."""
    root = tmp_path / "kb"
    sync_at(runtime, states_kb(root))
    for doc_id in ("edited", "plain"):
        write_doc(root, f"{doc_id}.md", f"id: {doc_id}\ntitle: {doc_id}\nowner: ann\ncriticality: low\n"
                  "review_every: 90d\nlast_verified: -10d\nverified_by: ann")
    cards = {"card-edited": "[edited, plain]", "card-missing": "[plain, nowhere]", "card-sop": "[use-pricing]",
             "card-plain": "[plain]"}
    for card, sources in cards.items():
        write_doc(root, f"{card}.md", f"id: {card}\ntitle: {card}\nowner: ann\ncriticality: low\nreview_every: 90d\n"
                  f"last_verified: -5d\nverified_by: ann\nlane: approval\nsources: {sources}\nkind: sop")
    sync_at(runtime, root)
    with Session(runtime.engine) as s:
        RegistryService(s, runtime.registry_ctx).update_content("edited", "# Edited\n\nnew\n", actor="t", verify=True)
        s.commit()
    for at in (NOW + timedelta(days=1), NOW + timedelta(days=50)):
        with Session(runtime.engine) as s:
            svc = RegistryService(s, runtime.registry_ctx)
            expected = svc.freshness(svc.all_documents(), at)
            ev = evaluate_all(s, runtime.registry_ctx.rules, at)
        assert {i: ev.fresh[i].codes for i in ("card-edited", "card-missing", "card-sop")} == \
            {i: expected[i].codes for i in ("card-edited", "card-missing", "card-sop")}
        assert {i: fr.state for i, fr in ev.fresh.items() if fr.state != "fresh"} == \
            {i: fr.state for i, fr in expected.items() if fr.state != "fresh"}
        assert ev.counts["fresh"] == sum(fr.state == "fresh" for fr in expected.values())
    with Session(runtime.engine) as s:
        first = evaluate_all(s, runtime.registry_ctx.rules, NOW + timedelta(days=1))
    assert first.fresh["card-edited"].codes == ["source_changed"] and "card-plain" not in first.fresh
