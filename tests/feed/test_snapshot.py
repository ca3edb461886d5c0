"""Fast, exact restarts (issue 10, item 2): the index snapshot plus the feed gives exactly what a
rebuild gives; a truncated, corrupt or foreign snapshot is refused and rebuilt."""

from __future__ import annotations

import random

import pytest

from freshgate.app import build_runtime, run_sync
from tests.conftest import make_settings, write_doc

WORDS = [f"w{i}" for i in range(400)]


class RandomEmbedder:
    """A deterministic embedder with continuous scores (no ties, so result order is exact)."""

    dim = 384
    name = "random-test-embedder"

    def encode(self, texts):
        import hashlib

        import numpy as np

        out = np.stack([np.random.default_rng(int(hashlib.md5(t.encode()).hexdigest()[:12], 16))
                        .standard_normal(self.dim) for t in texts]) if texts else np.zeros((0, self.dim))
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def corpus(root, rnd, n=60, tag=""):
    for i in range(n):
        body = f"# Doc {i}\n\n" + "".join(
            f"## Part {j}\n\n{' '.join(rnd.sample(WORDS, 8))} {tag}\n\n" for j in range(3))
        write_doc(root, f"d{i}.md", f"id: d{i}\ntitle: Doc {i}\nowner: dana\nlast_verified: -5d\nverified_by: dana",
                  body)


def runtime_for(database_url, snap_dir):
    s = make_settings(database_url)
    s.feed.snapshot_dir = str(snap_dir)
    rt = build_runtime(s)
    rt.extras["lookup"].use_embedder(RandomEmbedder())
    rt.extras["lookup"].activate()
    return rt


def answers(rt, queries):
    """Vector top 10 for each query vector, and BM25 top 10 for text queries (the lexical index is in the
    snapshot too)."""
    lk = rt.extras["lookup"]
    lk.wait_ready()
    vector = [[(h.section_id, h.document_id, h.anchor, round(h.score, 6)) for h in lk.search(q, 10)] for q in queries]
    rnd = random.Random(11)
    texts = [" ".join(rnd.sample(WORDS, 3)) for _ in range(40)] + ["edited w1", "Fresh", "Part 2"]
    lexical = []
    for t in texts:  # every matching section's score (equal scores may be listed in either order)
        sec, norm, ids = lk.lexical.scores(t)
        lexical.append(sorted((int(s), lk.lexical.locate(int(s)), round(float(n), 6), round(float(i), 6))
                              for s, n, i in zip(sec, norm, ids)))
    assert sum(map(len, lexical)) > 100
    return vector, lexical


@pytest.fixture
def queries():
    rnd = random.Random(7)
    return [RandomEmbedder().encode([" ".join(rnd.sample(WORDS, 5))])[0] for _ in range(100)]


