"""The console's review list kept by increments equals a full rebuild after every kind of change (SQLite and
PostgreSQL), and falls back to a full build when it cannot follow the change log."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import insert
from sqlmodel import Session

from freshgate.app import run_sync
from freshgate.feed.models import FeedMark
from freshgate.registry.service import RegistryService
from freshgate.reports.incremental import LiveReview, full_build
from tests.conftest import write_doc

CARD = """id: label-card
title: Print a return label
owner: bob
criticality: medium
review_every: 90d
last_verified: -5d
verified_by: bob
kind: sop
lane: approval
sources: [shipping]"""


@pytest.fixture
def live_rt(kb_rt, tmp_path):
    """The console's small registry plus an SOP card citing `shipping`, the clock fixed at one instant."""
    at = datetime.now(timezone.utc).replace(microsecond=0)
    kb_rt.registry_ctx.clock = lambda: at
    write_doc(tmp_path / "docs", "label-card.md", CARD, "# Label\n\n## Steps\n\nPrint the label.\n")
    assert run_sync(kb_rt, [tmp_path / "docs"]).failed == []
    return kb_rt


def _live(rt, **kw) -> LiveReview:
    ctx = rt.registry_ctx
    return LiveReview(rt.engine, ctx.rules, rt.extras, lambda: ctx.clock(), rebuild_seconds=0, **kw)


def _view(report) -> dict:
    """What a person sees of a review list: the rows in order, the owner groups, counts and every state."""
    ev = report.evaluation
    ids = [r.id for r in ev.rows]
    return {"items": [i.to_dict() for i in report.items],
            "groups": [(g.owner, g.name, g.active, [i.document_id or i.title for i in g.items]) for g in report.groups],
            "counts": report.state_counts, "weeks": [c for _, c in report.weeks][-1:],
            "states": {i: ev.fresh[i].state for i in ids if ev.fresh[i].state != "fresh"}}


def _check(rt, live: LiveReview) -> object:
    """Read the live list (an update) and compare it with a full rebuild at the same instant."""
    with Session(rt.engine) as s:
        report = live.get(s)
    assert live.live.full is False, live.live.reason
    with Session(rt.engine) as s:
        expected = full_build(s, rt.registry_ctx.rules, rt.extras, rt.registry_ctx.clock()).report
    assert _view(report) == _view(expected)
    return report


def _registry(rt, fn) -> None:
    with Session(rt.engine, expire_on_commit=False) as s:
        fn(RegistryService(s, rt.registry_ctx))
        s.commit()


def _conflicts(rt, fn) -> None:
    with Session(rt.engine, expire_on_commit=False) as s:
        svc = rt.extras["conflicts"].service(s)
        [c] = [c for c in svc.list() if {c.doc_a, c.doc_b} == {"refunds", "faq"}]
        fn(svc, c.id)
        s.commit()


def _row(report, doc_id):
    return next((i for i in report.items if i.document_id == doc_id), None)


def test_every_kind_of_change_updates_only_what_moved_and_equals_a_full_rebuild(live_rt):
    rt, live = live_rt, _live(live_rt)
    with Session(rt.engine) as s:
        first = live.get(s)
    assert live.live.full and _row(first, "returns").state == "stale" and _row(first, "refunds").open_conflicts == 1

    _registry(rt, lambda r: r.verify("returns", actor="alice"))  # verify: stale -> fresh, leaves the list
    assert _row(_check(rt, live), "returns") is None and live.live.moved == 1

    _conflicts(rt, lambda c, cid: c.dismiss(cid, actor="ops", reason="not the same policy"))  # both sides move
    rep = _check(rt, live)
    assert _row(rep, "refunds") is None and _row(rep, "faq") is None
    _conflicts(rt, lambda c, cid: c.reopen(cid, actor="ops", reason="it is the same policy"))  # conflict opens again
    assert _row(_check(rt, live), "faq").open_conflicts == 1

    _registry(rt, lambda r: r.update_content("shipping", "# Shipping\n\n## Carriers\n\nWe ship with two carriers.\n",
                                             actor="carol"))  # edit: the card citing it becomes suspect
    rep = _check(rt, live)
    assert _row(rep, "label-card").state == "suspect"

    _registry(rt, lambda r: r.set_owner_active("bob", False, actor="ops"))  # owner deactivated: orphaned
    rep = _check(rt, live)
    assert _row(rep, "faq").state == "orphaned" and _row(rep, "label-card").state == "orphaned"

    _registry(rt, lambda r: r.retire("returns", actor="alice"))  # retire: no row, counted retired
    rep = _check(rt, live)
    assert rep.state_counts["retired"] == 1

    _registry(rt, lambda r: r.set_owner_active("bob", True, actor="ops"))
    _registry(rt, lambda r: r.verify("shipping", actor="carol"))  # and the source verified
    rep = _check(rt, live)
    assert _row(rep, "shipping") is None and live.live.moved == 3  # bob's faq and card, shipping


