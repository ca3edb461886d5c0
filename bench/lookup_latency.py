"""Lookup latency through HTTP (real uvicorn server, httpx) at 1k, 10k and 100k sections.

First: one short query embedded by torch and by ONNX Runtime, alternating rounds, each in a
fresh process pinned to 2 cores (p50/p99 ms each, load average per round).

Per size: a SQLite registry holding the example knowledge base (real embeddings) plus
generated documents whose sections carry clustered synthetic vectors (fresh, one owner); one
`freshgate` server per configuration (CONFIGS: backend + query batching on/off, all on the
same database, each `taskset` to 2 cores). The configurations are measured A/B interleaved in
ROUNDS rounds: per round and configuration a block of sequential requests (p50/p99), then a
block with 16 in flight (async httpx: lookups per second). Every block records the load
average, because the machine may be shared. The bare path (query embedding + vector search,
timed inside the server, `Server-Timing` header of the same requests) gives the decision
overhead ratio. Peak RSS per server from /proc. Table + bench/results/lookup_latency.json.

    .venv/bin/python bench/lookup_latency.py [SIZES=1000,10000,100000] [REQUESTS=200] \
        [CONFIGS=onnx+batch,onnx,torch] [ROUNDS=4]
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from index_recall import clustered  # noqa: E402

from freshgate.app import build_runtime, run_sync  # noqa: E402
from freshgate.config import Settings  # noqa: E402
from freshgate.embeddings.embedder import SentenceTransformerEmbedder, to_blob  # noqa: E402
from freshgate.embeddings.onnx import usable_cpus  # noqa: E402
from freshgate.registry.models import Document, Section  # noqa: E402

QUERIES = ["what is our refund window?", "can I refund a customer 7000 euros?", "what does Northwind Plus cost?",
           "who is on call for SRE?", "how do I handle a chargeback?", "how long do we keep customer data?",
           "delete a customer's account", "what discount can I give without approval?", "a parcel was lost",
           "retry a failed card payment", "escalate a security report", "SLA uptime for Northwind Business",
           "service credit for an outage", "what does the warranty cover?", "which vendors process data?",
           "how fast do we ship orders?", "GDPR access request export", "winter sale discount code",
           "item arrived damaged, send a replacement", "customer asks where is my order"]


def build_db(path: Path, n: int, emb) -> None:
    """Example KB through sync (real embeddings), then generated sections up to n."""
    s = Settings(database_url=f"sqlite:///{path}")
    s.server.scheduler = False
    rt = build_runtime(s)
    rt.extras["lookup"].use_embedder(emb)
    rt.extras["lookup"].activate()
    run_sync(rt, [ROOT / "sources", ROOT / "sop_cards"])
    with rt.engine.begin() as c:
        have = c.execute(text("SELECT COUNT(*) FROM section")).scalar()
        extra = max(0, n - have)
        vecs, _ = clustered(np.random.default_rng(7), extra, topics=max(50, extra // 50))
        now = datetime.now(timezone.utc)
        per = 5
        docs, secs = [], []
        for d in range((extra + per - 1) // per):
            did = f"gen-{d:06d}"
            docs.append(dict(id=did, kind="source", title=f"Generated document {d}", owner_id="dana.kim",
                             criticality="medium", review_every_days=90, last_verified=now, tags=["generated"],
                             status="active", tools=[], version=1, content_hash=uuid.uuid4().hex, fetch_failures=0,
                             created_at=now, updated_at=now, revision=1))
            for j in range(d * per, min(extra, (d + 1) * per)):
                secs.append(dict(document_id=did, version=1, anchor=f"part-{j}", heading=f"Part {j}", level=2,
                                 position=j - d * per, text=f"## Part {j}\n\nGenerated text {j}.",
                                 text_hash=uuid.uuid4().hex, embedding=to_blob(vecs[j])))
        for i in range(0, len(docs), 5000):
            c.execute(insert(Document), docs[i:i + 5000])
        for i in range(0, len(secs), 5000):
            c.execute(insert(Section), secs[i:i + 5000])
    rt.close()


def serve(path: Path, port: int, backend: str, batch: bool) -> subprocess.Popen:
    """A freshgate server on the registry, pinned to two cores."""
    env = {**os.environ, "FRESHGATE_DATABASE_URL": f"sqlite:///{path}", "FRESHGATE_SERVER__SCHEDULER": "false",
           "FRESHGATE_CONFLICTS__SCAN_ON_START": "false", "FRESHGATE_EMBEDDING__BACKEND": backend,
           "FRESHGATE_LOOKUP__BATCH_QUERIES": str(batch).lower()}
    code = ("import uvicorn; from freshgate.app import create_app; "
            f"uvicorn.run(create_app(), host='127.0.0.1', port={port}, log_level='warning')")
    cores = "0,1" if (os.cpu_count() or 1) >= 2 else "0"
    return subprocess.Popen(["taskset", "-c", cores, sys.executable, "-c", code], env=env)


def wait_ready(base: str, timeout: float = 1800) -> dict:
    """Poll /healthz until the lookup index is ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            h = httpx.get(f"{base}/healthz", timeout=5).json()
            if h.get("lookup", {}).get("index") == "ready" and h["lookup"]["model"] == "ready":
                return h
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(1)
    raise RuntimeError("server not ready")


