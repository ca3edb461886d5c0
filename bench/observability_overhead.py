"""Overhead of Prometheus metrics and OpenTelemetry tracing on lookup latency, interleaved in one process.

One SQLite registry: the example knowledge base (real embeddings) plus generated sections up to SIZE
(bench/lookup_latency.py's generator), the real model on ONNX Runtime. Three configurations, each
measured per round as a block of sequential POST /v1/lookup through the ASGI app (TestClient, so the
FastAPI instrumentation is included): `base` (metrics and tracing off), `metrics` (on), `tracing`
(on: FastAPI + SQLAlchemy + guardrail spans, BatchSpanProcessor exporting to a JSON-lines file).
Rounds rotate the order. Besides wall p50/p99, the process CPU time per lookup (median over blocks) is
reported: on a shared, overloaded machine it is the steadier measure of what metrics and tracing add. Table + bench/results/observability_overhead.json.

Auth is on (as deployed): the clients send an agent key, so the key check is in every configuration alike.
EMBEDDER=hashing swaps the model for the deterministic hashing embedder (a cheaper base, so the same
absolute overhead shows as a larger percentage: the conservative choice when the model run would dominate).

    python bench/observability_overhead.py [SIZE=10000] [REQUESTS=150] [ROUNDS=4] [EMBEDDER=onnx|hashing]
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from lookup_latency import QUERIES, build_db  # noqa: E402

from fastapi.testclient import TestClient  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter  # noqa: E402
from sqlmodel import Session  # noqa: E402

from freshgate.app import build_runtime, create_app  # noqa: E402
from freshgate.config import Settings  # noqa: E402
from freshgate.auth.service import KeyService  # noqa: E402
from freshgate.embeddings.embedder import HashingEmbedder, SentenceTransformerEmbedder  # noqa: E402
from freshgate.observability import tracing  # noqa: E402

CONFIGS = ("base", "metrics", "tracing")
logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise


def block(client: TestClient, n: int, offset: int) -> list[float]:
    """Seconds per lookup for n sequential lookups."""
    out = []
    for i in range(n):
        t = time.perf_counter()
        r = client.post("/v1/lookup", json={"query": QUERIES[(offset + i) % len(QUERIES)]})
        out.append(time.perf_counter() - t)
        assert r.status_code == 200
    return out


def micro(n: int = 20000) -> dict[str, float]:
    """CPU microseconds per lookup of the instrumentation alone: metrics recording, guardrail + 2 child spans."""
    from types import SimpleNamespace as NS

    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from freshgate.observability import metrics

    d = NS(decision="caution", reasons=[NS(code="stale"), NS(code="due")])
    ev, cites = [NS(lane=None)], [NS(state="stale")]
    timings = {"embed": 4.0, "search": 1.0, "decide": 2.0, "receipt": 1.5}
    t = time.process_time()
    for _ in range(n):
        metrics.record_lookup(d, ev, cites, timings, 0.01, True)
    out = {"metrics_us": 1e6 * (time.process_time() - t) / n}
    s = Settings()
    s.tracing.enabled, s.tracing.exporter = True, "none"
    exporter = InMemorySpanExporter()
    tracing.configure(s, processors=[SimpleSpanProcessor(exporter)])
    t = time.process_time()
    for i in range(n // 4):
        with tracing.guardrail("low", 5) as span:
            with tracing.stage("retrieval", top_k=5):
                pass
            with tracing.stage("decision"):
                pass
            tracing.record_decision(span, d, cites, [], "r-1")
        if i % 1000 == 0:
            exporter.clear()
    out["guardrail_spans_us"] = 1e6 * (time.process_time() - t) / (n // 4)
    tracing.shutdown()
    return out


def main() -> None:
    size = int(os.environ.get("SIZE", 10000))
    requests = int(os.environ.get("REQUESTS", 150))
    rounds = int(os.environ.get("ROUNDS", 4))
    tmp = Path(tempfile.mkdtemp(prefix="fg-obs-bench-"))
    embedder = os.environ.get("EMBEDDER", "onnx")
    if embedder == "hashing":
        emb = HashingEmbedder()
    else:
        emb = SentenceTransformerEmbedder(backend="onnx")
        emb.load()
    t = time.perf_counter()
    build_db(tmp / "fg.db", size, emb)
    print(f"registry with {size} sections built in {time.perf_counter() - t:.0f} s; load {os.getloadavg()}")

    s = Settings(database_url=f"sqlite:///{tmp / 'fg.db'}")
    s.server.scheduler = False
    s.conflicts.scan_on_start = False
    s.lookup.warm_up = False
    s.auth.key_file = str(tmp / "first-start-key")  # never the working directory
    s.auth.allowed_hosts = ["testserver"]  # TestClient's Host header
    rt = build_runtime(s)
    with Session(rt.engine) as session:
        _, key = KeyService(session).create("bench agent", "agent")
        session.commit()
    headers = {"Authorization": f"Bearer {key}"}
    t = time.perf_counter()
    rt.extras["lookup"].use_embedder(emb)
    rt.extras["lookup"].warm_up()
    print(f"index of {size} sections ready in {time.perf_counter() - t:.0f} s; load {os.getloadavg()}")
    spans_file = open(tmp / "spans.jsonl", "w")
    plain = TestClient(create_app(runtime=rt), headers=headers)
    s.tracing.enabled, s.tracing.exporter = True, "none"
    provider = tracing.configure(s, processors=[BatchSpanProcessor(ConsoleSpanExporter(
        out=spans_file, formatter=lambda span: span.to_json(indent=None) + "\n"))])
    traced = TestClient(create_app(runtime=rt), headers=headers)
    samples: dict[str, list[float]] = {c: [] for c in CONFIGS}
    cpu: dict[str, list[float]] = {c: [] for c in CONFIGS}  # process CPU seconds per lookup, per block
    loads = []
    with plain, traced:
        for c in (plain, traced):
            block(c, 20, 0)  # warm
        for r in range(rounds):
            order = CONFIGS[r % 3:] + CONFIGS[:r % 3]
            for cfg in order:
                s.metrics.enabled = cfg == "metrics"
                tracing._state["provider"] = provider if cfg == "tracing" else None
                c0 = time.process_time()
                samples[cfg] += block(traced if cfg == "tracing" else plain, requests, r * requests)
                cpu[cfg].append((time.process_time() - c0) / requests)
                loads.append(os.getloadavg()[0])
    tracing._state["provider"] = provider
    tracing.shutdown()
    spans_file.close()
    spans = sum(1 for _ in open(tmp / "spans.jsonl"))
    base = float(np.percentile(samples["base"], 50))
    base_cpu = float(np.median(cpu["base"]))
    rows = []
    for cfg in CONFIGS:
        p50, p99 = (1e3 * float(np.percentile(samples[cfg], p)) for p in (50, 99))
        c = float(np.median(cpu[cfg]))
        rows.append({"config": cfg, "p50_ms": round(p50, 2), "p99_ms": round(p99, 2), "n": len(samples[cfg]),
                     "p50_overhead_pct": round(100 * (p50 / 1e3 - base) / base, 1),
                     "cpu_ms_per_lookup": round(1e3 * c, 2), "cpu_overhead_pct": round(100 * (c - base_cpu) / base_cpu, 1)})
    print(f"size {size} sections, embedder {embedder}, {rounds} rounds x {requests} lookups per config, spans exported: {spans}")
    print(f"load average (1 min) during blocks: min {min(loads):.1f} max {max(loads):.1f}; now {os.getloadavg()}")
    print(f"{'config':10} {'p50 ms':>8} {'p99 ms':>8} {'p50 vs base':>12} {'CPU ms/lookup':>14} {'CPU vs base':>12}")
    for row in rows:
        print(f"{row['config']:10} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['p50_overhead_pct']:>11.1f}% "
              f"{row['cpu_ms_per_lookup']:>14.2f} {row['cpu_overhead_pct']:>11.1f}%")
    m = micro()
    print(f"instrumentation alone (CPU per lookup): metrics {m['metrics_us']:.1f} us; guardrail + retrieval + "
          f"decision spans {m['guardrail_spans_us']:.1f} us (SQL and HTTP spans come on top)")
    out = ROOT / "bench" / "results" / "observability_overhead.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"size": size, "embedder": embedder, "requests": requests, "rounds": rounds, "loads": loads,
                               "spans_exported": spans, "rows": rows,
                               "micro": m}, indent=2))
    print(f"wrote {out}")
    rt.close()


if __name__ == "__main__":
    main()
