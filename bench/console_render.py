"""Benchmark: server render time of the console's pages at 100k documents and 1M receipts.

Builds the data with bulk inserts (bench/review_list.py's generator, plus receipt reasons and
citations so the overview's stop reasons and served-stale counts have work to do, and 300 open
conflicts; PostgreSQL through COPY), rolls up the closed days of decisions once (timed: the one-time
cost of what the decision_rollup job does), starts the real app in-process (auth on, signed in with a
console session) and times each page through TestClient: first load (the review list's first full
build), one full rebuild (what the background thread does every console.rebuild_seconds), then n rounds,
each with every page once in steady state and then, for the pages of issue #12, a change committed
through the services (verify, transfer, owner active flip, conflict dismiss/reopen, cycling) followed by
the page (its time includes the incremental update of the review list and any memo the change voided).
Rounds alternate gc.freeze() on and off (interleaved, same run); full GCs are counted per variant.
Wall and this process's CPU time per render (the server is in-process, so the CPU time is the render's,
whatever the machine's load). Target: p99 <= 200 ms each.

    .venv/bin/python bench/console_render.py [--docs 100000] [--receipts 1000000] [--db sqlite|postgres|both]
        [-n 30] [--build-only | --reuse] [--warm-start] [--profile overview]
Prints a table and writes bench/results/console_render.json.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import logging
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


HTML = {"accept": "text/html"}


def _percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))]


def _sign_in(c, raw: str) -> None:
    form = c.get("/sign-in", headers=HTML).text
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    r = c.post("/sign-in", data={"csrf": token, "api_key": raw}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303, r.text[:300]


def _get(c, path: str) -> tuple[float, float, int]:
    """(wall ms, CPU ms of this process, bytes) of one page; the server runs in-process, so the CPU time is
    the render's (plus TestClient's small share) and nothing else's on a shared machine."""
    w, cpu = time.perf_counter(), time.process_time()
    r = c.get(path, headers=HTML)
    out = (time.perf_counter() - w) * 1e3, (time.process_time() - cpu) * 1e3, len(r.content)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return out


