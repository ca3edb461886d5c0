"""Lookup throughput over HTTP against the in-process floor, measured in the same run (issue #17).

Corpus: the example knowledge base synced with the real model, plus generated documents up to N
sections whose vectors are clustered synthetic unit vectors inserted straight into the `section`
table (bulk INSERTs, `bench/lookup_latency.py build_db`); the server and the floor build their
indexes from those stored vectors, exactly as a real start does. Queries are embedded by the real
ONNX model, so the embedding cost is honest.

Two systems, interleaved in ROUNDS rounds (order reversed every round), each at 1, 4 and 16 in flight:
- floor: in this process (pinned to the same two cores), the same `LookupEngine` the server uses:
  query embedding + hybrid retrieval (vector ANN + BM25) with the retired-documents filter; no HTTP,
  no database, no decision, no receipt.
- http: a `freshgate` server (uvicorn, ONNX, query batching) on the same database, POST /v1/lookup.
Per block: lookups/s, p50/p99 latency, CPU ms per lookup (server: /proc utime+stime of the server
process; floor: process time), load average. The server's Server-Timing phases (p50) say where
the remaining time goes. Table + bench/results/lookup_throughput.json.

    PYTHONPATH=src .venv/bin/python bench/lookup_throughput.py [N=100000] [REQUESTS=240] [ROUNDS=3] [DB_DIR]

DB_DIR keeps the built database (and its index snapshot) between runs; default: a temporary dir.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from action_check import agent_key  # noqa: E402
from lookup_latency import QUERIES, build_db, load1, pct, wait_ready  # noqa: E402

from freshgate.config import Settings  # noqa: E402
from freshgate.embeddings.index import Scope  # noqa: E402
from freshgate.embeddings.onnx import usable_cpus  # noqa: E402

WIDTHS = (1, 4, 16)
CORES = "0,1" if (os.cpu_count() or 1) >= 2 else "0"
HEADERS: dict[str, str] = {}


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), seconds."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def serve(db: Path, port: int, src: str | None = None) -> subprocess.Popen:
    """A freshgate server (ONNX, query batching) on the registry, pinned to the same two cores
    (`src`: run another checkout's code, e.g. the one before a change)."""
    env = {**os.environ, **({"PYTHONPATH": src} if src else {}), "FRESHGATE_DATABASE_URL": f"sqlite:///{db}", "FRESHGATE_SERVER__SCHEDULER": "false",
           "FRESHGATE_CONFLICTS__SCAN_ON_START": "false", "FRESHGATE_EMBEDDING__BACKEND": "onnx",
           "FRESHGATE_AUTH__KEY_FILE": str(db.with_suffix(".key"))}
    code = ("import uvicorn; from freshgate.app import create_app; "
            f"uvicorn.run(create_app(), host='127.0.0.1', port={port}, log_level='warning')")
    return subprocess.Popen(["taskset", "-c", CORES, sys.executable, "-c", code], env=env)


def floor_engine(db: Path):
    """The server's lookup engine, in this process, on the same database (index built or loaded)."""
    from freshgate.runtime import build_runtime

    s = Settings(database_url=f"sqlite:///{db}")
    s.server.scheduler = False
    s.embedding.backend = "onnx"
    rt = build_runtime(s)
    eng = rt.extras["lookup"]
    eng.warm_up()
    eng.indexer.save_snapshot(rt.engine)  # the server loads it instead of building the HNSW graph again
    return rt, eng


def floor_block(eng, n: int, width: int, offset: int) -> dict:
    """n floor lookups with `width` threads in flight."""
    top = max(4 * eng.settings.lookup.top_k, 20)
    scope = Scope(exclude_retired=True)

    def one(i: int) -> float:
        t = time.perf_counter()
        q = QUERIES[i % len(QUERIES)]
        v = eng.embed_query(q)
        eng.retrieve(q, top, scope, vector=v)
        return time.perf_counter() - t

    c0, t0 = time.process_time(), time.perf_counter()
    if width == 1:
        lat = [one(i) for i in range(offset, offset + n)]
    else:
        with ThreadPoolExecutor(width) as ex:
            lat = list(ex.map(one, range(offset, offset + n)))
    wall = time.perf_counter() - t0
    return {"lat": lat, "rps": n / wall, "cpu_ms": 1e3 * (time.process_time() - c0) / n}


async def _http(base: str, n: int, width: int, offset: int) -> tuple[list[float], list[dict], float]:
    sem = asyncio.Semaphore(width)
    lat: list[float] = []
    phases: list[dict] = []
    async with httpx.AsyncClient(base_url=base, timeout=120, headers=HEADERS, limits=httpx.Limits(max_connections=width)) as c:
        async def one(i):
            async with sem:
                t = time.perf_counter()
                r = await c.post("/v1/lookup", json={"query": QUERIES[i % len(QUERIES)]})
                lat.append(time.perf_counter() - t)
                r.raise_for_status()
                phases.append({k: float(v.split("=")[1]) for k, v in
                               (x.strip().split(";") for x in r.headers["server-timing"].split(","))})
        await one(0)
        lat.clear(), phases.clear()
        t = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(offset, offset + n)))
        return lat, phases, time.perf_counter() - t


