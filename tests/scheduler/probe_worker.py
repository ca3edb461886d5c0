"""A worker process for the exactly-once test: runs the real scheduler with one extra `probe` job.

Usage: python probe_worker.py DATABASE_URL OUT_DIR SECONDS
Every execution of the probe job appends "slot pid" to OUT_DIR/executions; every attempt to run
a slot (whether it ran, was taken by the other process, or skipped) appends to OUT_DIR/attempts.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from freshgate.app import build_runtime
from freshgate.config import JobSchedule, Settings
from freshgate.scheduler import runner, service

OUT = Path(sys.argv[2])


def probe(rt, now):
    """The job: a visible side effect per execution, slow enough for the processes to overlap."""
    with open(OUT / "executions", "a") as f:
        f.write(f"{now.isoformat()} {os.getpid()}\n")
    time.sleep(0.2)
    return {"pid": os.getpid()}


def _traced(real):
    def run_slot(rt, job_id, fn, slot, runner_=None):
        outcome = real(rt, job_id, fn, slot, runner_)
        with open(OUT / "attempts", "a") as f:
            f.write(f"{job_id} {outcome.slot.isoformat()} {os.getpid()} {outcome.status}\n")
        return outcome
    return run_slot


def main() -> None:
    """Run the scheduler for SECONDS seconds, then stop."""
    settings = Settings(database_url=sys.argv[1])
    for job_id in runner.JOBS:
        getattr(settings.scheduler, job_id).enabled = False
    settings.scheduler.sweep = JobSchedule(trigger="interval:1s")
    runner.JOBS["probe"] = f"{__name__}:probe"
    settings.scheduler.__dict__["probe"] = JobSchedule(trigger="interval:1s")
    service.run_slot = _traced(service.run_slot)
    rt = build_runtime(settings, migrate=False)
    stop = threading.Event()
    threading.Timer(float(sys.argv[3]), stop.set).start()
    try:
        runner.run_worker(rt, stop)
    finally:
        rt.close()


if __name__ == "__main__":
    main()
