"""Overhead of Prometheus metrics and OpenTelemetry tracing on lookup latency, interleaved in one process.

One SQLite registry: the example knowledge base (real embeddings) plus generated sections up to SIZE
(bench/lookup_latency.py's generator), the real model on ONNX Runtime. Six configurations, each measured
per round as a block of sequential POST /v1/lookup through the ASGI app (TestClient, so the FastAPI
instrumentation is included):
  none             metrics and tracing off
  metrics          metrics on, tracing off
  tracing          tracing on as shipped (sql = slow, sample_ratio 1.0): HTTP server + guardrail spans
  tracing_sampled  the same at sample_ratio SAMPLE (0.1): the production setting
  tracing_all      sql = all: a span per SQL statement (debugging)
  tracing_small_batch  as `tracing` with export batches of 64 spans / 200 ms instead of 512 / 5 s
Tracing configurations export through a BatchSpanProcessor to an OTLP/JSON-lines file each (EXPORTER=file,
the default) or over OTLP/HTTP to a local sink process standing in for a collector (EXPORTER=otlp); the
tracing configurations have metrics off, so each row is one feature's overhead against `none`.
Only the configuration being measured is active: the others' providers are swapped out (no leaked SQL spans).
Rounds rotate the order. Besides wall p50/p99, the process CPU time per lookup (median over blocks,
export thread included) is reported: on a shared, overloaded machine it is the steadier measure.
Table + bench/results/observability_overhead.json.

Auth is on (as deployed): the clients send an agent key, so the key check is in every configuration alike.
EMBEDDER=hashing swaps the model for the deterministic hashing embedder (a cheaper base, so the same
absolute overhead shows as a larger percentage). DB=path keeps the generated registry (and its index
snapshot) there and reuses it on the next run; BUILD_ONLY=1 builds it and stops (do that outside the bench lock).

    python bench/observability_overhead.py [SIZE=10000] [REQUESTS=150] [ROUNDS=5] [EMBEDDER=onnx|hashing]
                                           [SAMPLE=0.1] [EXPORTER=file|otlp] [DB=path] [BUILD_ONLY=1]
                                           [CONFIGS=none,metrics,tracing,...] [SETTLE=1|0]
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from lookup_latency import QUERIES, build_db  # noqa: E402

from fastapi.testclient import TestClient  # noqa: E402
from sqlmodel import Session  # noqa: E402

from freshgate import heap  # noqa: E402
from freshgate.app import build_runtime, create_app  # noqa: E402
from freshgate.config import Settings  # noqa: E402
from freshgate.auth.service import KeyService  # noqa: E402
from freshgate.embeddings.embedder import HashingEmbedder, SentenceTransformerEmbedder  # noqa: E402
from freshgate.observability import tracing  # noqa: E402

ALL_CONFIGS = ("none", "metrics", "tracing", "tracing_sampled", "tracing_all", "tracing_small_batch")
# tracing_small_batch: export batches of 64 spans or 200 ms instead of the shipped 512 / 5 s (the SDK's defaults):
# fewer spans wait in the queue as GC-tracked objects, at the cost of more export wake-ups
# CONFIGS=none,metrics,tracing spends the rounds on fewer configurations ("none" is always measured)
CONFIGS = tuple(["none"] + [c for c in os.environ.get("CONFIGS", ",".join(ALL_CONFIGS)).split(",")
                            if c in ALL_CONFIGS and c != "none"])
SINK_PORT = 8351  # EXPORTER=otlp: the local OTLP/HTTP sink (this helper's port range 8350-8399)


def quiet_clients() -> None:
    """No log line per request: Starlette's TestClient runs on `httpx2` (its own logger), and MCP's start-up
    sets the root logger to INFO with a rich handler, whose per-request line would dilute every overhead."""
    for name in ("httpx", "httpx2"):
        logging.getLogger(name).setLevel(logging.WARNING)


quiet_clients()


def paired(blocks: list[float], base: list[float], seed: int = 7) -> dict:
    """Per-round overhead against the same round's baseline block: median and a bootstrap 95 % interval."""
    ratios = np.array(blocks) / np.array(base) - 1
    rng = np.random.default_rng(seed)
    boot = np.median(rng.choice(ratios, size=(2000, len(ratios))), axis=1)
    return {"paired_pct": round(100 * float(np.median(ratios)), 2),
            "paired_ci": [round(100 * float(np.percentile(boot, q)), 2) for q in (2.5, 97.5)]}