def http_block(base: str, pid: int, n: int, width: int, offset: int) -> dict:
    """n lookups over HTTP with `width` in flight."""
    c0 = cpu_seconds(pid)
    lat, phases, wall = asyncio.run(_http(base, n, width, offset))
    return {"lat": lat, "phases": phases, "rps": n / wall, "cpu_ms": 1e3 * (cpu_seconds(pid) - c0) / (n + 1)}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else 240
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    keep = Path(sys.argv[4]) if len(sys.argv) > 4 else None
    os.sched_setaffinity(0, {int(c) for c in CORES.split(",")})  # the floor gets the server's two cores
    print(f"{os.cpu_count()} CPUs, {usable_cpus()} usable; load average {os.getloadavg()} at start", flush=True)
    tmp = None
    if keep is None:
        tmp = tempfile.TemporaryDirectory()
        keep = Path(tmp.name)
    keep.mkdir(parents=True, exist_ok=True)
    db = keep / f"fg-{n}.db"
    if not db.exists():
        from freshgate.embeddings.embedder import SentenceTransformerEmbedder

        t = time.perf_counter()
        emb = SentenceTransformerEmbedder(backend="onnx")
        build_db(db, n, emb)
        print(f"built {n} sections in {time.perf_counter() - t:.0f} s", flush=True)
    rt, eng = floor_engine(db)  # builds the index and writes the snapshot the server then loads
    print(f"floor index: {len(eng.index)} sections, approximate={eng.index.approximate}", flush=True)
    HEADERS["Authorization"] = f"Bearer {agent_key(db)}"
    servers = {"http": (serve(db, 18700), "http://127.0.0.1:18700")}
    before = os.environ.get("FG_BEFORE_SRC")  # another checkout's src/: the same server before a change
    if before:
        servers["before"] = (serve(db, 18701, before), "http://127.0.0.1:18701")
    proc, base = servers["http"]
    data: dict = {}
    try:
        for _, b_ in servers.values():
            wait_ready(b_)
        for w in WIDTHS:  # warm all
            floor_block(eng, len(QUERIES), w, 0)
            for p_, b_ in servers.values():
                http_block(b_, p_.pid, len(QUERIES), w, 0)
        per = max(16, requests // rounds)
        systems = ["floor", *servers]
        for r in range(rounds):
            order = [(sys_, w) for w in WIDTHS for sys_ in systems]  # floor-1 http-1 before-1 floor-4 ...
            for system, w in (order if r % 2 == 0 else order[::-1]):
                d = data.setdefault(f"{system}-{w}", {"lat": [], "phases": [], "rps": [], "cpu_ms": [], "loads": []})
                d["loads"].append(load1())
                b = (floor_block(eng, per, w, r * per) if system == "floor"
                     else http_block(servers[system][1], servers[system][0].pid, per, w, r * per))
                d["lat"] += b["lat"]
                d["phases"] += b.get("phases", [])
                d["rps"].append(b["rps"])
                d["cpu_ms"].append(b["cpu_ms"])
                d["loads"].append(load1())
        health = httpx.get(f"{base}/healthz", timeout=10, headers=HEADERS).json()["lookup"]
    finally:
        for p_, _ in servers.values():
            p_.terminate()
        for p_, _ in servers.values():
            p_.wait(60)
        rt.close()
        if tmp is not None:
            tmp.cleanup()
    rows = []
    for key, d in data.items():
        system, w = key.split("-")
        ph = d["phases"]
        rows.append({"system": system, "in_flight": int(w), "p50_ms": pct(d["lat"], 50), "p99_ms": pct(d["lat"], 99),
                     "rps": float(np.median(d["rps"])), "rps_blocks": d["rps"], "cpu_ms_per_lookup": float(np.median(d["cpu_ms"])),
                     "phase_p50_ms": {k: float(np.percentile([p.get(k, 0.0) for p in ph], 50)) for k in ph[0]} if ph else {},
                     "load_min_max": [min(d["loads"]), max(d["loads"])], "n": len(d["lat"])})
    by = {(r["system"], r["in_flight"]): r for r in rows}
    load = os.getloadavg()
    print(f"\n{n} sections ({health.get('sections_indexed')} indexed, approximate={health.get('approximate')}); "
          f"{rounds} interleaved rounds of {per} lookups per block; load average at end {load[0]:.1f} / {load[1]:.1f} / "
          f"{load[2]:.1f} on {os.cpu_count()} cores")
    print(f"{'system':>6} {'flight':>6} {'p50 ms':>7} {'p99 ms':>7} {'rps':>7} {'CPU ms/op':>9} {'x floor p50':>11} "
          f"{'x floor rps':>11} {'load':>9}")
    for r in sorted(rows, key=lambda r: (r["in_flight"], r["system"])):
        f = by[("floor", r["in_flight"])]
        r["ratio_p50"], r["ratio_rps"] = r["p50_ms"] / f["p50_ms"], r["rps"] / f["rps"]
        print(f"{r['system']:>6} {r['in_flight']:6d} {r['p50_ms']:7.1f} {r['p99_ms']:7.1f} {r['rps']:7.1f} "
              f"{r['cpu_ms_per_lookup']:9.1f} {r['ratio_p50']:11.2f} {r['ratio_rps']:11.2f} "
              f"{r['load_min_max'][0]:4.1f}-{r['load_min_max'][1]:<4.1f}")
    for r in rows:
        if r["phase_p50_ms"]:
            print(f"http {r['in_flight']:2d} in flight, server phases p50 ms: "
                  + ", ".join(f"{k} {v:.2f}" for k, v in r["phase_p50_ms"].items()))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "lookup_throughput.json").write_text(json.dumps(
        {"sections": n, "load_average_end": load, "rows": rows, "health": health}, indent=2, default=str))


if __name__ == "__main__":
    threading.stack_size(4 << 20)
    main()
