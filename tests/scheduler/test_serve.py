"""`freshgate serve` runs the scheduler in-process by default; `freshgate worker` stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from fastapi.testclient import TestClient

from freshgate.app import build_runtime, create_app
from tests.conftest import make_settings


def test_app_lifespan_starts_and_stops_the_scheduler(database_url):
    settings = make_settings(database_url)
    settings.server.scheduler = True
    rt = build_runtime(settings)
    try:
        with TestClient(create_app(runtime=rt)):
            sched = rt.extras["scheduler"]
            assert sched.running and "sweep" in {j.id for j in sched.get_jobs()}
        assert not sched.running
        settings.server.scheduler = False
        rt.extras.clear()
        with TestClient(create_app(runtime=rt)):
            assert "scheduler" not in rt.extras
    finally:
        rt.close()


def test_worker_process_exits_cleanly_on_sigterm(database_url):
    build_runtime(make_settings(database_url)).close()
    env = {**os.environ, "FRESHGATE_DATABASE_URL": database_url}
    proc = subprocess.Popen([sys.executable, "-m", "freshgate", "worker"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:  # wait until the scheduler is up
        lines.append(line)
        if "worker" in line and "running jobs" in line:
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, "".join(lines) + rest
    assert "sweep" in "".join(lines) and "worker stopped" in rest