async def concurrent(base: str, total: int, width: int = 16) -> float:
    """Requests per second with `width` in flight."""
    sem = asyncio.Semaphore(width)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=httpx.Limits(max_connections=width)) as c:
        async def one(i):
            async with sem:
                r = await c.post("/v1/lookup", json={"query": QUERIES[i % len(QUERIES)]})
                r.raise_for_status()
        await one(0)  # connection warm
        t = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(total)))
        return total / (time.perf_counter() - t)


def pct(xs, p) -> float:
    return 1e3 * float(np.percentile(xs, p))


def load1() -> float:
    return os.getloadavg()[0]


def embed_probe(backend: str, n: int) -> list[float]:
    """Seconds per single short-query encode on one backend (run in its own process)."""
    e = SentenceTransformerEmbedder(backend=backend)
    e.encode(QUERIES)
    out = []
    for i in range(n):
        t = time.perf_counter()
        e.encode([QUERIES[i % len(QUERIES)]])
        out.append(time.perf_counter() - t)
    return out


def embed_ab(rounds: int = 4, per_round: int = 100) -> dict:
    """One short query, torch vs ONNX Runtime, alternating rounds, each backend in a fresh process
    pinned like the server (torch and ORT in one process slow torch down badly)."""
    out: dict[str, list[float]] = {"torch": [], "onnx": []}
    loads = []
    cores = "0,1" if (os.cpu_count() or 1) >= 2 else "0"
    for r in range(rounds):
        for backend in (("torch", "onnx") if r % 2 == 0 else ("onnx", "torch")):
            loads.append(load1())
            proc = subprocess.run(["taskset", "-c", cores, sys.executable, __file__, "--embed-probe", backend,
                                   str(per_round)], capture_output=True, text=True, check=True)
            out[backend] += json.loads(proc.stdout.strip().splitlines()[-1])
    res = {k: {"p50_ms": pct(v, 50), "p99_ms": pct(v, 99), "n": len(v)} for k, v in out.items()}
    res["load_min_max"] = [min(loads), max(loads)]
    return res


def sequential(base: str, n: int, offset: int) -> tuple[list[float], list[dict]]:
    lat, phases = [], []
    with httpx.Client(base_url=base, timeout=60) as c:
        for i in range(offset, offset + n):
            t = time.perf_counter()
            r = c.post("/v1/lookup", json={"query": QUERIES[i % len(QUERIES)]})
            lat.append(time.perf_counter() - t)
            r.raise_for_status()
            phases.append({k: float(v.split("=")[1]) / 1e3 for k, v in
                           (x.strip().split(";") for x in r.headers["server-timing"].split(","))})
    return lat, phases


def peak_rss_mb(pid: int) -> float:
    """VmHWM of the server (the python child of taskset, which execs: same pid)."""
    return next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                if line.startswith("VmHWM")) / 1024