def test_falls_back_to_a_full_build_when_too_much_moved_or_the_log_was_pruned(live_rt):
    rt = live_rt
    live = _live(rt, max_moved=0)
    with Session(rt.engine) as s:
        live.get(s)
    _registry(rt, lambda r: r.verify("returns", actor="alice"))
    with Session(rt.engine) as s:
        assert _row(live.get(s), "returns") is None
    assert live.live.full and "more than 0" in live.live.reason

    live = _live(rt)
    with Session(rt.engine) as s:
        live.get(s)
    with Session(rt.engine) as s:
        s.execute(insert(FeedMark.__table__).values(name="pruned_through", value=live.live.watermark + 1))
        s.commit()
    _registry(rt, lambda r: r.retire("returns", actor="alice"))
    with Session(rt.engine) as s:
        assert live.get(s).state_counts["retired"] == 1
    assert live.live.full and "pruned" in live.live.reason


def test_the_queue_page_shows_a_change_on_the_next_load(web, kb_rt):
    assert 'action="/documents/returns/verify"' in web.get("/review", headers={"accept": "text/html"}).text
    _registry(kb_rt, lambda r: r.verify("returns", actor="alice"))
    page = web.get("/review", headers={"accept": "text/html"}).text
    assert 'action="/documents/returns/verify"' not in page
    assert web.app.state.console_review.live.full is False


def _owner_facet(web) -> dict[str, int]:
    import re

    page = web.get("/documents", headers={"accept": "text/html"}).text
    block = page.split("<strong>Owner</strong>", 1)[1].split("</ul>", 1)[0]
    return {o: int(n) for o, n in re.findall(r'owner=([\w-]+)[^>]*>[^<]*</a> (\d+)', block)}


def test_the_document_facets_follow_a_transfer(web, kb_rt):
    before = _owner_facet(web)
    _registry(kb_rt, lambda r: r.verify("returns", actor="alice"))  # no facet moves: kept
    assert _owner_facet(web) == before
    _registry(kb_rt, lambda r: r.transfer("returns", "bob", actor="ops"))
    after = _owner_facet(web)
    assert after["bob"] == before["bob"] + 1 and after["alice"] == before["alice"] - 1


def test_the_kept_facets_and_ids_equal_a_recount_after_transfers_edits_and_registrations(live_rt, tmp_path):
    from freshgate.web.catalog import Filters, LiveCatalog, facets, matching_ids

    rt, cat = live_rt, LiveCatalog()

    def same() -> None:
        with Session(rt.engine) as s:
            fac, ids = cat.get(s)
            assert {k: dict(v) for k, v in fac.items()} == {k: dict(v) for k, v in facets(s, Filters()).items()}
            assert ids == matching_ids(s, Filters())

    same()
    _registry(rt, lambda r: r.transfer("returns", "bob", actor="ops"))
    same()
    write_doc(tmp_path / "docs", "aaa-new.md", CARD.replace("label-card", "aaa-new").replace("[shipping]", "[faq]")
              + "\ntags: [labels, returns]")
    assert run_sync(rt, [tmp_path / "docs"]).failed == []
    same()
    assert cat.ids[0] == "aaa-new"


