"""Benchmark: the freshness sweep (read rule fields + rules + count per state) over N documents.

Target (PRODUCT.md): 1,000,000 items in <= 10 s, on SQLite and on PostgreSQL (`count_states`,
the state-only sweep). Also timed: `sweep_states`, which builds every document's reasons too
(what the transitions job reads). CPU seconds are reported beside wall seconds and the load
average, because on a loaded machine wall time mostly measures the queue for a core.
Rows are bulk-inserted (executemany on SQLite, COPY on PostgreSQL), not through the service.

    .venv/bin/python bench/freshness_sweep.py --n 1000000 --db both
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlmodel import Session

from freshgate import db
from freshgate.freshness.service import count_states, sweep_states
from freshgate.registry.service import RegistryService
from freshgate.registry.views import RulesConfig

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
PG_ADMIN = os.environ.get("FRESHGATE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
RESULTS = Path(__file__).parent / "results"
COLS = ("id", "kind", "title", "owner_id", "criticality", "review_every_days", "last_verified", "verified_by",
        "expires", "tags", "status", "successor", "lane", "tools", "version", "content_hash", "changed_at",
        "fetch_failures", "created_at", "updated_at", "revision")


def generate(n: int, sop_share: float, seed: int = 7):
    """Owners, documents, dependencies and second versions with a realistic mix of states."""
    rnd = random.Random(seed)
    owners = [(f"owner-{i}", f"Owner {i}", f"o{i}@example.com", i % 50 != 0, NOW) for i in range(200)]
    n_sop = int(n * sop_share)
    n_src = n - n_sop
    docs, deps, versions = [], [], []
    for i in range(n):
        sop = i >= n_src
        doc_id = f"sop-{i}" if sop else f"src-{i}"
        every = rnd.choice((30, 90, 90, 180, 365))
        lv = NOW - timedelta(days=rnd.uniform(0, every * 1.3)) if rnd.random() > 0.02 else None
        expires = (NOW + timedelta(days=rnd.randint(-30, 400))).date() if rnd.random() < 0.05 else None
        changed = NOW - timedelta(days=rnd.uniform(0, 20)) if rnd.random() < 0.03 else None
        retired = rnd.random() < 0.01
        owner = None if rnd.random() < 0.005 else owners[rnd.randrange(len(owners))][0]
        version = 2 if (not sop and rnd.random() < 0.01) else 1
        docs.append((doc_id, "sop" if sop else "source", f"Document {i}", owner, "medium", every, lv,
                     "someone" if lv else None, expires, "[]", "retired" if retired else "active",
                     None, "approval" if sop else None, "[]", version, "0" * 64, changed,
                     3 if rnd.random() < 0.002 else 0, NOW, NOW, 1))
        if version == 2:
            versions.append((doc_id, 2, "text", "0" * 64, "{}", "api", "bench", NOW - timedelta(days=rnd.uniform(0, 30))))
        if sop:
            for s in {f"src-{rnd.randrange(n_src)}" for _ in range(rnd.randint(1, 3))}:
                deps.append((doc_id, s))
    return owners, docs, deps, versions


def _sqlite_value(v):
    if isinstance(v, datetime):
        return v.astimezone(timezone.utc).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return v.isoformat() if hasattr(v, "isoformat") else v


def load_sqlite(engine, data) -> None:
    owners, docs, deps, versions = data
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        conv = lambda rows: ([_sqlite_value(v) for v in r] for r in rows)  # noqa: E731
        cur.executemany("INSERT INTO owner (id, name, contact, active, created_at) VALUES (?,?,?,?,?)", conv(owners))
        cur.executemany(f"INSERT INTO document ({', '.join(COLS)}) VALUES ({', '.join('?' * len(COLS))})", conv(docs))
        cur.executemany("INSERT INTO dependency (sop_id, source_id) VALUES (?,?)", deps)
        cur.executemany("INSERT INTO document_version (document_id, version, content, content_hash, front_matter, "
                        "origin, created_by, created_at) VALUES (?,?,?,?,?,?,?,?)", conv(versions))
        raw.commit()
    finally:
        raw.close()


def load_postgres(engine, data) -> None:
    owners, docs, deps, versions = data
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for table, cols, rows in (
            ("owner", ("id", "name", "contact", "active", "created_at"), owners),
            ("document", COLS, docs),
            ("dependency", ("sop_id", "source_id"), deps),
            ("document_version", ("document_id", "version", "content", "content_hash", "front_matter", "origin",
                                  "created_by", "created_at"), versions),
        ):
            with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def run_one(kind: str, n: int, data, orm_compare: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="fg-sweep-"))
    pg_name = f"freshgate_bench_{os.getpid()}"
    if kind == "sqlite":
        url = f"sqlite:///{tmp / 'sweep.db'}"
    else:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{pg_name}"')
            c.execute(f'CREATE DATABASE "{pg_name}"')
        url = "postgresql+psycopg://" + PG_ADMIN.split("://", 1)[1].rsplit("/", 1)[0] + "/" + pg_name
    engine = db.make_engine(url)
    try:
        db.migrate(engine)
        t0 = time.perf_counter()
        (load_sqlite if kind == "sqlite" else load_postgres)(engine, data)
        load_s = time.perf_counter() - t0
        cfg = RulesConfig()
        runs = []
        for _ in range(2):  # first run reads cold-ish pages; report both
            with Session(engine) as s:
                t0, c0 = time.perf_counter(), time.process_time()
                counts = count_states(s, NOW, cfg)
                runs.append((time.perf_counter() - t0, time.process_time() - c0))
        best = min(runs)
        with Session(engine) as s:
            t0, c0 = time.perf_counter(), time.process_time()
            swept = sum(1 for _ in sweep_states(s, NOW, cfg))
            full = (time.perf_counter() - t0, time.process_time() - c0)
        assert swept == n, swept
        out = {"db": kind, "n": n, "load_s": round(load_s, 2), "sweep_s": round(best[0], 2),
               "sweep_cpu_s": round(best[1], 2), "sweep_first_s": round(runs[0][0], 2),
               "reasons_s": round(full[0], 2), "reasons_cpu_s": round(full[1], 2),
               "docs_per_s": int(n / best[0]), "load_avg_1m": round(os.getloadavg()[0], 1), "counts": counts}
        if orm_compare and n <= orm_compare:
            with Session(engine) as s:
                svc = RegistryService(s)
                t0 = time.perf_counter()
                fr = svc.freshness(svc.all_documents(), NOW)
                out["orm_path_s"] = round(time.perf_counter() - t0, 2)
                assert sum(1 for f in fr.values() if f.state == "fresh") == counts["fresh"]
        return out
    finally:
        engine.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
        if kind == "postgres":
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="documents")
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--sop-share", type=float, default=0.1, help="share of SOP cards (each cites 1-3 sources)")
    ap.add_argument("--orm-compare", type=int, default=200_000,
                    help="also time the ORM path (freshness_map) when n is at most this")
    a = ap.parse_args()
    t0 = time.perf_counter()
    data = generate(a.n, a.sop_share)
    print(f"generated {a.n:,} documents, {len(data[2]):,} dependencies in {time.perf_counter() - t0:.1f} s")
    results = [run_one(k, a.n, data, a.orm_compare) for k in (("sqlite", "postgres") if a.db == "both" else (a.db,))]
    print(f"\n{'db':<9}{'n':>11}{'load s':>9}{'sweep s':>9}{'CPU s':>8}{'1st run s':>11}{'docs/s':>11}"
          f"{'+reasons s':>12}{'CPU s':>8}{'ORM path s':>12}{'loadavg':>9}  target <= 10 s")
    for r in results:
        print(f"{r['db']:<9}{r['n']:>11,}{r['load_s']:>9}{r['sweep_s']:>9}{r['sweep_cpu_s']:>8}{r['sweep_first_s']:>11}"
              f"{r['docs_per_s']:>11,}{r['reasons_s']:>12}{r['reasons_cpu_s']:>8}{str(r.get('orm_path_s', '-')):>12}"
              f"{r['load_avg_1m']:>9}"
              f"  {'OK' if r['sweep_s'] <= 10 else 'MISSED'}")
    print("states:", {k: v for k, v in results[0]["counts"].items()})
    RESULTS.mkdir(exist_ok=True)
    meta = {"cpu_count": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine()}
    (RESULTS / "freshness_sweep.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print(f"wrote {RESULTS / 'freshness_sweep.json'}")


if __name__ == "__main__":
    main()
