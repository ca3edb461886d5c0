"""Benchmark: server render time of the console's heaviest pages at 100k documents and 1M receipts.

Builds the data with bulk inserts (bench/review_list.py's generator, plus receipt reasons and
citations so the overview's stop reasons and served-stale counts have work to do, and 300 open
conflicts), starts the real app in-process (auth on, signed in with a console session) and times
full HTTP round trips through TestClient: overview, review queue, documents page 1, a deep documents
page, a conflict detail, a document page. Target: p99 <= 200 ms each.

    .venv/bin/python bench/console_render.py [--docs 100000] [--receipts 1000000] [--db sqlite|postgres|both] [-n 30]
Prints a table and writes bench/results/console_render.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from review_list import COLS, NOW, PG_ADMIN, RESULTS, generate, load_postgres, load_sqlite  # noqa: E402

COLS = dict(COLS, conflict="pair_key, status, doc_a, version_a, anchor_a, heading_a, hash_a, text_a, doc_b, version_b, "
                           "anchor_b, heading_b, hash_b, text_b, similarity, score, judge, evidence, explanation, "
                           "detected_at, updated_at, verdict_reason, resolution")
REASONS = {"proceed": [], "caution": [{"code": "due_soon", "message": "review due soon", "item": None}],
           "stop_and_ask": None}
STOP_CODES = ("conflict", "stale_high_stakes", "no_source", "expired", "changed_unverified")


def enrich(rows: dict, seed: int = 11) -> None:
    """Give receipts reasons and citations with states (as the lookup writes them) and add open conflicts."""
    rng = random.Random(seed)
    cited = {}
    for rid, doc, version in rows["receipt_document"]:
        cited.setdefault(rid, []).append(doc)
    out = []
    for rid, at, q, risk, decision, _, _ in rows["lookup_receipt"]:
        reasons = REASONS[decision]
        if reasons is None:
            code = rng.choice(STOP_CODES)
            reasons = [{"code": code, "message": f"{code} reason", "item": None}]
        cites = [{"document_id": d, "version": 1, "anchor": "a", "state": "fresh" if rng.random() < 0.9 else "stale",
                  "score": 0.8, "lane": None} for d in cited.get(rid, [])]
        out.append((rid, at, q, risk, decision, json.dumps(reasons), json.dumps(cites)))
    rows["lookup_receipt"] = out
    hot = sorted({d for _, d, _ in rows["receipt_document"]})
    conflicts = []
    for k in range(300):
        a, b = rng.sample(hot, 2)
        ta, tb = f"Refunds are available within {k % 40 + 10} days.", f"Refunds are available within {k % 40 + 50} days."
        h = lambda t: hashlib.sha256(t.encode()).hexdigest()  # noqa: E731
        at = NOW - timedelta(days=rng.randint(0, 60))
        conflicts.append((h(ta + tb), "open", a, 1, "refunds", "Refunds", h(ta), ta, b, 1, "refunds", "Refunds", h(tb),
                          tb, 0.93, 0.9, "rules", json.dumps([{"subject": "Refunds", "a": ta.split()[-2] + " days",
                                                               "b": tb.split()[-2] + " days", "kind": "duration"}]),
                          "Refunds: days differ", at, at, "", ""))
    rows["conflict"] = conflicts


def _percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))]


def measure(url: str, label: str, rows: dict, load, n: int) -> dict:
    """Migrate, load, sign in, then time each page n times (after 2 warm-up requests)."""
    import review_list
    from fastapi.testclient import TestClient

    from freshgate.app import build_runtime, create_app
    from freshgate.auth.service import KeyService
    from freshgate.config import EmbeddingSettings, Settings
    from sqlmodel import Session

    review_list.COLS.update(COLS)
    settings = Settings(database_url=url, embedding=EmbeddingSettings(enabled=False))
    settings.server.scheduler = False
    settings.lookup.warm_up = False
    settings.auth.allowed_hosts = ["testserver"]
    settings.auth.key_file = f"/tmp/freshgate-bench-console-{os.getpid()}.key"
    rt = build_runtime(settings)
    rt.registry_ctx.clock = lambda: NOW
    t = time.perf_counter()
    load(rows)
    out = {"db": label, "load_s": round(time.perf_counter() - t, 1)}
    with Session(rt.engine) as s:
        _, raw = KeyService(s).create("bench", "operator")
        s.commit()
    doc = rows["receipt_document"][0][1]
    pages = {"overview": "/", "review_queue": "/review", "documents_p1": "/documents",
             "documents_deep": f"/documents?page={max(1, len(rows['document']) // 50 - 10)}",
             "conflict_detail": "/conflicts/150", "document_page": f"/documents/{doc}"}
    html = {"accept": "text/html"}
    try:
        with TestClient(create_app(runtime=rt)) as c:
            form = c.get("/sign-in", headers=html).text
            token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
            r = c.post("/sign-in", data={"csrf": token, "api_key": raw}, headers=html, follow_redirects=False)
            assert r.status_code == 303, r.text[:300]
            for name, path in pages.items():
                times = []
                for i in range(n + 2):
                    t = time.perf_counter()
                    r = c.get(path, headers=html)
                    dt = time.perf_counter() - t
                    assert r.status_code == 200, (path, r.status_code, r.text[:300])
                    if i >= 2:
                        times.append(dt * 1e3)
                    elif i == 0:
                        out[f"{name}_first_ms"] = round(dt * 1e3, 1)  # memo miss (a change since the last load)
                out[f"{name}_p50_ms"] = round(statistics.median(times), 1)
                out[f"{name}_p99_ms"] = round(_percentile(times, 99), 1)
                out[f"{name}_kb"] = round(len(r.content) / 1024, 1)
                print(f"  {label} {name:<16} p50 {out[f'{name}_p50_ms']:>8} ms  p99 {out[f'{name}_p99_ms']:>8} ms  "
                      f"load {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)
    finally:
        rt.close()
    return out


def main() -> None:
    """Run the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--receipts", type=int, default=1_000_000)
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    ap.add_argument("-n", type=int, default=30, help="Timed requests per page (after 2 warm-up requests).")
    ap.add_argument("--reuse", action="store_true", help="SQLite only: time the pages on the database file a "
                                                         "previous run built (no generating, no loading).")
    args = ap.parse_args()
    load_before = os.getloadavg()
    t = time.perf_counter()
    if args.reuse:
        path = Path("/tmp/freshgate_bench_console.db")
        rows = {"document": [None] * args.docs, "receipt_document": [(None, _hot_doc(path), 1)]}
        results = [measure(f"sqlite:///{path}", "sqlite (reused)", rows, lambda r: None, args.n)]
        return _report(args, results, load_before)
    rows = generate(args.docs, args.receipts)
    enrich(rows)
    print(f"generated {', '.join(f'{len(v):,} {k}' for k, v in rows.items())} in {time.perf_counter() - t:.1f}s",
          file=sys.stderr)
    results = []
    if args.db in ("sqlite", "both"):
        path = Path("/tmp/freshgate_bench_console.db")
        for p in path.parent.glob(path.name + "*"):
            p.unlink()
        results.append(measure(f"sqlite:///{path}", "sqlite", rows, lambda r: load_sqlite(path, r), args.n))
    if args.db in ("postgres", "both"):
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as con:
            con.execute("DROP DATABASE IF EXISTS freshgate_bench_console WITH (FORCE)")
            con.execute("CREATE DATABASE freshgate_bench_console")
        pg = PG_ADMIN.rsplit("/", 1)[0] + "/freshgate_bench_console"
        results.append(measure(pg.replace("postgresql://", "postgresql+psycopg://"), "postgres", rows,
                               lambda r: load_postgres(pg, r), args.n))
    _report(args, results, load_before)


