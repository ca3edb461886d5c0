"""Start-up to a ready lookup index: from the snapshot (plus feed catch-up) vs a rebuild from the database.

A SQLite registry of N sections with stored 384-dimension embeddings (random unit vectors,
inserted directly: this measures loading, not embedding) and section texts of 40-120 words drawn
from a 20,000-word Zipf vocabulary with some identifiers (so the BM25 index has realistic postings). Each round times, in a fresh
runtime, a rebuild (snapshot off) and a start from the snapshot, interleaved; 100 changes
committed after the snapshot are replayed from the feed on every snapshot start. Also: the
snapshot's size and whether both paths give the same top-10 for 50 queries.

    .venv/bin/python bench/index_startup.py [SECTIONS=100000] [ROUNDS=2]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import insert

from freshgate.config import Settings
from freshgate.registry.models import Document, Owner, Section
from freshgate.runtime import build_runtime

DIM = 384
PER_DOC = 5


class StoredOnly:
    """Embeds queries as random vectors; never used for sections (all are stored)."""

    dim, name = DIM, "bench-random"

    def encode(self, texts):
        rng = np.random.default_rng(abs(hash(tuple(texts))) % 2**32)
        v = rng.standard_normal((len(texts), DIM)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def settings(db: Path, snap: str) -> Settings:
    s = Settings(database_url=f"sqlite:///{db}")
    s.server.scheduler, s.feed.snapshot_dir = False, snap
    return s


def fill(db: Path, n: int) -> None:
    rt = build_runtime(settings(db, ""))
    now = datetime.now(timezone.utc)
    rng = np.random.default_rng(1)
    vocab = np.array([f"w{i}" for i in range(20000)] + [f"SKU-{i}" for i in range(500)])
    p = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    p /= p.sum()

    drawn = iter(rng.choice(len(vocab), size=(n, 120), p=p))  # one draw for all sections

    def text() -> str:
        return " ".join(vocab[next(drawn)[: int(rng.integers(40, 121))]])

    with rt.engine.begin() as conn:
        conn.execute(insert(Owner.__table__), [dict(id="bench", name="bench", contact="b@x", active=True, created_at=now)])
        docs = n // PER_DOC
        for start in range(0, docs, 2000):
            ids = range(start, min(docs, start + 2000))
            conn.execute(insert(Document.__table__), [dict(
                id=f"d{i}", kind="source", title=f"Doc {i}", owner_id="bench", criticality="medium",
                review_every_days=90, tags=[], tools=[], status="active", version=1, content_hash="x",
                fetch_failures=0, created_at=now, updated_at=now, revision=1) for i in ids])
            vecs = rng.standard_normal((len(ids) * PER_DOC, DIM)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            conn.execute(insert(Section.__table__), [dict(
                document_id=f"d{i}", version=1, anchor=f"s{j}", heading=f"S{j}", level=2, position=j, text=text(),
                text_hash=f"{i}-{j}", embedding=vecs[k * PER_DOC + j].tobytes()) for k, i in enumerate(ids)
                for j in range(PER_DOC)])
    rt.close()


def changes_after_snapshot(db: Path, snap: str, count: int = 100) -> None:
    """Commit `count` retirements and un-retirements through the registry (each a feed entry)."""
    from sqlmodel import Session

    from freshgate.registry.service import RegistryService

    rt = build_runtime(settings(db, snap))
    try:
        with Session(rt.engine) as s:
            svc = RegistryService(s, rt.registry_ctx)
            for i in range(count // 2):
                svc.retire(f"d{i}", actor="bench")
                svc.unretire(f"d{i}", actor="bench")
            s.commit()
    finally:
        rt.close()


def start(db: Path, snap: str, queries) -> tuple[float, str, list, int | None]:
    rt = build_runtime(settings(db, snap))
    try:
        lk = rt.extras["lookup"]
        lk.use_embedder(StoredOnly())
        t = time.perf_counter()
        lk.warm_up()
        dt = time.perf_counter() - t
        assert lk.index.ready, lk.index_error
        top = [[h.section_id for h in lk.search(q, 10)] for q in queries]
        return dt, lk.indexer.build_source, top, lk.indexer.snapshot_bytes
    finally:
        rt.close()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    with tempfile.TemporaryDirectory(prefix="fg-startup-") as tmp:
        db, snap = Path(tmp) / "bench.db", str(Path(tmp) / "snap")
        t = time.perf_counter()
        fill(db, n)
        print(f"filled {n} sections in {time.perf_counter() - t:.1f}s; load {os.getloadavg()}", flush=True)
        queries = StoredOnly().encode([f"q{i}" for i in range(50)])
        _dt, _src, _top, size = start(db, snap, queries)  # first start: builds and writes the snapshot
        changes_after_snapshot(db, snap)
        times: dict[str, list[float]] = {"rebuild": [], "snapshot": []}
        tops: dict[str, list] = {}
        for r in range(rounds):
            for variant, where in (("rebuild", ""), ("snapshot", snap)):
                dt, src, top, _ = start(db, where, queries)
                assert src == ("rebuilt" if variant == "rebuild" else "snapshot"), src
                times[variant].append(dt)
                tops[variant] = top
                print(f"round {r + 1} {variant}: {dt:.2f}s", flush=True)
        overlap = statistics.mean(len(set(a) & set(b)) / 10 for a, b in zip(tops["rebuild"], tops["snapshot"]))
    load = os.getloadavg()
    print(f"\n{'sections':>9} {'variant':>9} {'median s':>9} {'runs':>20}")
    for v, ts in times.items():
        print(f"{n:>9} {v:>9} {statistics.median(ts):>9.2f} {', '.join(f'{t:.2f}' for t in ts):>20}")
    print(f"snapshot size: {size / 1e6:.1f} MB; top-10 overlap snapshot vs rebuild: {overlap:.3f} "
          f"(HNSW above 20000 sections: two graphs, not one)")
    print(f"load average: {load}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "index_startup.json").write_text(json.dumps({
        "sections": n, "rounds": rounds, "seconds": times, "snapshot_bytes": size, "top10_overlap": overlap,
        "loadavg": load}, indent=2))


if __name__ == "__main__":
    main()
