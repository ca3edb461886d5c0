"""Lookup latency in the container vs on the host, same run, same client, interleaved blocks.

The image (IMAGE, default freshgate:test, built by scripts/container-test) serves the examples on a
published port; the host runs `freshgate serve` from this tree on a SQLite file with the same examples
and the ONNX backend. Both are polled until /readyz is 200 (start-to-ready is reported), then ROUNDS x
REQUESTS sequential lookups per side alternate. Table + bench/results/container_latency.json.

    python bench/container_latency.py [IMAGE=freshgate:test] [REQUESTS=100] [ROUNDS=4]
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from lookup_latency import QUERIES  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(base: str, t0: float, limit: float = 1200) -> float:
    while time.monotonic() - t0 < limit:
        try:
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                return time.monotonic() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{base} not ready after {limit}s")


def block(client: httpx.Client, n: int, offset: int) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        client.post("/v1/lookup", json={"query": QUERIES[(offset + i) % len(QUERIES)]}).raise_for_status()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    image = os.environ.get("IMAGE", "freshgate:test")
    requests, rounds = int(os.environ.get("REQUESTS", 100)), int(os.environ.get("ROUNDS", 4))
    tmp = Path(tempfile.mkdtemp(prefix="fg-ct-bench-"))
    cport, hport = free_port(), free_port()
    name = f"fg-bench-{os.getpid()}"
    t0 = time.monotonic()
    subprocess.run(["docker", "run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1:{cport}:8080", image],
                   check=True, capture_output=True)
    env = {**os.environ, "FRESHGATE_DATABASE_URL": f"sqlite:///{tmp / 'host.db'}", "FRESHGATE_SERVER__SCHEDULER": "false",
           "FRESHGATE_EMBEDDING__BACKEND": "onnx"}
    h0 = time.monotonic()
    host = subprocess.Popen([sys.executable, "-m", "freshgate", "serve", "--port", str(hport), "--sync",
                             str(ROOT / "sources"), "--sync", str(ROOT / "sop_cards")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ready = {"container": wait_ready(f"http://127.0.0.1:{cport}", t0),
                 "host": wait_ready(f"http://127.0.0.1:{hport}", h0)}
        clients = {"container": httpx.Client(base_url=f"http://127.0.0.1:{cport}", timeout=60),
                   "host": httpx.Client(base_url=f"http://127.0.0.1:{hport}", timeout=60)}
        samples = {k: [] for k in clients}
        loads = []
        for k, c in clients.items():
            block(c, 20, 0)
        for r in range(rounds):
            for k in (("container", "host") if r % 2 == 0 else ("host", "container")):
                samples[k] += block(clients[k], requests, r * requests)
                loads.append(os.getloadavg()[0])
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        host.terminate()
        host.wait(30)
    rows = [{"where": k, "p50_ms": round(1e3 * float(np.percentile(v, 50)), 2),
             "p99_ms": round(1e3 * float(np.percentile(v, 99)), 2), "n": len(v),
             "start_to_ready_s": round(ready[k], 1)} for k, v in samples.items()]
    print(f"image {image}; {rounds} rounds x {requests} sequential lookups per side (examples, ONNX)")
    print(f"load average (1 min) during blocks: min {min(loads):.1f} max {max(loads):.1f}; now {os.getloadavg()}")
    print(f"{'where':10} {'p50 ms':>8} {'p99 ms':>8} {'start->ready s':>15}")
    for row in rows:
        print(f"{row['where']:10} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['start_to_ready_s']:>15.1f}")
    out = ROOT / "bench" / "results" / "container_latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"image": image, "loads": loads, "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