def _hot_doc(path: Path) -> str:
    """The most cited document of a built database."""
    import sqlite3

    con = sqlite3.connect(path)
    doc = con.execute("SELECT document_id FROM receipt_document GROUP BY document_id ORDER BY count(*) DESC LIMIT 1"
                      ).fetchone()[0]
    con.close()
    return doc


def _report(args, results: list[dict], load_before) -> None:
    load_after = os.getloadavg()
    print(f"\nconsole render: {args.docs:,} documents, {args.receipts:,} receipts, 300 open conflicts; "
          f"{args.n} requests per page after 2 warm-ups (p99 of {args.n} = the slowest but one or so); target p99 <= 200 ms")
    print(f"load average before {load_before[0]:.2f} {load_before[1]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f} "
          f"({os.cpu_count()} CPUs)")
    keys = [k for k in results[0] if k != "db"]
    print(f"{'metric':<26}" + "".join(f"{r['db']:>12}" for r in results))
    for k in keys:
        print(f"{k:<26}" + "".join(f"{r[k]:>12}" for r in results))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "console_render.json").write_text(json.dumps({
        "docs": args.docs, "receipts": args.receipts, "n": args.n, "cpus": os.cpu_count(),
        "loadavg_before": load_before, "loadavg_after": load_after, "results": results}, indent=2))


if __name__ == "__main__":
    main()
