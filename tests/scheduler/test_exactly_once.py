"""Two real worker processes on one database (PostgreSQL, and a SQLite file): every slot runs exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from sqlmodel import Session, select

from freshgate.app import build_runtime
from freshgate.scheduler.models import JobRun
from tests.conftest import make_settings

PROBE = Path(__file__).with_name("probe_worker.py")


@pytest.mark.timeout(120)
def test_two_worker_processes_run_each_slot_exactly_once(database_url, tmp_path):
    build_runtime(make_settings(database_url)).close()  # migrate once, before the workers start
    env = {**os.environ, "PYTHONPATH": str(PROBE.parent)}
    procs = [subprocess.Popen([sys.executable, str(PROBE), database_url, str(tmp_path), "6"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)]
    logs = [p.communicate(timeout=90)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs

    executions = Counter(line.split()[0] for line in (tmp_path / "executions").read_text().splitlines())
    attempts = defaultdict(list)
    for line in (tmp_path / "attempts").read_text().splitlines():
        job, slot, pid, status = line.split()
        attempts[(job, slot)].append((pid, status))
    contested = {k: v for k, v in attempts.items() if len({pid for pid, _ in v}) == 2}
    # Both processes really competed for the same slots (otherwise the test proves nothing) ...
    assert len([k for k in contested if k[0] == "probe"]) >= 2, attempts
    # ... and the side effect happened exactly once per slot, whoever won.
    assert executions and set(executions.values()) == {1}, executions
    for (job, slot), tries in attempts.items():
        assert sum(status == "ok" for _, status in tries) == 1, (job, slot, tries)
        if len(tries) == 2:
            assert sorted(status for _, status in tries) == ["ok", "taken"], (job, slot, tries)
    probe_slots = {slot for job, slot in attempts if job == "probe"}
    assert set(executions) == probe_slots

    rt = build_runtime(make_settings(database_url), migrate=False)
    try:
        with Session(rt.engine) as s:
            rows = s.exec(select(JobRun)).all()
    finally:
        rt.close()
    per_slot = Counter((r.job_id, r.slot) for r in rows)
    assert set(per_slot.values()) == {1}
    assert {r.status for r in rows} == {"ok"}
    assert len({r.runner for r in rows}) == 2  # both processes won some slots
