"""Benchmark: the weekly review list at 100k documents with 1M decision receipts.

Generates rows straight into a migrated database (SQLite file and/or PostgreSQL), then times
`reports.service.review` end to end (freshness of every document, reliance from receipts over
the last 30 days from reliance_daily, the 8-week history from state_event), one API page (first
100 rows as JSON) and each renderer. Target: review ≤ 2 s.

    .venv/bin/python bench/review_list.py [--docs 100000] [--receipts 1000000] [--db sqlite|postgres|both]
Prints a table and writes bench/results/review_list.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlmodel import Session

from freshgate.app import build_runtime
from freshgate.config import EmbeddingSettings, Settings
from freshgate.reports import history, signals
from freshgate.reports.render import render
from freshgate.reports.service import build_review, evaluate_all, review

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
PG_ADMIN = os.environ.get("FRESHGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
RESULTS = Path(__file__).parent / "results"
STATES = ("fresh", "due", "stale", "expired", "changed", "orphaned", "suspect")


def _ts(dt: datetime, sqlite: bool):
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else dt


def generate(n_docs: int, n_receipts: int, overdue: float = 0.15, seed: int = 7) -> dict[str, list[tuple]]:
    """Rows for owner, document, dependency, lookup_receipt, receipt_document and state_event;
    `overdue` is the share of documents past their review date (the rest verified within it)."""
    rng = random.Random(seed)
    owners = [(f"owner-{i}", f"Owner {i}", f"owner{i}@example.test", i % 50 != 0, NOW) for i in range(500)]
    docs, deps = [], []
    n_sop = n_docs // 10
    for i in range(n_docs):
        kind = "sop" if i < n_sop else "source"
        every = rng.choice((90, 180, 365))
        late = rng.random() < overdue
        lv = NOW - timedelta(days=rng.uniform(every, every + 120) if late else rng.uniform(0, every * 0.97))
        expires = (NOW + timedelta(days=rng.randint(-30, 400))).date() if rng.random() < 0.1 else None
        changed = NOW - timedelta(days=rng.uniform(0, 10)) if rng.random() < 0.03 else None
        docs.append((f"doc-{i:06d}", kind, f"Document {i}", owners[rng.randrange(500)][0],
                     rng.choice(("low", "medium", "medium", "high")), every, lv, "someone", expires,
                     "[]", "active", "approval" if kind == "sop" else None, "[]", 1, "h" * 64, changed,
                     3 if rng.random() < 0.01 else 0, NOW - timedelta(days=300), NOW, 1))
        if kind == "sop":
            for s in {rng.randrange(n_sop, n_docs) for _ in range(2)}:
                deps.append((f"doc-{i:06d}", f"doc-{s:06d}"))
    receipts, links = [], []
    daily: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])  # what the receipt writer keeps per day
    hot = [f"doc-{i:06d}" for i in rng.sample(range(n_docs), min(5000, n_docs))]
    for r in range(n_receipts):
        rid = f"{r:032x}"
        decision = rng.choices(("proceed", "caution", "stop_and_ask"), (70, 20, 10))[0]
        at = NOW - timedelta(minutes=rng.randrange(60 * 24 * 60))
        receipts.append((rid, at, "q", "low", decision, "[]", "[]"))
        for d in {hot[int(rng.paretovariate(1.2)) % len(hot)] for _ in range(rng.randint(1, 2))}:
            links.append((rid, d, 1))
            c = daily[(d, at.date())]
            c[0] += 1
            c[1] += decision == "stop_and_ask"
    events, state = [], {}
    for k in range(8, -1, -1):
        at = NOW - timedelta(days=7 * k)
        chosen = range(n_docs) if k == 8 else rng.sample(range(n_docs), n_docs // 10)
        for i in chosen:
            doc = docs[i]
            new = rng.choice(STATES)
            if state.get(i) != new:
                events.append((doc[0], doc[3], at, state.get(i), new, "[]"))
                state[i] = new
    return {"owner": owners, "document": docs, "dependency": deps, "lookup_receipt": receipts,
            "receipt_document": links, "reliance_daily": [(d, day, n, st) for (d, day), (n, st) in daily.items()],
            "state_event": events}


COLS = {
    "owner": "id, name, contact, active, created_at",
    "document": "id, kind, title, owner_id, criticality, review_every_days, last_verified, verified_by, expires, tags, "
                "status, lane, tools, version, content_hash, changed_at, fetch_failures, created_at, updated_at, revision",
    "dependency": "sop_id, source_id",
    "lookup_receipt": "id, at, query, risk, decision, reasons, citations",
    "receipt_document": "receipt_id, document_id, version",
    "reliance_daily": "document_id, day, lookups, stops",
    "state_event": "document_id, owner_id, at, from_state, to_state, reasons",
}


def load_sqlite(path: Path, rows: dict[str, list[tuple]]) -> None:
    """Bulk insert with executemany in one transaction (datetimes in SQLAlchemy's SQLite format)."""
    import sqlite3

    con = sqlite3.connect(path)
    for table, data in rows.items():
        conv = [tuple(_ts(v, True) if isinstance(v, datetime) else (v.isoformat() if hasattr(v, "isoformat") else v)
                      for v in row) for row in data]
        marks = ", ".join("?" * len(data[0]))
        con.executemany(f"INSERT INTO {table} ({COLS[table]}) VALUES ({marks})", conv)
    con.commit()
    con.execute("ANALYZE")
    con.close()


def load_postgres(url: str, rows: dict[str, list[tuple]]) -> None:
    """Bulk insert with COPY."""
    import psycopg

    with psycopg.connect(url) as con, con.cursor() as cur:
        for table, data in rows.items():
            with cur.copy(f"COPY {table} ({COLS[table]}) FROM STDIN") as cp:
                for row in data:
                    cp.write_row(row)
        con.commit()
        cur.execute("ANALYZE")


def _time(fn, repeat: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def _timed(out: dict, name: str, fn, repeat: int = 3):
    """Median wall time as `<name>_s` and this process's CPU time as `<name>_cpu_s` (the machine may be
    shared: the CPU time is what the code costs here; PostgreSQL's own work is not in it)."""
    c = time.process_time()
    out[f"{name}_s"], result = _time(fn, repeat)
    out[f"{name}_cpu_s"] = (time.process_time() - c) / repeat
    return result


def measure(url: str, label: str, rows: dict[str, list[tuple]], load) -> dict:
    """Migrate, load, then time the review list and its parts."""
    settings = Settings(database_url=url, embedding=EmbeddingSettings(enabled=False))
    settings.server.scheduler = False
    rt = build_runtime(settings)
    t = time.perf_counter()
    load(rows)
    load_s = time.perf_counter() - t
    rules = rt.registry_ctx.rules
    out = {"db": label, "load_s": round(load_s, 1)}
    try:
        with Session(rt.engine) as s:
            _timed(out, "evaluate", lambda: evaluate_all(s, rules, NOW))
            sig = _timed(out, "signals", lambda: signals.gather(rt.extras, s, NOW))
            _timed(out, "history", lambda: history.weekly_counts(s, NOW, {}))
            rep = _timed(out, "review", lambda: review(s, rules, rt.extras, NOW))
            _timed(out, "review_no_history", lambda: build_review(s, rules, sig, NOW, with_history=False))
            _timed(out, "review_page_json", lambda: json.dumps(review(s, rules, rt.extras, NOW).page(0, 100).to_dict()))
        out["items"] = len(rep.items)
        out["docs_with_receipts"] = len(sig.reliance)
        for fmt in ("json", "csv", "md", "html"):
            text = _timed(out, f"render_{fmt}", lambda: render(rep, fmt), repeat=1)
            out[f"render_{fmt}_mb"] = round(len(text) / 1e6, 1)
    finally:
        rt.close()
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}


def main() -> None:
    """Run the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--receipts", type=int, default=1_000_000)
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--overdue", type=float, default=0.15, help="Share of documents past their review date.")
    args = ap.parse_args()
    t = time.perf_counter()
    rows = generate(args.docs, args.receipts, args.overdue)
    print(f"generated {', '.join(f'{len(v):,} {k}' for k, v in rows.items())} in {time.perf_counter() - t:.1f}s",
          file=sys.stderr)
    results = []
    if args.db in ("sqlite", "both"):
        path = Path("/tmp/freshgate_bench_review.db")
        for p in path.parent.glob(path.name + "*"):
            p.unlink()
        results.append(measure(f"sqlite:///{path}", "sqlite", rows, lambda r: load_sqlite(path, r)))
    if args.db in ("postgres", "both"):
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as con:
            con.execute("DROP DATABASE IF EXISTS freshgate_bench_review WITH (FORCE)")
            con.execute("CREATE DATABASE freshgate_bench_review")
        pg = PG_ADMIN.rsplit("/", 1)[0] + "/freshgate_bench_review"
        results.append(measure(pg.replace("postgresql://", "postgresql+psycopg://"), "postgres", rows,
                               lambda r: load_postgres(pg, r)))
    keys = [k for k in results[0] if k != "db"]
    print(f"\nreview list: {args.docs:,} documents ({args.overdue:.0%} overdue), {args.receipts:,} receipts, "
          f"{len(rows['state_event']):,} state events (median of 3; target review_s <= 2.0)")
    print(f"{'metric':<22}" + "".join(f"{r['db']:>12}" for r in results))
    for k in keys:
        print(f"{k:<22}" + "".join(f"{r[k]:>12}" for r in results))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "review_list.json").write_text(json.dumps({"docs": args.docs, "receipts": args.receipts,
                                                          "overdue": args.overdue, "cpus": os.cpu_count(),
                                                          "state_events": len(rows["state_event"]),
                                                          "results": results}, indent=2))


if __name__ == "__main__":
    main()
