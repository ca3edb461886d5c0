"""Lookup latency through HTTP (real uvicorn server, httpx) at 1k, 10k and 100k sections.

Per size: a SQLite registry holding the example knowledge base (real embeddings) plus
generated documents whose sections carry clustered synthetic vectors (fresh, one owner); a
`freshgate` server in a subprocess (`taskset` to 2 cores); the same queries (embedded by
the real model) sent sequentially for p50/p99, then 16 at a time for throughput. In the same
run the bare path (query embedding + vector search, timed inside the server and reported in
the `Server-Timing` header of the same requests) gives the decision overhead ratio.
Peak RSS of the server is read from /proc. Results: table + bench/results/lookup_latency.json.

    .venv/bin/python bench/lookup_latency.py [SIZES=1000,10000,100000] [REQUESTS=200]
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


def serve(path: Path, port: int) -> subprocess.Popen:
    """A freshgate server on the registry, pinned to two cores."""
    env = {**os.environ, "FRESHGATE_DATABASE_URL": f"sqlite:///{path}", "FRESHGATE_SERVER__SCHEDULER": "false",
           "FRESHGATE_CONFLICTS__SCAN_ON_START": "false"}
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
        t = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(total)))
        return total / (time.perf_counter() - t)


def pct(xs, p) -> float:
    return 1e3 * float(np.percentile(xs, p))


def main() -> None:
    sizes = [int(x) for x in (sys.argv[1] if len(sys.argv) > 1 else "1000,10000,100000").split(",")]
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    emb = SentenceTransformerEmbedder()
    emb.encode(QUERIES)
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "fg.db"
            build_db(path, n, emb)
            port = 18000 + n % 1000 + len(rows)
            proc = serve(path, port)
            base = f"http://127.0.0.1:{port}"
            try:
                t = time.perf_counter()
                health = wait_ready(base)
                startup = time.perf_counter() - t
                with httpx.Client(base_url=base, timeout=60) as c:
                    for q in QUERIES:
                        c.post("/v1/lookup", json={"query": q}).raise_for_status()
                    lat, phases = [], []
                    for i in range(requests):
                        t = time.perf_counter()
                        r = c.post("/v1/lookup", json={"query": QUERIES[i % len(QUERIES)]})
                        lat.append(time.perf_counter() - t)
                        r.raise_for_status()
                        phases.append({k: float(v.split("=")[1]) / 1e3 for k, v in
                                       (x.strip().split(";") for x in r.headers["server-timing"].split(","))})
                seq_rps = len(lat) / sum(lat)
                rps16 = asyncio.run(concurrent(base, max(160, requests)))
                rss = next(int(line.split()[1]) for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                           if line.startswith("VmHWM")) / 1024
            finally:
                proc.terminate()
                proc.wait(30)
            blat = [p["embed"] + p["search"] for p in phases]
        rows.append({"sections": n, "indexed": health["lookup"]["sections_indexed"],
                     "approximate": health["lookup"]["approximate"], "startup_s": startup,
                     "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "bare_p50_ms": pct(blat, 50),
                     "bare_p99_ms": pct(blat, 99), "overhead_ratio_p50": pct(lat, 50) / pct(blat, 50),
                     "phase_p50_ms": {k: pct([p[k] for p in phases], 50) for k in phases[0]},
                     "seq_rps": seq_rps, "rps_16_concurrent": rps16, "server_peak_rss_mb": rss})
        print(rows[-1], flush=True)
    load = os.getloadavg()
    print(f"\nload average {load[0]:.1f} / {load[1]:.1f} on {os.cpu_count()} cores; {requests} sequential requests per size")
    print(f"{'sections':>8} {'ANN':>4} {'p50 ms':>7} {'p99 ms':>7} {'emb+srch50':>10} {'emb+srch99':>10} {'ratio':>6} "
          f"{'seq rps':>7} {'16-conc rps':>11} {'RSS MB':>7} {'start s':>7}")
    for r in rows:
        print(f"{r['sections']:8d} {'yes' if r['approximate'] else 'no':>4} {r['p50_ms']:7.1f} {r['p99_ms']:7.1f} "
              f"{r['bare_p50_ms']:10.1f} {r['bare_p99_ms']:10.1f} {r['overhead_ratio_p50']:6.2f} {r['seq_rps']:7.1f} "
              f"{r['rps_16_concurrent']:11.1f} {r['server_peak_rss_mb']:7.0f} {r['startup_s']:7.1f}")
    for r in rows:
        print(f"{r['sections']:8d} phases p50 ms: " + ", ".join(f"{k} {v:.1f}" for k, v in r["phase_p50_ms"].items()))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "lookup_latency.json").write_text(json.dumps({"load_average": load, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