def test_a_registration_is_counted_by_the_update(live_rt, tmp_path):
    """The update carries the document total over unless a registration is among the changes: a new document
    shows in the state counts (as a full rebuild counts it), and a verification after it keeps the total."""
    rt, live = live_rt, _live(live_rt)
    with Session(rt.engine) as s:
        before = sum(live.get(s).state_counts.values())
    write_doc(tmp_path / "docs", "zzz-new.md", CARD.replace("label-card", "zzz-new").replace("[shipping]", "[faq]"))
    assert run_sync(rt, [tmp_path / "docs"]).failed == []
    assert sum(_check(rt, live).state_counts.values()) == before + 1
    _registry(rt, lambda r: r.verify("returns", actor="alice"))
    assert sum(_check(rt, live).state_counts.values()) == before + 1


def _snapshot(report) -> dict:
    """Everything a request reading `report` can see, its indexes by document id included."""
    from freshgate.reports import incremental

    ev = report.evaluation
    return {**_view(report), "fresh": {i: (fr.state, [x.code for x in fr.reasons]) for i, fr in ev.fresh.items()},
            "facts": dict(ev.facts.items()), "rows": [r.id for r in ev.rows],
            "by_doc": {d: i.to_dict() for d, i in incremental._doc_items(report).items()},
            "group_items": [[i.to_dict() for i in g.items] for g in report.groups]}


@pytest.mark.parametrize("compact_min", [0, 10**9])  # the overlays folded at every update / never folded
def test_a_reader_holding_the_old_list_sees_it_unchanged_while_changes_are_applied(live_rt, monkeypatch, compact_min):
    from freshgate.reports import overlay

    monkeypatch.setattr(overlay, "COMPACT_MIN", compact_min)
    rt, live = live_rt, _live(live_rt)
    with Session(rt.engine) as s:
        held = [live.get(s)]  # a request still rendering each version of the list
    seen = [_snapshot(held[0])]
    changes = [lambda: _registry(rt, lambda r: r.verify("returns", actor="alice")),
               lambda: _conflicts(rt, lambda c, cid: c.dismiss(cid, actor="ops", reason="not the same policy")),
               lambda: _registry(rt, lambda r: r.set_owner_active("bob", False, actor="ops")),
               lambda: _registry(rt, lambda r: r.transfer("label-card", "alice", actor="ops")),
               lambda: _conflicts(rt, lambda c, cid: c.reopen(cid, actor="ops", reason="it is the same policy")),
               lambda: _registry(rt, lambda r: r.set_owner_active("bob", True, actor="ops"))]
    for change in changes:
        change()
        held.append(_check(rt, live))  # the update equals a full rebuild...
        seen.append(_snapshot(held[-1]))
        for report, snap in zip(held, seen):  # ...and every list handed out earlier is as it was
            assert _snapshot(report) == snap
    assert seen[0]["by_doc"].keys() != seen[1]["by_doc"].keys()  # the versions did differ
    assert _row(held[0], "returns") is not None and _row(held[-1], "returns") is None


def test_the_review_list_is_built_in_the_background_at_start_up(kb_rt):
    """With start-up warm-ups and the background rebuilds on, start-up builds the list before any page asks; the
    first page gets that build (no second one). With either off, nothing is built until a page asks."""
    from fastapi.testclient import TestClient

    from freshgate.app import create_app
    from tests.conftest import make_key
    from tests.web.conftest import sign_in

    kb_rt.settings.console.rebuild_seconds = 3600
    kb_rt.settings.lookup.warm_up = True  # (the tests' settings turn start-up warm-ups off)
    with TestClient(create_app(runtime=kb_rt)) as c:
        c.app.state.console_warm_up.join()
        built = c.app.state.console_review.live
        assert built is not None and built.full and built.reason == "first load"
        assert c.app.state.console_catalog.mark is not None
        sign_in(c, make_key(kb_rt.engine, "operator", label="ops-warm"))
        assert 'action="/documents/returns/verify"' in c.get("/review", headers={"accept": "text/html"}).text
        assert c.app.state.console_review.live is built
    for warm, every in ((True, 0), (False, 3600)):
        kb_rt.settings.lookup.warm_up, kb_rt.settings.console.rebuild_seconds = warm, every
        with TestClient(create_app(runtime=kb_rt)) as c:
            assert c.app.state.console_warm_up is None and getattr(c.app.state, "console_review", None) is None
