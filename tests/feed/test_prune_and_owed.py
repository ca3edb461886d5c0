"""The change log is pruned without ever letting a follower miss a change (issue 10, one truth), and
owed work outlives the process that owed it (item 7), in one process on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from freshgate.app import build_runtime, run_sync
from freshgate.embeddings.embedder import HashingEmbedder
from freshgate.feed import owed, prune
from freshgate.feed.tailer import FeedFollower
from tests.conftest import make_settings, write_doc

FRONT = "id: {id}\ntitle: {title}\nowner: dana\nreview_every: 90d\nlast_verified: -5d\nverified_by: dana"
LATER = datetime.now(timezone.utc) + timedelta(days=30)  # "now" for pruning: every entry is past the retention


def doc(root, doc_id: str, body: str) -> None:
    write_doc(root, f"{doc_id}.md", FRONT.format(id=doc_id, title=doc_id.title()), f"# {doc_id}\n\n{body}")


def runtime_for(database_url, tmp_path, *, warm: bool = True):
    s = make_settings(database_url)
    s.feed.snapshot_dir = str(tmp_path / "snapshots")
    s.conflicts.judge = "rules"
    s.lookup.relevance_threshold = 0.2
    rt = build_runtime(s)
    lk = rt.extras["lookup"]
    lk.use_embedder(HashingEmbedder())
    if warm:
        lk.warm_up()
    return rt


def feed_ids(rt) -> list[int]:
    with rt.engine.connect() as c:
        return [r[0] for r in c.execute(text("SELECT id FROM change_log ORDER BY id"))]


def prune_now(rt, timeout: float = 600.0) -> dict:
    return prune.prune(rt.engine, retention_days=7, consumer_timeout=timeout, now=LATER)


def test_pruning_keeps_what_a_live_follower_still_needs_and_the_newest_entry(database_url, tmp_path):
    rt = runtime_for(database_url, tmp_path, warm=False)
    try:
        root = tmp_path / "kb"
        for i in range(6):
            doc(root, f"d{i}", f"## Part\n\nwords {i}\n")
        run_sync(rt, [root])
        ids = feed_ids(rt)
        assert len(ids) == 6
        prune.heartbeat(rt.engine, "replica-a", ids[2])  # a live follower that has applied three changes
        out = prune_now(rt, timeout=40 * 86400)  # it was seen "ten days ago" (LATER is thirty days ahead)
        assert out["pruned"] == 3 and feed_ids(rt) == ids[3:]
        prune.forget(rt.engine, "replica-a")
        out = prune_now(rt)  # nobody else follows: all but the newest go (ids keep growing from it)
        assert feed_ids(rt) == ids[-1:] and out["pruned_through"] == ids[-2]
        doc(root, "d9", "## Part\n\nwords nine\n")
        run_sync(rt, [root])
        assert feed_ids(rt)[-1] > ids[-1]
        # Nothing is pruned that is younger than the retention.
        assert prune.prune(rt.engine, retention_days=7, consumer_timeout=600)["pruned"] == 0
    finally:
        rt.close()


def test_a_replica_whose_snapshot_is_older_than_the_pruned_point_rebuilds(database_url, tmp_path):
    a = runtime_for(database_url, tmp_path)  # snapshot of the empty registry, watermark 0
    try:
        assert a.extras["lookup"].indexer.build_source == "rebuilt"
        root = tmp_path / "kb"
        doc(root, "harbour", "## Mooring\n\nmooring bollard hawser\n\n## Kraken\n\nkraken ritual chant\n")
        run_sync(a, [root])
        doc(root, "harbour", "## Mooring\n\nmooring bollard hawser\n")  # the kraken section is deleted
        doc(root, "zoo", "## Quokka\n\nquokka zebra enclosure\n")
        run_sync(a, [root])
        assert prune_now(a)["pruned"] > 0
    finally:
        a.close()
    b = runtime_for(database_url, tmp_path)  # same database and embedder: finds a's snapshot
    try:
        ix = b.extras["lookup"].indexer
        assert ix.build_source == "rebuilt", "a snapshot from before the pruned point must not be trusted"
        assert set(b.extras["lookup"].index.documents()) == {"harbour", "zoo"}
        hits = b.extras["lookup"].search(HashingEmbedder().encode(["kraken ritual chant"])[0], 5)
        assert all(h.anchor != "kraken" for h in hits)
    finally:
        b.close()


def test_a_follower_behind_the_pruned_point_rebuilds_instead_of_skipping(database_url, tmp_path):
    a = runtime_for(database_url, tmp_path)
    writer = build_runtime(make_settings(database_url), wire=False)  # another process: a knows only the feed
    try:
        indexer = a.extras["lookup"].indexer
        follower = FeedFollower(a.engine, lambda rows: indexer.apply_feed(a.engine, rows),
                                watermark=lambda: indexer.watermark, on_gap=lambda: indexer.resync(a.engine),
                                set_watermark=lambda wm: setattr(indexer, "watermark", wm))
        root = tmp_path / "kb"
        doc(root, "orchard", "## Pruning\n\npruning apple orchard shears\n")
        doc(root, "harbour", "## Mooring\n\nmooring bollard hawser\n")
        run_sync(writer, [root])
        assert prune_now(a)["pruned"] > 0  # `a` sent no heartbeat: it does not hold pruning back
        follower.poll()
        assert follower.gaps == 1 and set(a.extras["lookup"].index.documents()) == {"orchard", "harbour"}
        follower.poll()  # the rebuild stored the missing embeddings; their announcement follows as usual
        assert indexer.watermark == feed_ids(a)[-1]
        (root / "harbour.md").unlink()
        doc(root, "zoo", "## Quokka\n\nquokka zebra enclosure\n")
        run_sync(writer, [root])
        follower.poll()  # an ordinary poll again
        assert follower.gaps == 1 and "zoo" in a.extras["lookup"].index.documents()
    finally:
        writer.close()
        a.close()


def owed_rows(rt) -> list[tuple[str, str]]:
    with rt.engine.connect() as c:
        return sorted(c.execute(text("SELECT document_id, kind FROM owed_work")).all())


REFUNDS = "## Refund window\n\nRefunds for monthly plans are available within {} days of the charge date.\n"


def test_work_owed_by_a_sync_without_the_model_is_completed_by_the_next_sync(database_url, tmp_path):
    cold = runtime_for(database_url, tmp_path, warm=False)  # like `freshgate sync --no-embed`
    try:
        root = tmp_path / "kb"
        doc(root, "refunds", REFUNDS.format(30))
        doc(root, "faq", REFUNDS.format(14))
        report = run_sync(cold, [root])
        assert sorted(set(owed_rows(cold))) == [("faq", "embed"), ("faq", "search"),
                                                ("refunds", "embed"), ("refunds", "search")]
        assert any("owed: 2 document embedding(s)" in n for n in report.notes), report.notes
    finally:
        cold.close()
    warm = runtime_for(database_url, tmp_path)
    warm.settings.feed.owed_grace = 0  # the writer was this very process, still alive
    try:
        report = run_sync(warm, [root])
        assert report.unchanged and owed_rows(warm) == []
        assert any("completed 2 owed conflict check(s)" in n for n in report.notes), report.notes
        with warm.engine.connect() as c:
            pairs = c.execute(text("SELECT doc_a, doc_b FROM conflict WHERE status = 'open'")).all()
        assert sorted(pairs[0]) == ["faq", "refunds"] and len(pairs) == 1
    finally:
        warm.close()


def test_owed_work_of_a_live_writer_waits_for_the_grace_period(database_url, tmp_path):
    rt = runtime_for(database_url, tmp_path, warm=False)
    try:
        root = tmp_path / "kb"
        doc(root, "refunds", REFUNDS.format(30))
        run_sync(rt, [root])
        from sqlmodel import Session

        with Session(rt.engine) as session:
            rows = owed.read(session, [owed.EMBED, owed.CHECK, owed.SEARCH])
        assert rows and owed.orphaned(rows, grace_seconds=120) == []  # its writer (this process) is alive
        assert owed.orphaned(rows, grace_seconds=120, now=datetime.now(timezone.utc) + timedelta(minutes=5)) == rows
        dead = [owed.Owed(r.id, r.document_id, r.kind, "nohost-" + r.owner, r.created_at) for r in rows]
        assert owed.orphaned(dead, grace_seconds=120) == []  # another host: only the grace period tells
    finally:
        rt.close()
