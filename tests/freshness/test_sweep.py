"""The streaming sweep computes exactly what the per-document path (API, lookup) computes."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from freshgate.app import run_sync
from freshgate.freshness.service import count_states, sweep_states
from freshgate.registry.service import RegistryService
from tests.conftest import NOW


def test_sweep_matches_the_per_document_states(runtime, kb):
    runtime.registry_ctx.clock = lambda: NOW
    assert run_sync(runtime, [kb / "sources", kb / "sop_cards"]).failed == []
    with Session(runtime.engine) as s:
        svc = RegistryService(s, runtime.registry_ctx)
        svc.set_owner_active("team-billing", False, actor="t")
        # A cited source edited and re-verified: the cards verified before stay suspect.
        cited = svc.dependencies(next(d.id for d in svc.all_documents() if d.kind == "sop"))[0]
        svc.update_content(cited, "# New\n\nnew rule\n", actor="t", verify=True)
        # Another cited source edited and not verified yet: `changed`, its cards suspect.
        other = next(d for d in svc.all_documents() if d.kind == "sop" and svc.dependencies(d.id)[-1] != cited)
        svc.update_content(svc.dependencies(other.id)[-1], "# Edit\n\nunverified\n", actor="t")
        s.commit()
    later = NOW + timedelta(days=40)
    with Session(runtime.engine) as s:
        svc = RegistryService(s, runtime.registry_ctx)
        for now in (NOW, later):
            expected = svc.freshness(svc.all_documents(), now)
            swept = {x.document_id: x.freshness for x in sweep_states(s, now, runtime.registry_ctx.rules)}
            assert swept == expected
        counts = count_states(s, NOW, runtime.registry_ctx.rules)
        assert sum(counts.values()) == len(svc.all_documents())
        assert counts["suspect"] >= 1 and counts["orphaned"] >= 1


def test_sweep_matches_on_cut_off_boundaries(runtime):
    """Documents verified exactly at, just before and just after each cut-off; raw column reads
    (SQLite's ISO strings, PostgreSQL's timestamptz) must classify them as the ORM path does."""
    from datetime import date

    from freshgate.registry.models import Dependency, Document, Owner

    us, day = timedelta(microseconds=1), timedelta(days=1)
    with Session(runtime.engine) as s:
        s.add(Owner(id="alice", name="Alice", active=True, created_at=NOW))
        s.add(Owner(id="gone", name="Gone", active=False, created_at=NOW))
        s.flush()
        offsets = [-us, 0 * us, us]
        n = 0
        for every in (1, 30, 90):
            for base in (NOW - every * day, NOW + (14 - every) * day):
                for off in offsets:
                    for changed in (None, base + off - us, base + off + us):
                        n += 1
                        s.add(Document(id=f"src-{n}", kind="source", title="t", owner_id="alice", review_every_days=every,
                                       last_verified=base + off, changed_at=changed, content_hash="0" * 64,
                                       created_at=NOW, updated_at=NOW))
        for i, exp in enumerate((NOW.date(), (NOW + day).date(), (NOW + 14 * day).date(), (NOW + 15 * day).date(),
                                 date(2020, 1, 1))):
            s.add(Document(id=f"exp-{i}", kind="source", title="t", owner_id="alice", last_verified=NOW - day,
                           expires=exp, content_hash="0" * 64, created_at=NOW, updated_at=NOW))
        s.add(Document(id="orphan", kind="source", title="t", owner_id="gone", last_verified=NOW, content_hash="0" * 64,
                       created_at=NOW, updated_at=NOW, fetch_failures=5))
        s.add(Document(id="never", kind="source", title="t", owner_id=None, content_hash="0" * 64,
                       created_at=NOW, updated_at=NOW))
        s.add(Document(id="old", kind="source", title="t", owner_id="alice", status="retired", successor="exp-4",
                       content_hash="0" * 64, created_at=NOW, updated_at=NOW))
        s.flush()
        for i, (lv, cites) in enumerate([(NOW - day, ["src-1"]), (NOW - day, ["exp-3", "missing"]),
                                         (NOW - 200 * day, ["exp-3"]), (NOW - day, ["exp-3", "exp-2"]),
                                         (NOW - day, ["exp-3"])]):
            s.add(Document(id=f"sop-{i}", kind="sop", title="t", owner_id="alice", last_verified=lv, lane="automatic",
                           content_hash="0" * 64, created_at=NOW, updated_at=NOW))
            s.flush()
            for c in cites:
                s.add(Dependency(sop_id=f"sop-{i}", source_id=c))
        s.commit()
    with Session(runtime.engine) as s:
        svc = RegistryService(s, runtime.registry_ctx)
        docs = svc.all_documents()
        for now in (NOW, NOW + us, NOW - us, NOW + day):
            expected = svc.freshness(docs, now)
            swept = {x.document_id: x.freshness for x in sweep_states(s, now, runtime.registry_ctx.rules)}
            assert swept == expected
            counts = count_states(s, now, runtime.registry_ctx.rules)
            assert counts == {st: sum(1 for f in expected.values() if f.state == st) for st in counts}
        states = {f.state for f in svc.freshness(docs, NOW).values()}
        assert states >= {"stale", "due", "fresh", "changed", "expired", "orphaned", "suspect", "retired"}