def thread_cpu() -> dict[str, float]:
    """CPU seconds so far of this process's threads, grouped: the bench client (main), Python threads by name
    (the ASGI portal, anyio's request workers, the span exporter, the receipt writer) and native threads
    (ONNX Runtime's pool). Python 3.11 does not name OS threads, so names come from threading.enumerate()."""
    import threading

    names = {t.native_id: t.name for t in threading.enumerate()}
    main_id = threading.main_thread().native_id
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            fields = open(f"/proc/self/task/{tid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended in between
        name = names.get(int(tid))
        group = ("main" if int(tid) == main_id else "native" if name is None else
                 "span export" if name.startswith("OtelBatch") else "anyio worker" if "AnyIO" in name else
                 "receipts" if "receipt" in name.lower() else name.split("-")[0].split(" ")[0])
        out[group] = out.get(group, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


class GcClock:
    """Seconds spent in garbage collections, and their count per generation (gc.callbacks)."""

    def __init__(self) -> None:
        import gc

        self.seconds, self.count, self._t = 0.0, [0, 0, 0], 0.0
        gc.callbacks.append(self._cb)

    def _cb(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._t
            self.count[info["generation"]] += 1


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
            with tracing.stage("retrieval", {"gen_ai.request.top_k": 5}):
                pass
            with tracing.stage("decision"):
                pass
            tracing.record_decision(span, d, cites, [], "r-1")
        if i % 1000 == 0:
            exporter.clear()
    out["guardrail_spans_us"] = 1e6 * (time.process_time() - t) / (n // 4)
    tracing.shutdown()
    return out


def sink() -> tuple[subprocess.Popen, Path]:
    """A local OTLP/HTTP endpoint in its own process: reads each POST /v1/traces, answers 200, counts bytes."""
    log = Path(tempfile.mkdtemp(prefix="fg-otlp-sink-")) / "bytes"
    code = f"""
import http.server
class H(http.server.BaseHTTPRequestHandler):
    n = 0
    def do_POST(self):
        H.n += len(self.rfile.read(int(self.headers.get('content-length', 0))))
        open({str(log)!r}, 'w').write(str(H.n))
        self.send_response(200); self.send_header('content-length', '0'); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(('127.0.0.1', {SINK_PORT}), H).serve_forever()
"""
    p = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(1.0)
    return p, log


def tracing_states(s: Settings, tmp: Path, exporter: str, sample: float) -> dict[str, dict]:
    """tracing._state for each tracing configuration (a provider of its own, exporting in batches)."""
    states = {}
    for cfg, over in {"tracing": {}, "tracing_sampled": {"sample_ratio": sample},
                      "tracing_all": {"sql": "all"}, "tracing_small_batch": {"batch_size": 64, "batch_delay_ms": 200}}.items():
        ts = s.tracing.model_copy(update={"enabled": True, "exporter": exporter, "file": str(tmp / f"{cfg}.jsonl"),
                                          "endpoint": f"http://127.0.0.1:{SINK_PORT}/v1/traces", **over})
        tracing.configure(SimpleNamespace(tracing=ts))
        states[cfg] = dict(tracing._state)
    return states


def main() -> None:
    if {"-h", "--help"} & set(sys.argv[1:]):  # settings come from the environment; never start a run here
        print(__doc__)
        return
    size = int(os.environ.get("SIZE", 10000))
    requests = int(os.environ.get("REQUESTS", 150))
    rounds = int(os.environ.get("ROUNDS", 5))
    sample = float(os.environ.get("SAMPLE", 0.1))
    exporter = os.environ.get("EXPORTER", "file")
    tmp = Path(tempfile.mkdtemp(prefix="fg-obs-bench-"))
    db_path = Path(os.environ["DB"]) if os.environ.get("DB") else tmp / "fg.db"
    embedder = os.environ.get("EMBEDDER", "onnx")
    if embedder == "hashing":
        emb = HashingEmbedder()
    else:
        emb = SentenceTransformerEmbedder(backend="onnx")
        emb.load()
    if not db_path.exists():
        t = time.perf_counter()
        build_db(db_path, size, emb)
        print(f"registry with {size} sections built in {time.perf_counter() - t:.0f} s; load {os.getloadavg()}")

    s = Settings(database_url=f"sqlite:///{db_path}")
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
    if os.environ.get("BUILD_ONLY"):
        rt.close()
        return
    collector = sink() if exporter == "otlp" else None
    off = {"provider": None, "tracer": None}
    states = tracing_states(s, tmp, exporter, sample)
    clients = {}
    for cfg in CONFIGS:  # each app is built (and instrumented) under its own configuration
        tracing._state.update(states.get(cfg, off))
        clients[cfg] = TestClient(create_app(runtime=rt), headers=headers)
        clients[cfg].__enter__()  # lifespan: the engine's statement timing is installed once, by a tracing app
    samples: dict[str, list[float]] = {c: [] for c in CONFIGS}
    block_p50: dict[str, list[float]] = {c: [] for c in CONFIGS}  # per round: paired with "none" of that round
    cpu: dict[str, list[float]] = {c: [] for c in CONFIGS}  # process CPU seconds per lookup, per block
    loads = []
    threads: dict[str, list[dict[str, float]]] = {c: [] for c in CONFIGS}  # per block: CPU ms per lookup by thread
    gcs: dict[str, list[tuple[float, list[int]]]] = {c: [] for c in CONFIGS}  # per block: GC ms per lookup, counts
    gclock = GcClock()
    quiet_clients()
    for cfg in CONFIGS:
        tracing._state.update(states.get(cfg, off))
        block(clients[cfg], 20, 0)  # warm
    if os.environ.get("SETTLE", "1") == "1":  # as a server does once its index is ready (server.gc_freeze)
        print(f"heap settled: {heap.settle()}")
    for r in range(rounds):
        order = CONFIGS[r % len(CONFIGS):] + CONFIGS[:r % len(CONFIGS)]
        for cfg in order:
            s.metrics.enabled = cfg == "metrics"
            tracing._state.update(states.get(cfg, off))
            for st in states.values():  # drain every exporter queue outside the blocks
                st["provider"].force_flush()
            c0, t0, g0, n0 = time.process_time(), thread_cpu(), gclock.seconds, list(gclock.count)
            got = block(clients[cfg], requests, r * requests)
            t1 = thread_cpu()
            threads[cfg].append({k: 1e3 * (v - t0.get(k, 0.0)) / requests for k, v in t1.items()})
            gcs[cfg].append((1e3 * (gclock.seconds - g0) / requests, [a - b for a, b in zip(gclock.count, n0)]))
            samples[cfg] += got
            block_p50[cfg].append(float(np.percentile(got, 50)))
            cpu[cfg].append((time.process_time() - c0) / requests)
            loads.append(os.getloadavg()[0])
    tracing._state.update(off)
    for c in clients.values():
        c.__exit__(None, None, None)
    spans = {}
    for cfg, st in states.items():
        st["provider"].shutdown()
        if exporter == "file" and (tmp / f"{cfg}.jsonl").exists():
            spans[cfg] = sum(len(sp["spans"]) for line in open(tmp / f"{cfg}.jsonl")
                             for rs in json.loads(line)["resourceSpans"] for sp in rs["scopeSpans"])
    tracing._state.update(states["tracing"])
    tracing.shutdown()  # removes the statement timing from the engine
    if collector is not None:
        collector[0].terminate()
        collector[0].wait()
        spans = {"bytes_received_by_sink": int(collector[1].read_text() or 0)}
    base = float(np.percentile(samples["none"], 50))
    base_cpu = float(np.median(cpu["none"]))
    rows = []
    for cfg in CONFIGS:
        p50, p99 = (1e3 * float(np.percentile(samples[cfg], p)) for p in (50, 99))
        c = float(np.median(cpu[cfg]))
        rows.append({"config": cfg, "p50_ms": round(p50, 2), "p99_ms": round(p99, 2), "n": len(samples[cfg]),
                     "p50_overhead_pct": round(100 * (p50 / 1e3 - base) / base, 1),
                     "cpu_ms_per_lookup": round(1e3 * c, 2), "cpu_overhead_pct": round(100 * (c - base_cpu) / base_cpu, 1),
                     **paired(block_p50[cfg], block_p50["none"]),
                     **{f"cpu_{k}": v for k, v in paired(cpu[cfg], cpu["none"]).items()}})
    print(f"size {size} sections, embedder {embedder}, exporter {exporter}, sample_ratio {sample} (tracing_sampled), "
          f"{rounds} rounds x {requests} lookups per config; spans exported: {spans}")
    print(f"load average (1 min) during blocks: min {min(loads):.1f} max {max(loads):.1f}; now {os.getloadavg()}")
    print(f"{'config':16} {'p50 ms':>8} {'p99 ms':>8} {'p50 vs none':>12} {'CPU ms/lookup':>14} {'CPU vs none':>12}"
          f" {'paired p50 (95% CI)':>22} {'paired CPU (95% CI)':>22}")
    for row in rows:
        print(f"{row['config']:16} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['p50_overhead_pct']:>11.1f}% "
              f"{row['cpu_ms_per_lookup']:>14.2f} {row['cpu_overhead_pct']:>11.1f}% "
              f"{row['paired_pct']:>+7.1f}% [{row['paired_ci'][0]:+.1f}, {row['paired_ci'][1]:+.1f}]"
              f" {row['cpu_paired_pct']:>+7.1f}% [{row['cpu_paired_ci'][0]:+.1f}, {row['cpu_paired_ci'][1]:+.1f}]")
    print("paired p50: median over rounds of (block p50 / the same round's 'none' block p50) - 1, with a bootstrap "
          "95 % interval over rounds; neighbouring blocks share the machine's state, so drift cancels")
    groups = sorted({k for c in CONFIGS for b in threads[c] for k in b})
    print("CPU ms per lookup by thread (median over blocks; ticks of 10 ms, so small figures are coarse), and GC:")
    print(f"{'config':16} " + " ".join(f"{g[:12]:>12}" for g in groups) + f" {'GC ms':>7} {'GC gen0/1/2 per 100':>20}")
    for cfg in CONFIGS:
        med = {g: float(np.median([b.get(g, 0.0) for b in threads[cfg]])) for g in groups}
        gc_ms = float(np.median([g[0] for g in gcs[cfg]]))
        per100 = [round(100 * sum(g[1][i] for g in gcs[cfg]) / (requests * len(gcs[cfg])), 1) for i in range(3)]
        print(f"{cfg:16} " + " ".join(f"{med[g]:>12.2f}" for g in groups) + f" {gc_ms:>7.3f} {str(per100):>20}")
        for row in rows:
            if row["config"] == cfg:
                row.update(thread_cpu_ms=med, gc_ms_per_lookup=round(gc_ms, 3), gc_per_100_lookups=per100)
    m = micro()
    print(f"instrumentation alone (CPU per lookup): metrics {m['metrics_us']:.1f} us; guardrail + retrieval + "
          f"decision spans {m['guardrail_spans_us']:.1f} us (HTTP and slow-SQL spans come on top)")
    out = ROOT / "bench" / "results" / "observability_overhead.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"size": size, "embedder": embedder, "exporter": exporter, "sample_ratio": sample,
                               "requests": requests, "rounds": rounds, "loads": loads, "spans_exported": spans,
                               "rows": rows, "micro": m}, indent=2))
    print(f"wrote {out}")
    rt.close()


if __name__ == "__main__":
    main()
