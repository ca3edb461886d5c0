"""Benchmark: sync of N generated Markdown files (registry only, no embeddings).

Reports files/second and peak memory for the first sync and for an idempotent re-sync.
Each database runs in its own process so that peak RSS belongs to that run alone; a large sync
parses in worker processes (`--workers`, default one per CPU), whose peak RSS is shown apart.

    .venv/bin/python bench/sync_files.py --n 10000 --db both
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import random
import resource
import shutil
import tempfile
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

PG_ADMIN = os.environ.get("FRESHGATE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
RESULTS = Path(__file__).parent / "results"
WORDS = ("refund customer invoice parcel carrier window policy approval manager warehouse credit within days "
         "must never always escalate verify account charge subscription plan priority region").split()


def generate(root: Path, n: int, seed: int = 11) -> list[Path]:
    """n files: 90% sources, 10% SOP cards citing 1-3 sources; 3-8 sections of ~60 words each."""
    rnd = random.Random(seed)
    src, sop = root / "sources", root / "sop_cards"
    src.mkdir(parents=True)
    sop.mkdir(parents=True)
    n_src = int(n * 0.9)
    for i in range(n):
        is_sop = i >= n_src
        front = [f"id: {'sop' if is_sop else 'src'}-{i}", f"title: Document {i}", f"owner: owner-{i % 150}",
                 f"review_every: {rnd.choice(('30d', '90d', '6m', '1y'))}",
                 f"last_verified: -{rnd.randint(0, 200)}d", "tags: [bench]"]
        if is_sop:
            cites = sorted({f"src-{rnd.randrange(n_src)}" for _ in range(rnd.randint(1, 3))})
            front += [f"lane: {rnd.choice(('automatic', 'approval', 'forbidden'))}", f"sources: [{', '.join(cites)}]"]
        body = [f"# Document {i}\n"]
        for k in range(rnd.randint(3, 8)):
            body.append(f"## Section {k} of {i}\n\n" + " ".join(rnd.choice(WORDS) for _ in range(60)) + "\n")
        ((sop if is_sop else src) / f"doc-{i}.md").write_text("---\n" + "\n".join(front) + "\n---\n" + "\n".join(body))
    return [src, sop]


def _one(kind: str, n: int, trace: bool, workers: int | None) -> dict:
    from freshgate import db
    from freshgate.registry.service import RegistryContext, RegistryService
    from freshgate.registry.sync import sync

    tmp = Path(tempfile.mkdtemp(prefix="fg-sync-"))
    pg_name = f"freshgate_syncbench_{os.getpid()}"
    try:
        dirs = generate(tmp / "kb", n)
        size_mb = sum(p.stat().st_size for d in dirs for p in d.iterdir()) / 1e6
        if kind == "sqlite":
            url = f"sqlite:///{tmp / 'sync.db'}"
        else:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as c:
                c.execute(f'CREATE DATABASE "{pg_name}"')
            url = "postgresql+psycopg://" + PG_ADMIN.split("://", 1)[1].rsplit("/", 1)[0] + "/" + pg_name
        engine = db.make_engine(url)
        db.migrate(engine)
        ctx = RegistryContext()  # no listeners: registry only, no embeddings
        out = {"db": kind, "files": n, "corpus_mb": round(size_mb, 1)}
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        for phase in ("first", "resync"):
            if trace:
                tracemalloc.start()
            kids = resource.getrusage(resource.RUSAGE_CHILDREN)
            k0 = kids.ru_utime + kids.ru_stime
            t0, c0 = time.perf_counter(), time.process_time()
            with db.session_scope(engine) as session:
                report = sync(RegistryService(session, ctx), dirs, actor="bench", workers=workers)
            secs, cpu = time.perf_counter() - t0, time.process_time() - c0
            kids = resource.getrusage(resource.RUSAGE_CHILDREN)
            workers_cpu = kids.ru_utime + kids.ru_stime - k0  # parse workers, joined when the sync ends
            peak = tracemalloc.get_traced_memory()[1] / 1e6 if trace else None
            if trace:
                tracemalloc.stop()
            assert not report.failed, report.failed[:3]
            done = len(report.added) if phase == "first" else len(report.unchanged)
            assert done == n, (phase, done)
            out[phase] = {"seconds": round(secs, 2), "files_per_s": int(n / secs), "main_cpu_s": round(cpu, 2),
                          "workers_cpu_s": round(workers_cpu, 2),
                          "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                          "worker_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
                          "load_avg_1m": round(os.getloadavg()[0], 1),
                          "python_heap_peak_mb": round(peak, 1) if peak is not None else None}
        out["rss_before_mb"] = round(rss0, 1)
        engine.dispose()
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if kind == "postgres":
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="files")
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--tracemalloc", action="store_true", help="also measure the Python heap peak (slower)")
    ap.add_argument("--workers", type=int, default=None, help="parse processes (default: sync's choice; 0: none)")
    a = ap.parse_args()
    kinds = ("sqlite", "postgres") if a.db == "both" else (a.db,)
    results = []
    for kind in kinds:
        # Not a multiprocessing.Pool: its daemonic worker could not start sync's parse workers.
        with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
            results.append(pool.submit(_one, kind, a.n, a.tracemalloc, a.workers).result())
    print(f"\n{'db':<9}{'files':>7}{'MB':>6}{'phase':>8}{'seconds':>9}{'files/s':>9}{'main CPU s':>11}"
          f"{'workers CPU s':>14}{'peak RSS MB':>13}{'workers MB':>11}{'heap MB':>9}{'loadavg':>9}")
    for r in results:
        for phase in ("first", "resync"):
            p = r[phase]
            print(f"{r['db']:<9}{r['files']:>7}{r['corpus_mb']:>6}{phase:>8}{p['seconds']:>9}{p['files_per_s']:>9}"
                  f"{p['main_cpu_s']:>11}{p['workers_cpu_s']:>14}{p['peak_rss_mb']:>13}{p['worker_peak_rss_mb']:>11}"
                  f"{str(p['python_heap_peak_mb'] or '-'):>9}{p['load_avg_1m']:>9}")
    RESULTS.mkdir(exist_ok=True)
    meta = {"cpu_count": os.cpu_count(), "python": platform.python_version(), "load_avg_1m": round(os.getloadavg()[0], 1),
            "workers": a.workers}
    (RESULTS / "sync_files.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print(f"wrote {RESULTS / 'sync_files.json'}")


if __name__ == "__main__":
    main()