def test_restart_from_snapshot_equals_a_rebuild_and_bad_snapshots_are_rebuilt(database_url, tmp_path, queries):
    rnd = random.Random(1)
    root, snap = tmp_path / "kb" / "sources", tmp_path / "snap"
    corpus(root, rnd)
    first = runtime_for(database_url, snap)
    try:
        assert run_sync(first, [root]).failed == []
        first.extras["lookup"].warm_up()  # builds, then writes the snapshot
        ix = first.extras["lookup"].indexer
        assert ix.build_source == "rebuilt" and ix.snapshot_path.exists() and ix.snapshot_bytes > 0
        # Changes after the snapshot: edits, new documents, a retirement. A restart replays them from the feed.
        corpus(root, random.Random(2), n=20, tag="edited")
        write_doc(root, "new.md", "id: new\ntitle: New\nowner: dana\nlast_verified: -1d\nverified_by: dana",
                  "# New\n\n## Fresh\n\nw1 w2 w3 w4 w5\n")
        write_doc(root, "d30.md", "id: d30\ntitle: Doc 30\nowner: dana\nlast_verified: -5d\nverified_by: dana\n"
                  "status: retired", "# Doc 30\n\n## Only\n\nw9 w10\n")
        assert run_sync(first, [root]).failed == []
        live = answers(first, queries)
    finally:
        first.close()

    restarted = runtime_for(database_url, snap)
    rebuilt = runtime_for(database_url, tmp_path / "other-snap")
    try:
        from_snapshot = answers(restarted, queries)
        assert restarted.extras["lookup"].indexer.build_source == "snapshot"
        assert restarted.extras["lookup"].indexer.lexical_source == "snapshot"
        assert rebuilt.extras["lookup"].wait_ready() is None and rebuilt.extras["lookup"].indexer.build_source == "rebuilt"
        assert from_snapshot == answers(rebuilt, queries) == live
        health = restarted.extras["lookup"].health()
        assert health["index_source"] == "snapshot" and health["index_watermark"] > 0
        assert health["sections_indexed_lexical"] == len(restarted.extras["lookup"].lexical) > 0
    finally:
        restarted.close()
        rebuilt.close()

    path = next(snap.glob("*.fgidx"))
    data = path.read_bytes()
    for broken, why in ((data[: len(data) // 2], "truncated"),
                        (data[:-10] + bytes(b ^ 0xFF for b in data[-10:]), "checksum")):
        path.write_bytes(broken)
        rt = runtime_for(database_url, snap)
        try:
            assert answers(rt, queries) == live
            ix = rt.extras["lookup"].indexer
            assert ix.build_source == "rebuilt" and why in ix.snapshot_error
            assert path.read_bytes() != broken  # a good snapshot replaced it
        finally:
            rt.close()


def test_a_snapshot_of_another_database_is_refused(tmp_path, queries):
    rnd = random.Random(3)
    root, snap = tmp_path / "kb" / "sources", tmp_path / "snap"
    corpus(root, rnd, n=10)
    a = runtime_for(f"sqlite:///{tmp_path / 'a.db'}", snap)
    try:
        run_sync(a, [root])
        a.extras["lookup"].warm_up()
        made = a.extras["lookup"].indexer.snapshot_path
    finally:
        a.close()
    b = runtime_for(f"sqlite:///{tmp_path / 'b.db'}", snap)
    try:
        ix = b.extras["lookup"].indexer
        made.replace(ix.snapshot_path)  # a's snapshot under b's name
        b.extras["lookup"].warm_up()
        assert ix.build_source == "rebuilt" and "another database" in ix.snapshot_error
        assert len(b.extras["lookup"].index) == 0
    finally:
        b.close()


def test_a_vectors_only_snapshot_of_the_previous_format_loads_and_rebuilds_only_bm25(tmp_path, queries):
    from freshgate.embeddings import snapshot

    root, snap = tmp_path / "kb" / "sources", tmp_path / "snap"
    corpus(root, random.Random(4), n=20)
    url = f"sqlite:///{tmp_path / 'f.db'}"
    first = runtime_for(url, snap)
    try:
        run_sync(first, [root])
        first.extras["lookup"].warm_up()
        ix = first.extras["lookup"].indexer
        expected = answers(first, queries)
        # Rewrite the snapshot as format 1 wrote it: vectors only (the header is outside the checksum).
        state = {"vector": ix.index.export_state(), "lexical": None}
        at = None
        from freshgate.feed import service as feed

        with first.engine.connect() as conn:
            at = feed.created_at(conn, ix.watermark)
        snapshot.save(ix.index, ix.snapshot_path, watermark=ix.watermark, fingerprint=ix.fingerprint,
                      watermark_at=at.isoformat() if at else None, state=state)
        data = ix.snapshot_path.read_bytes()
        ix.snapshot_path.write_bytes(data.replace(b'"format": 2', b'"format": 1', 1))
        path = ix.snapshot_path
    finally:
        first.close()
    assert b'"format": 1' in path.read_bytes()
    again = runtime_for(url, snap)
    try:
        assert answers(again, queries) == expected
        ix = again.extras["lookup"].indexer
        assert (ix.build_source, ix.lexical_source) == ("snapshot", "rebuilt")
    finally:
        again.close()
