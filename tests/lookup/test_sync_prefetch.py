"""A sync embeds its new files ahead (lookup/prefetch.py): the commit stores the vectors encoded in the
background, identical to encoding at commit; a failed prefetch, a bad file or a dry run lose nothing."""

from __future__ import annotations

import threading

import numpy as np
from sqlmodel import Session, select

from freshgate.app import run_sync
from freshgate.embeddings.embedder import EmbedderUnavailable, HashingEmbedder, from_blob
from freshgate.lookup.indexing import document_texts
from freshgate.lookup.prefetch import Prefetcher
from freshgate.registry import sync as sync_module
from freshgate.registry.models import Section
from tests.conftest import write_doc


class CountingEmbedder(HashingEmbedder):
    """HashingEmbedder that records each encode call's texts and thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], str]] = []

    def encode(self, texts):
        self.calls.append((list(texts), threading.current_thread().name))
        return super().encode(texts)


def _tree(tmp_path, n: int, bad: tuple[int, ...] = ()):
    src = tmp_path / "kb" / "sources"
    for i in range(n):
        front = "owner: dana\nlast_verified: -1d" if i not in bad else "owner: dana\nlast_verified: not-a-date"
        write_doc(src, f"d{i:03d}.md", f"id: d{i:03d}\ntitle: Doc {i}\n{front}",
                  f"# Doc {i}\n\n## Rule\n\nrule number {i} applies\n\n## Shared\n\nthe same text everywhere\n")
    return src


def _stored(rt) -> dict[int, np.ndarray]:
    with Session(rt.engine) as s:
        return {sid: from_blob(b) for sid, b in s.exec(select(Section.id, Section.embedding)).all()}


def test_sync_commits_vectors_encoded_ahead_in_chunks(runtime, tmp_path, monkeypatch):
    monkeypatch.setattr(sync_module, "PREFETCH_BATCH", 4)
    emb = CountingEmbedder()
    lk = runtime.extras["lookup"]
    lk.use_embedder(emb)
    lk.activate()
    src = _tree(tmp_path, 10, bad=(5,))
    report = run_sync(runtime, [src])
    assert [p for p, _ in report.failed] == [str((src / "d005.md").resolve())]  # reported with its path
    assert len(report.added) == 9
    stored = _stored(runtime)
    assert stored and all(v is not None and v.shape == (emb.dim,) for v in stored.values())
    with Session(runtime.engine) as s:
        texts = document_texts(s)
    for sid, vec in stored.items():  # the vector of each section's own context text
        assert np.array_equal(vec, HashingEmbedder().encode([texts[sid]])[0])
    pf = lk.indexer.prefetcher
    assert pf.taken == len(set(texts.values())) == pf.encoded  # every text encoded once, ahead
    assert emb.calls and all(name.startswith("freshgate-prefetch") for _, name in emb.calls)
    assert len(emb.calls) == 3  # one encode per chunk of 4 files (cross-file batches)


def test_a_failed_prefetch_is_encoded_at_commit(runtime, tmp_path):
    emb = CountingEmbedder()
    lk = runtime.extras["lookup"]
    lk.use_embedder(emb)
    lk.activate()
    real = lk.indexer.prefetcher.encode

    def broken():
        def enc(texts):
            raise EmbedderUnavailable("model busy elsewhere")
        return enc

    lk.indexer.prefetcher.encode = broken
    src = _tree(tmp_path, 3)
    assert run_sync(runtime, [src]).failed == []
    assert lk.indexer.prefetcher.taken == 0
    assert all(v.shape == (emb.dim,) for v in _stored(runtime).values())  # encoded by the commit instead
    assert [name for _, name in emb.calls] == [threading.current_thread().name]
    lk.indexer.prefetcher.encode = real


def test_changed_and_unchanged_files_are_not_prefetched_and_dry_runs_prefetch_nothing(runtime, tmp_path):
    seen: list = []
    runtime.registry_ctx.prefetch.append(seen.append)
    src = _tree(tmp_path, 3)
    run_sync(runtime, [src], check=True)
    assert seen == []  # nothing commits in a dry run: nothing to compute ahead
    assert run_sync(runtime, [src]).failed == []
    assert sorted(p.meta.id for p in seen[0]) == ["d000", "d001", "d002"] and seen[-1] is None
    seen.clear()
    write_doc(src, "d001.md", "id: d001\ntitle: Doc 1\nowner: dana\nlast_verified: -1d", "# Doc 1\n\n## Rule\n\nnew\n")
    report = run_sync(runtime, [src])
    assert len(report.updated) == 1 and len(report.unchanged) == 2
    assert seen == [None]  # only files new to the registry are handed over


def test_prefetcher_hands_each_text_out_once_and_discards_the_rest():
    emb = CountingEmbedder()
    pf = Prefetcher(lambda: emb.encode)
    assert pf.submit(["a b", "c d", "a b"]) == 2
    assert pf.submit(["c d"]) == 0  # already under way
    got = pf.take(["a b", "x y"])
    assert list(got) == ["a b"] and np.array_equal(got["a b"], HashingEmbedder().encode(["a b"])[0])
    assert pf.take(["a b"]) == {}  # handed out once
    pf.discard()
    assert pf.take(["c d"]) == {}
    pf.close()