def measure_size(n: int, emb, configs: list[str], requests: int, rounds: int, port0: int) -> list[dict]:
    """All configurations on one registry of n sections, A/B interleaved."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fg.db"
        build_db(path, n, emb)
        procs, bases = {}, {}
        try:
            t = time.perf_counter()
            for i, cfg in enumerate(configs):
                backend, batch = cfg.split("+")[0], cfg.endswith("+batch")
                procs[cfg] = serve(path, port0 + i, backend, batch)
                bases[cfg] = f"http://127.0.0.1:{port0 + i}"
            health = {cfg: wait_ready(bases[cfg]) for cfg in configs}
            startup = time.perf_counter() - t
            for cfg in configs:  # warm every server (first requests compile, fill caches)
                sequential(bases[cfg], len(QUERIES), 0)
            data = {cfg: {"lat": [], "phases": [], "rps16": [], "loads": []} for cfg in configs}
            per_seq, per_conc = max(1, requests // rounds), max(64, 160 // rounds)
            for r in range(rounds):
                order = configs if r % 2 == 0 else configs[::-1]  # ABC CBA ...: no config always goes first
                for cfg in order:
                    d = data[cfg]
                    d["loads"].append(load1())
                    lat, ph = sequential(bases[cfg], per_seq, r * per_seq)
                    d["lat"] += lat
                    d["phases"] += ph
                    d["rps16"].append(asyncio.run(concurrent(bases[cfg], per_conc)))
                    d["loads"].append(load1())
            end_health = {cfg: httpx.get(f"{bases[cfg]}/healthz", timeout=5).json()["lookup"] for cfg in configs}
            rss = {cfg: peak_rss_mb(procs[cfg].pid) for cfg in configs}
        finally:
            for p in procs.values():
                p.terminate()
            for p in procs.values():
                p.wait(30)
    rows = []
    for cfg in configs:
        d, h, eh = data[cfg], health[cfg]["lookup"], end_health[cfg]
        lat, phases = d["lat"], d["phases"]
        blat = [p["embed"] + p["search"] for p in phases]
        rows.append({"sections": n, "config": cfg, "backend": h.get("embedding_backend"),
                     "batch_queries": h.get("batch_queries"), "indexed": h["sections_indexed"],
                     "approximate": h["approximate"], "startup_all_s": startup,
                     "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "bare_p50_ms": pct(blat, 50),
                     "bare_p99_ms": pct(blat, 99), "overhead_ratio_p50": pct(lat, 50) / pct(blat, 50),
                     "phase_p50_ms": {k: pct([p.get(k, 0.0) for p in phases], 50) for k in phases[0]},
                     "seq_rps": len(lat) / sum(lat), "rps_16_concurrent": float(np.median(d["rps16"])),
                     "rps_16_blocks": d["rps16"],
                     "mean_query_batch": (eh["queries_encoded"] / eh["query_encodes"]) if eh.get("query_encodes") else 1.0,
                     "load_min_max": [min(d["loads"]), max(d["loads"])], "server_peak_rss_mb": rss[cfg]})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    sizes = [int(x) for x in (sys.argv[1] if len(sys.argv) > 1 else "1000,10000,100000").split(",")]
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    configs = (sys.argv[3] if len(sys.argv) > 3 else "onnx+batch,onnx,torch").split(",")
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    print(f"{os.cpu_count()} CPUs, {usable_cpus()} usable; load average {os.getloadavg()} at start", flush=True)
    ab = embed_ab()
    print("query embedding (own process each): " + ", ".join(
        f"{k} p50 {v['p50_ms']:.1f} / p99 {v['p99_ms']:.1f} ms" for k, v in ab.items() if k != "load_min_max")
        + f"; load {ab['load_min_max'][0]:.1f}-{ab['load_min_max'][1]:.1f}", flush=True)
    emb = SentenceTransformerEmbedder(backend="auto")
    emb.encode(QUERIES)
    rows = []
    for j, n in enumerate(sizes):
        rows += measure_size(n, emb, configs, requests, rounds, 18000 + 10 * j + n % 1000)
    load = os.getloadavg()
    quiet = "" if max(r["load_min_max"][1] for r in rows) <= 1.25 * (os.cpu_count() or 1) else "  ** LOADED MACHINE: compare rows A/B only **"
    print(f"\nload average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at end on {os.cpu_count()} cores; "
          f"{requests} sequential requests per size and config in {rounds} interleaved rounds{quiet}")
    print(f"query embed, own process each: torch p50 {ab['torch']['p50_ms']:.1f} ms, ORT p50 {ab['onnx']['p50_ms']:.1f} ms "
          f"(p99 {ab['torch']['p99_ms']:.1f} / {ab['onnx']['p99_ms']:.1f}), load {ab['load_min_max'][0]:.1f}-{ab['load_min_max'][1]:.1f}")
    print(f"{'sections':>8} {'config':>11} {'ANN':>4} {'p50 ms':>7} {'p99 ms':>7} {'emb+srch50':>10} {'ratio':>6} "
          f"{'seq rps':>7} {'16-conc rps':>11} {'batch':>6} {'RSS MB':>7} {'load':>9}")
    for r in rows:
        print(f"{r['sections']:8d} {r['config']:>11} {'yes' if r['approximate'] else 'no':>4} {r['p50_ms']:7.1f} "
              f"{r['p99_ms']:7.1f} {r['bare_p50_ms']:10.1f} {r['overhead_ratio_p50']:6.2f} {r['seq_rps']:7.1f} "
              f"{r['rps_16_concurrent']:11.1f} {r['mean_query_batch']:6.1f} {r['server_peak_rss_mb']:7.0f} "
              f"{r['load_min_max'][0]:4.1f}-{r['load_min_max'][1]:<4.1f}")
    for r in rows:
        print(f"{r['sections']:8d} {r['config']:>11} phases p50 ms: "
              + ", ".join(f"{k} {v:.1f}" for k, v in r["phase_p50_ms"].items()))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "lookup_latency.json").write_text(json.dumps({"load_average_end": load, "embed_ab": ab, "rows": rows},
                                                       indent=2))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--embed-probe"]:
        print(json.dumps(embed_probe(sys.argv[2], int(sys.argv[3]))))
    else:
        main()
