"""Lookup latency in the container vs on the host, same run, same client, interleaved blocks.

The image (IMAGE, default freshgate:test, built by scripts/container-test) serves the examples on a
published port; the host runs `freshgate serve` from this tree on a SQLite file with the same examples
and the ONNX backend. The container starts first and is polled from `docker run` until /readyz is 200,
then the host server the same way (one at a time, so neither start-up competes with the other). Each side's
first-start operator key is read from its key file. Then ROUNDS x REQUESTS sequential lookups per side
alternate. Wall p50/p99 per side, server CPU per lookup (utime+stime of the server process, read from
/proc on the host for both: the container's process is visible there), image size, load average.
Table + bench/results/container_latency.json.

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


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def block(client: httpx.Client, n: int, offset: int) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        client.post("/v1/lookup", json={"query": QUERIES[(offset + i) % len(QUERIES)]}).raise_for_status()
        out.append(time.perf_counter() - t)
    return out


def container_key(name: str) -> str:
    return subprocess.run(["docker", "exec", name, "cat", "/var/lib/freshgate/.freshgate-key"], check=True,
                          capture_output=True, text=True).stdout.strip()


def main() -> None:
    image = os.environ.get("IMAGE", "freshgate:test")
    requests, rounds = int(os.environ.get("REQUESTS", 100)), int(os.environ.get("ROUNDS", 4))
    size_mb = int(subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", image], check=True,
                                 capture_output=True, text=True).stdout) / 1e6
    tmp = Path(tempfile.mkdtemp(prefix="fg-ct-bench-"))
    cport, hport = free_port(), free_port()
    name = f"fg-bench-{os.getpid()}"
    env = {**os.environ, "FRESHGATE_DATABASE_URL": f"sqlite:///{tmp / 'host.db'}", "FRESHGATE_SERVER__SCHEDULER": "false",
           "FRESHGATE_EMBEDDING__BACKEND": "onnx", "FRESHGATE_AUTH__KEY_FILE": str(tmp / "key")}
    host = None
    load_at_start = os.getloadavg()
    try:
        t0 = time.monotonic()
        subprocess.run(["docker", "run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1:{cport}:8080", image],
                       check=True, capture_output=True)
        ready = {"container": wait_ready(f"http://127.0.0.1:{cport}", t0)}
        h0 = time.monotonic()
        host = subprocess.Popen([sys.executable, "-m", "freshgate", "serve", "--port", str(hport), "--sync",
                                 str(ROOT / "sources"), "--sync", str(ROOT / "sop_cards")], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ready["host"] = wait_ready(f"http://127.0.0.1:{hport}", h0)
        keys = {"container": container_key(name), "host": (tmp / "key").read_text().strip()}
        pids = {"container": int(subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", name], check=True,
                                                capture_output=True, text=True).stdout), "host": host.pid}
        clients = {k: httpx.Client(base_url=f"http://127.0.0.1:{p}", timeout=60,
                                   headers={"Authorization": f"Bearer {keys[k]}"})
                   for k, p in (("container", cport), ("host", hport))}
        samples = {k: [] for k in clients}
        cpu = {k: 0.0 for k in clients}
        loads = []
        for k, c in clients.items():
            block(c, 20, 0)  # warm-up: index and model caches
        for r in range(rounds):
            for k in (("container", "host") if r % 2 == 0 else ("host", "container")):
                c0 = cpu_seconds(pids[k])
                samples[k] += block(clients[k], requests, r * requests)
                cpu[k] += cpu_seconds(pids[k]) - c0
                loads.append(os.getloadavg()[0])
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        if host is not None:
            host.terminate()
            host.wait(30)
    rows = [{"where": k, "p50_ms": round(1e3 * float(np.percentile(v, 50)), 2),
             "p99_ms": round(1e3 * float(np.percentile(v, 99)), 2), "n": len(v),
             "server_cpu_ms_per_lookup": round(1e3 * cpu[k] / len(v), 2),
             "start_to_ready_s": round(ready[k], 1)} for k, v in samples.items()]
    print(f"image {image}: {size_mb:.0f} MB; {rounds} rounds x {requests} sequential lookups per side "
          "(examples, ONNX, auth on)")
    print(f"load average at start {load_at_start}; 1-min load during blocks: min {min(loads):.1f} "
          f"max {max(loads):.1f}; now {os.getloadavg()}")
    print(f"{'where':10} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms/op':>10} {'start->ready s':>15}")
    for row in rows:
        print(f"{row['where']:10} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['server_cpu_ms_per_lookup']:>10.2f} "
              f"{row['start_to_ready_s']:>15.1f}")
    print("start->ready: container from `docker run`, host from spawning `freshgate serve`; both sync and embed "
          "the examples into an empty database first")
    out = ROOT / "bench" / "results" / "container_latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"image": image, "image_mb": round(size_mb), "load_at_start": load_at_start,
                               "loads": loads, "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