def measure(url: str, label: str, rows: dict, load, n: int, profile: str | None = None,
            build_only: bool = False, warm_start: bool = False) -> dict:
    """Migrate, load, roll up the closed days, sign in, then time every page n times, interleaved
    (`build_only`: migrate and load, nothing timed but the load; `warm_start`: the review list is built in the
    background at start-up, as with the background rebuilds on, and the first loads come after that build)."""
    import review_list
    from fastapi.testclient import TestClient

    from freshgate.app import build_runtime, create_app
    from freshgate.auth.service import KeyService
    from freshgate.config import EmbeddingSettings, Settings
    from freshgate.reports import rollup
    from sqlmodel import Session

    review_list.COLS.update(COLS)
    for name in ("httpx", "httpx2"):  # TestClient logs every request (rich: ms per line; its client is httpx2)
        logging.getLogger(name).setLevel(logging.WARNING)
    settings = Settings(database_url=url, embedding=EmbeddingSettings(enabled=False))
    settings.server.scheduler = False
    settings.lookup.warm_up = False
    settings.conflicts.check_on_change = False  # no embedding model here: the changes are verdicts, not new text
    settings.console.rebuild_seconds = 0  # the 5-minute background rebuild is timed on its own (full_rebuild_s)
    if warm_start:  # background builds on, the periodic one never due during the run
        settings.console.rebuild_seconds = 10**9
    settings.auth.allowed_hosts = ["testserver"]
    settings.auth.key_file = f"/tmp/freshgate-bench-console-{os.getpid()}.key"
    rt = build_runtime(settings)
    rt.registry_ctx.clock = lambda: NOW
    t = time.perf_counter()
    load(rows)
    out = {"db": label, "load_s": round(time.perf_counter() - t, 1)}
    if build_only:
        rt.close()
        print(f"  {label}: built and loaded in {out['load_s']}s", file=sys.stderr)
        return out
    with rt.engine.begin() as con:  # a reused database: measure the first rollup again
        con.execute(rollup.DecisionDaily.__table__.delete())
        con.execute(rollup.DecisionDay.__table__.delete())
    with Session(rt.engine) as s:  # the one-time lazy rollup of the closed days (later: one day a day)
        t, cpu = time.perf_counter(), time.process_time()
        rolled = rollup.ensure_rolled(rt.engine, [NOW.date() - timedelta(days=k) for k in range(30)], NOW)
        out["rollup_days_rolled"] = rolled
        out["rollup_first_s"] = round(time.perf_counter() - t, 2)
        out["rollup_first_cpu_s"] = round(time.process_time() - cpu, 2)
        t = time.perf_counter()
        rollup.windows(s, NOW)
        out["windows_ms"] = round((time.perf_counter() - t) * 1e3, 1)
        _, raw = KeyService(s).create("bench", "operator")
        s.commit()
    doc = rows["receipt_document"][0][1]
    deep = max(1, len(rows["document"]) // 50 - 10)
    pages = {"overview": "/", "review_queue": "/review", "review_deep": "/review?page=100",
             "documents_p1": "/documents", "documents_deep": f"/documents?page={deep}",
             "documents_state": "/documents?state=stale", "conflict_detail": "/conflicts/150",
             "document_page": f"/documents/{doc}", "receipts": "/receipts", "unanswered": "/unanswered"}
    try:
        t = time.perf_counter()
        with TestClient(create_app(runtime=rt)) as c:
            if warm_start:  # the start-up build (forced: lookup.warm_up is off here, no model to load)
                from freshgate.web.memo import warm_up

                warm_up(c.app, force=True).join()  # how long after start the list is ready
                out["start_up_build_s"] = round(time.perf_counter() - t, 2)
            _sign_in(c, raw)
            for name, path in pages.items():  # first load: the memo misses (as after any change)
                out[f"{name}_first_ms"] = round(_get(c, path)[0], 1)
            for path in pages.values():  # warm-up round
                _get(c, path)
            if profile:  # "overview": steady loads; "change:overview": a change committed before each load
                name = profile.split(":")[-1]
                changer = _Changer(rt, len(rows["document"])) if profile.startswith("change:") else None
                _profile(c, pages[name], n, changer)
                return out
            live = c.app.state.console_review
            t, cpu0 = time.perf_counter(), time.process_time()
            live.rebuild()  # what the background thread does every console.rebuild_seconds
            out["full_rebuild_s"] = round(time.perf_counter() - t, 2)
            out["full_rebuild_cpu_s"] = round(time.process_time() - cpu0, 2)
            phase = ["steady/frozen"]
            gc_full = _watch_full_gc(phase)
            samples: dict[tuple[str, str], tuple[list, list]] = {}
            changer = _Changer(rt, len(rows["document"]))
            fallbacks = 0
            for i in range(n):  # interleaved: every page once per round; rounds alternate gc.freeze() on / off
                frozen = i % 2 == 0
                gc.freeze() if frozen else gc.unfreeze()
                tag = "frozen" if frozen else "unfrozen"
                for name, path in pages.items():  # steady: nothing changed since the last load
                    phase[0] = f"steady/{tag}"
                    w, u, size = _get(c, path)
                    ws, us = samples.setdefault((f"steady/{tag}", name), ([], []))
                    ws.append(w)
                    us.append(u)
                    out[f"{name}_kb"] = round(size / 1024, 1)
                for name in AFTER_CHANGE:  # a change committed, then the page rendered (the update is in its time)
                    changer.change(i)
                    phase[0] = f"change/{tag}"
                    w, u, _ = _get(c, pages[name])
                    fallbacks += bool(live.live.full)
                    ws, us = samples.setdefault((f"change/{tag}", name), ([], []))
                    ws.append(w)
                    us.append(u)
                    # the kinds cycle with the page order: in one gc variant a page always follows the same kind
                    # (frozen: review_deep after an owner flip); this row pools every page by the change's kind
                    ws, us = samples.setdefault(("change kind", changer.last), ([], []))
                    ws.append(w)
                    us.append(u)
                if i % 10 == 9:
                    print(f"  {label} round {i + 1}/{n}  load {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)
            gc.freeze()
            for (variant, name), (ws, us) in samples.items():
                out[f"{variant} {name} p50/p99"] = f"{statistics.median(ws):.0f}/{_percentile(ws, 99):.0f}"
                out[f"{variant} {name} cpu p50/p99"] = f"{statistics.median(us):.0f}/{_percentile(us, 99):.0f}"
            for variant in sorted({v for v, _ in samples} - {"change kind"}):
                runs = gc_full.get(variant, [])
                out[f"{variant} full GCs (max ms)"] = f"{len(runs)} ({max(runs, default=0):.0f})"
            out["after-change updates that fell back to a full build"] = fallbacks
            out["changes committed"] = changer.done
            out["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
    finally:
        rt.close()
    return out


def _watch_full_gc(label: list[str]) -> dict[str, list[float]]:
    """Durations (ms) of the cyclic GC's full collections from now on, by the variant running (`label[0]`)."""
    runs: dict[str, list[float]] = {}
    started = [0.0]

    def cb(phase, info):
        if info.get("generation") == 2:
            if phase == "start":
                started[0] = time.perf_counter()
            else:
                runs.setdefault(label[0], []).append((time.perf_counter() - started[0]) * 1e3)

    gc.callbacks.append(cb)
    return runs


AFTER_CHANGE = ("overview", "review_queue", "review_deep", "documents_p1", "documents_deep", "conflict_detail")


class _Changer:
    """Commits one change per call through the services, cycling: verify a document, transfer one, flip an
    owner's active flag (its ~200 documents move), dismiss / reopen a conflict."""

    def __init__(self, rt, n_docs: int) -> None:
        import random as _random

        self.rt, self.n_docs, self.rng, self.done, self.k, self.last = rt, n_docs, _random.Random(5), 0, 0, ""

    def change(self, i: int) -> None:
        from sqlmodel import Session

        from freshgate.registry.service import RegistryService

        kind = self.last = ("verify", "transfer", "owner", "conflict")[self.k % 4]
        self.k += 1
        doc = f"doc-{self.rng.randrange(self.n_docs):06d}"
        with Session(self.rt.engine, expire_on_commit=False) as s:
            reg = RegistryService(s, self.rt.registry_ctx)
            try:
                if kind == "verify":
                    reg.verify(doc, actor="bench")
                elif kind == "transfer":
                    reg.transfer(doc, f"owner-{self.rng.choice([o for o in range(500) if o % 50])}", actor="bench")
                elif kind == "owner":
                    reg.set_owner_active("owner-7", not reg.owner("owner-7").active, actor="bench")
                else:
                    svc = self.rt.extras["conflicts"].service(s)
                    c = svc.get(150)
                    if c.status == "open":
                        svc.dismiss(150, actor="bench", reason="bench")
                    else:
                        svc.reopen(150, actor="bench", reason="bench")
                s.commit()
                self.done += 1
            except Exception as exc:  # noqa: BLE001 - e.g. a retired document: no change this time
                s.rollback()
                print(f"  change {kind} {doc} skipped: {exc}", file=sys.stderr)


def _profile(c, path: str, n: int, changer=None) -> None:
    """cProfile the route functions and dependencies (they run in the server's worker threads) of n loads."""
    import cProfile
    import pstats

    import fastapi.dependencies.utils as dep_utils
    import fastapi.routing as routing

    prof = cProfile.Profile()
    originals = routing.run_in_threadpool, dep_utils.run_in_threadpool

    async def profiled(func, *a, **kw):
        return await originals[0](lambda: prof.runcall(func, *a, **kw))

    routing.run_in_threadpool = dep_utils.run_in_threadpool = profiled
    try:
        for i in range(n):
            if changer is not None:
                changer.change(i)
            c.get(path, headers=HTML)
    finally:
        routing.run_in_threadpool, dep_utils.run_in_threadpool = originals
    pstats.Stats(prof).sort_stats("cumulative").print_stats(60)
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def main() -> None:
    """Run the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--receipts", type=int, default=1_000_000)
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    ap.add_argument("-n", type=int, default=30, help="Timed rounds (every page once a round), after a first "
                                                     "load (memo miss) and one warm-up round.")
    ap.add_argument("--reuse", action="store_true", help="Time the pages on the databases a previous run built "
                                                         "(no generating, no loading).")
    ap.add_argument("--build-only", action="store_true", help="Generate and load the databases, time nothing "
                                                              "(run outside the bench lock, then --reuse under it).")
    ap.add_argument("--warm-start", action="store_true", help="Background builds on: the review list is built at "
                                                              "start-up and the first loads come after it.")
    ap.add_argument("--profile", help="cProfile n loads of this page (a name of the table) instead of timing; "
                                      "change:NAME commits a change before each load.")
    args = ap.parse_args()
    load_before = os.getloadavg()
    t = time.perf_counter()
    if args.reuse:
        results = []
        if args.db in ("sqlite", "both"):
            path = Path("/tmp/freshgate_bench_console.db")
            rows = {"document": [None] * args.docs, "receipt_document": [(None, _hot_doc(f"sqlite:///{path}"), 1)]}
            results.append(measure(f"sqlite:///{path}", "sqlite", rows, lambda r: None, args.n, args.profile,
                                   warm_start=args.warm_start))
        if args.db in ("postgres", "both"):
            pg = PG_ADMIN.rsplit("/", 1)[0] + "/freshgate_bench_console"
            rows = {"document": [None] * args.docs, "receipt_document": [(None, _hot_doc(pg), 1)]}
            results.append(measure(pg.replace("postgresql://", "postgresql+psycopg://"), "postgres", rows,
                                   lambda r: None, args.n, args.profile, warm_start=args.warm_start))
        return None if args.profile else _report(args, results, load_before)
    rows = generate(args.docs, args.receipts)
    enrich(rows)
    print(f"generated {', '.join(f'{len(v):,} {k}' for k, v in rows.items())} in {time.perf_counter() - t:.1f}s",
          file=sys.stderr)
    results = []
    if args.db in ("sqlite", "both"):
        path = Path("/tmp/freshgate_bench_console.db")
        for p in path.parent.glob(path.name + "*"):
            p.unlink()
        results.append(measure(f"sqlite:///{path}", "sqlite", rows, lambda r: load_sqlite(path, r), args.n,
                               args.profile, args.build_only))
    if args.db in ("postgres", "both"):
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as con:
            con.execute("DROP DATABASE IF EXISTS freshgate_bench_console WITH (FORCE)")
            con.execute("CREATE DATABASE freshgate_bench_console")
        pg = PG_ADMIN.rsplit("/", 1)[0] + "/freshgate_bench_console"
        results.append(measure(pg.replace("postgresql://", "postgresql+psycopg://"), "postgres", rows,
                               lambda r: _load_postgres(pg, r), args.n, args.profile, args.build_only))
    if not (args.profile or args.build_only):
        _report(args, results, load_before)


def _load_postgres(url: str, rows: dict) -> None:
    """COPY, then VACUUM ANALYZE (what autovacuum does to a live database: visibility map for index-only scans)."""
    import psycopg

    load_postgres(url, rows)
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("VACUUM ANALYZE")


def _hot_doc(url: str) -> str:
    """The most cited document of a built database."""
    from sqlalchemy import create_engine, text

    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with eng.connect() as con:
        doc = con.execute(text("SELECT document_id FROM receipt_document GROUP BY document_id "
                               "ORDER BY count(*) DESC LIMIT 1")).scalar_one()
    eng.dispose()
    return doc


def _report(args, results: list[dict], load_before) -> None:
    load_after = os.getloadavg()
    print(f"\nconsole render: {args.docs:,} documents, {args.receipts:,} receipts, 300 open conflicts; "
          f"{args.n} requests per page after 2 warm-ups (interleaved; p99 of {args.n} ~ the slowest); target p99 <= 200 ms")
    print(f"load average before {load_before[0]:.2f} {load_before[1]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f} "
          f"({os.cpu_count()} CPUs)")
    keys = list(dict.fromkeys(k for r in results for k in r if k != "db"))
    width = max(len(k) for k in keys) + 2
    print(f"{'metric':<{width}}" + "".join(f"{r['db']:>12}" for r in results))
    for k in keys:
        print(f"{k:<{width}}" + "".join(f"{r.get(k, ''):>12}" for r in results))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "console_render.json").write_text(json.dumps({
        "docs": args.docs, "receipts": args.receipts, "n": args.n, "cpus": os.cpu_count(),
        "loadavg_before": load_before, "loadavg_after": load_after, "results": results}, indent=2))


if __name__ == "__main__":
    main()
