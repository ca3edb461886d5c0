"""Real `freshgate` processes for the feed tests: spawn, wait for readiness, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import temp_key_file
from tests.lookup.live import free_port


def env_for(database_url: str, **extra: str) -> dict[str, str]:
    """Environment of a child process: the test database, the hashing embedder, no scheduler, fast feed."""
    return {**os.environ, "FRESHGATE_DATABASE_URL": database_url, "FRESHGATE_EMBEDDING__KIND": "hashing",
            "FRESHGATE_SERVER__SCHEDULER": "false", "FRESHGATE_CONFLICTS__SCAN_ON_START": "false",
            "FRESHGATE_LOOKUP__RELEVANCE_THRESHOLD": "0.2", "FRESHGATE_FEED__POLL_INTERVAL": "0.2",
            "FRESHGATE_AUTH__KEY_FILE": temp_key_file(), **extra}  # a first-start key never lands in the work tree


def start_serve(database_url: str, log: Path, **extra: str) -> tuple[subprocess.Popen, str]:
    """Start `freshgate serve` on a free port; (process, base URL)."""
    port = free_port()
    out = open(log, "ab")
    proc = subprocess.Popen([sys.executable, "-m", "freshgate", "serve", "--port", str(port)],
                            env=env_for(database_url, **extra), stdout=out, stderr=subprocess.STDOUT)
    out.close()
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(proc: subprocess.Popen, base: str, log: Path, timeout: float = 120) -> dict:
    """Poll /healthz until the server answers with a ready index; its body."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            r = httpx.get(base + "/healthz", timeout=2)
            body = r.json()
            if r.status_code == 200 and body.get("lookup", {}).get("index") == "ready":
                return body
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"server not ready in {timeout}s:\n{log.read_text(errors='replace')[-4000:]}")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextmanager
def servers(database_url: str, tmp: Path, n: int = 1, **extra: str):
    """`n` serve processes started at once; yields their base URLs once all are ready."""
    started = [start_serve(database_url, tmp / f"serve{i}.log", **extra) for i in range(n)]
    try:
        for i, (proc, base) in enumerate(started):
            wait_ready(proc, base, tmp / f"serve{i}.log")
        yield [base for _proc, base in started]
    finally:
        for proc, _base in started:
            stop(proc)


def cli(database_url: str, *args: str, cwd: Path | None = None, **extra: str) -> subprocess.CompletedProcess:
    """Run one `freshgate` command to completion."""
    return subprocess.run([sys.executable, "-m", "freshgate", *args], env=env_for(database_url, **extra),
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def operator_key(database_url: str) -> dict[str, str]:
    """Headers of an operator key made with the real `freshgate keys create` (the API needs a credential)."""
    r = cli(database_url, "keys", "create", "--role", "operator", "--label", "feed-test")
    assert r.returncode == 0, r.stdout + r.stderr
    return {"Authorization": f"Bearer {r.stdout.strip().splitlines()[-1]}"}
