"""How much of a traced lookup's CPU is tracing's own code (issue #13), by sampling, not by difference.

On a shared 2-core machine the interleaved wall-clock comparison (bench/observability_overhead.py)
cannot resolve a 3 % effect once the load average is above ~5. This script instead runs lookups with
tracing on as shipped (every request sampled, HTTP server span + guardrail/retrieval/decision spans,
slow-SQL spans, batched OTLP/JSON file export) and samples every thread of the process with py-spy.
A sample counts as tracing's own when its innermost frames below the application's are OpenTelemetry's
or freshgate.observability's (span start/end, attributes, the export thread's encoding and writing).
It also times the exporter's thread CPU per lookup directly.

py-spy is a profiling tool, not a dependency: `pip install --target /tmp/pyspy py-spy` and
PYSPY=/tmp/pyspy/bin/py-spy (or have `py-spy` on PATH). Uses a registry built by
`DB=path BUILD_ONLY=1 SIZE=100000 bench/observability_overhead.py`.

    DB=path [N=600] [SECONDS=40] python bench/tracing_attribution.py
Table + bench/results/tracing_attribution.json.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import observability_overhead as ob  # noqa: E402

from fastapi.testclient import TestClient  # noqa: E402
from sqlmodel import Session  # noqa: E402

from freshgate.app import build_runtime, create_app  # noqa: E402
from freshgate.auth.service import KeyService  # noqa: E402
from freshgate.config import Settings  # noqa: E402
from freshgate.embeddings.embedder import SentenceTransformerEmbedder  # noqa: E402
from freshgate.observability import span_file, tracing  # noqa: E402

APP_MARKERS = ("freshgate/", "starlette", "fastapi", "sqlalchemy", "onnxruntime", "anyio")


def _is_tracing(frame: str) -> bool:
    return "opentelemetry" in frame or "freshgate/observability" in frame


def attribute(stacks: Path) -> tuple[int, collections.Counter]:
    """(samples, tracing's own samples by outermost tracing function below the application's frames)."""
    total, own = 0, collections.Counter()
    for line in stacks.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames, count = stack.split(";"), int(n)
        total += count
        inner_tracing = max((i for i, f in enumerate(frames) if _is_tracing(f)), default=-1)
        inner_app = max((i for i, f in enumerate(frames) if any(m in f for m in APP_MARKERS) and not _is_tracing(f)),
                        default=-1)
        if inner_tracing > inner_app:
            j = next(i for i in range(inner_app + 1, len(frames)) if _is_tracing(frames[i]))
            name, _, where = frames[j].partition(" (")
            own[f"{name} ({where.split('/')[-1].split(':')[0]})"] += count
    return total, own


def main() -> None:
    if {"-h", "--help"} & set(sys.argv[1:]) or not os.environ.get("DB"):
        print(__doc__)
        return
    pyspy = os.environ.get("PYSPY") or shutil.which("py-spy")
    if not pyspy:
        sys.exit("py-spy not found: pip install --target /tmp/pyspy py-spy; PYSPY=/tmp/pyspy/bin/py-spy")
    n, seconds = int(os.environ.get("N", 600)), int(os.environ.get("SECONDS", 40))
    tmp = Path(tempfile.mkdtemp(prefix="fg-trace-attr-"))
    emb = SentenceTransformerEmbedder(backend="onnx")
    emb.load()
    s = Settings(database_url=f"sqlite:///{os.environ['DB']}")
    s.server.scheduler, s.conflicts.scan_on_start, s.lookup.warm_up, s.metrics.enabled = False, False, False, False
    s.auth.key_file, s.auth.allowed_hosts = str(tmp / "key"), ["testserver"]
    rt = build_runtime(s)
    with Session(rt.engine) as session:
        _, key = KeyService(session).create("bench agent", "agent")
        session.commit()
    rt.extras["lookup"].use_embedder(emb)
    rt.extras["lookup"].warm_up()
    tracing.configure(SimpleNamespace(tracing=s.tracing.model_copy(
        update={"enabled": True, "exporter": "file", "file": str(tmp / "spans.jsonl")})))
    export = {"cpu": 0.0, "spans": 0}
    original = span_file.FileSpanExporter.export

    def timed(self, spans):  # the export thread's own CPU
        t = time.thread_time()
        try:
            return original(self, spans)
        finally:
            export["cpu"] += time.thread_time() - t
            export["spans"] += len(spans)

    span_file.FileSpanExporter.export = timed
    client = TestClient(create_app(runtime=rt), headers={"Authorization": f"Bearer {key}"})
    client.__enter__()
    ob.quiet_clients()
    ob.block(client, 30, 0)  # warm
    tracing._state["provider"].force_flush()
    export.update(cpu=0.0, spans=0)
    stacks = tmp / "stacks.txt"
    spy = subprocess.Popen([pyspy, "record", "-p", str(os.getpid()), "-r", "200", "-d", str(seconds), "-f", "raw",
                            "--nonblocking", "-o", str(stacks)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = threading.Event()
    count = [0]

    def run() -> None:
        while not done.is_set():
            ob.block(client, 20, count[0])
            count[0] += 20

    t0, c0 = time.perf_counter(), time.process_time()
    worker = threading.Thread(target=run)
    worker.start()
    spy.wait()
    done.set()
    worker.join()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    tracing._state["provider"].force_flush()
    lookups = count[0]
    total, own = attribute(stacks)
    share = sum(own.values()) / total if total else 0.0
    load = os.getloadavg()
    print(f"{lookups} traced lookups in {wall:.0f} s (py-spy {seconds} s at 200 Hz, all threads); "
          f"CPU {1e3 * cpu / lookups:.2f} ms per lookup (client included); load average {load[0]:.1f}")
    print(f"{'tracing code':58} {'samples':>8} {'share':>7}")
    for name, c in own.most_common(12):
        print(f"{name[:58]:58} {c:>8} {100 * c / total:>6.2f}%")
    print(f"{'all tracing code':58} {sum(own.values()):>8} {100 * share:>6.2f}%   (of {total} samples)")
    print(f"export thread: {1e6 * export['cpu'] / lookups:.0f} us CPU per lookup for "
          f"{export['spans'] / lookups:.2f} spans per lookup")
    out = ROOT / "bench" / "results" / "tracing_attribution.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"lookups": lookups, "samples": total, "tracing_share": share,
                               "by_function": dict(own.most_common()), "cpu_ms_per_lookup": 1e3 * cpu / lookups,
                               "export_us_per_lookup": 1e6 * export["cpu"] / lookups, "load": load}, indent=2))
    print(f"wrote {out}")
    client.__exit__(None, None, None)
    tracing.shutdown()
    rt.close()


if __name__ == "__main__":
    main()
