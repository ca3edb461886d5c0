"""Run a job exactly once per slot: a UNIQUE (job_id, slot) claim in `job_run`, plus (PostgreSQL)
an advisory lock around the run so a manual run never overlaps a scheduled one.

No APScheduler here: the runner decides *when*, this module decides *whether* and records *how it went*.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from sqlalchemy import func, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from freshgate.errors import Conflict
from freshgate.scheduler.models import JobRun

log = logging.getLogger(__name__)
JobFn = Callable[[Any, datetime], dict]
_local_locks: dict[str, threading.Lock] = {}
_local_guard = threading.Lock()


def runner_id() -> str:
    """Who runs jobs in this process: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


@dataclass
class RunOutcome:
    """What happened to one requested run."""

    job_id: str
    slot: datetime
    status: str  # ok | failed | skipped (lock held) | taken (another process claimed the slot)
    summary: dict | None = None
    error: str | None = None
    run_id: int | None = None


def _jsonable(summary: Any) -> dict:
    data = json.loads(json.dumps(summary if summary is not None else {}, default=str))
    return data if isinstance(data, dict) else {"result": data}


def claim(engine: Engine, job_id: str, slot: datetime, runner: str) -> int | None:
    """Insert the (job_id, slot) claim in its own transaction; its id, or None if already claimed."""
    row = JobRun(job_id=job_id, slot=_utc(slot), started_at=datetime.now(timezone.utc), status="running",
                 runner=runner[:200])
    try:
        with Session(engine) as session:
            session.add(row)
            session.commit()
            return row.id
    except IntegrityError:
        return None


def finish(engine: Engine, run_id: int, status: str, summary: dict | None = None, error: str | None = None) -> None:
    """Record how a claimed run ended."""
    with Session(engine) as session:
        row = session.get(JobRun, run_id)
        row.status, row.summary, row.finished_at = status, summary, datetime.now(timezone.utc)
        row.error = error[:2000] if error else None
        session.commit()


@contextmanager
def job_lock(engine: Engine, job_id: str) -> Iterator[bool]:
    """Try to hold the job's lock for the block; yields False when someone else holds it.

    PostgreSQL: a session advisory lock keyed by schema and job id (held on a dedicated
    autocommit connection), so it spans processes. SQLite: a lock within this process only;
    across processes the unique slot claim still prevents double runs.
    """
    if engine.dialect.name == "postgresql":
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        keys = {"ns": "freshgate-job", "job": job_id}
        got = False
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(hashtext(:ns), "
                                         "hashtext(current_schema() || ':' || :job))"), keys).scalar())
            yield got
        finally:
            if got:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(hashtext(:ns), "
                                      "hashtext(current_schema() || ':' || :job))"), keys)
                except Exception:  # noqa: BLE001 - never return a connection that may still hold the lock
                    conn.invalidate()
            conn.close()
        return
    with _local_guard:
        lock = _local_locks.setdefault(f"{engine.url}:{job_id}", threading.Lock())
    got = lock.acquire(blocking=False)
    try:
        yield got
    finally:
        if got:
            lock.release()


def _execute(rt: Any, fn: JobFn, job_id: str, slot: datetime, run_id: int) -> RunOutcome:
    try:
        summary = _jsonable(fn(rt, slot))
    except Exception as exc:  # noqa: BLE001 - a failing job is recorded, the scheduler keeps going
        log.exception("job %s (slot %s) failed", job_id, slot.isoformat())
        finish(rt.engine, run_id, "failed", error=f"{type(exc).__name__}: {exc}")
        return RunOutcome(job_id, slot, "failed", error=f"{type(exc).__name__}: {exc}", run_id=run_id)
    finish(rt.engine, run_id, "ok", summary=summary)
    log.info("job %s (slot %s) done: %s", job_id, slot.isoformat(), summary)
    return RunOutcome(job_id, slot, "ok", summary=summary, run_id=run_id)


def run_slot(rt: Any, job_id: str, fn: JobFn, slot: datetime, runner: str | None = None) -> RunOutcome:
    """Run a scheduled slot unless another process already claimed it or the job is running now."""
    slot = _utc(slot)
    run_id = claim(rt.engine, job_id, slot, runner or runner_id())
    if run_id is None:
        log.debug("job %s slot %s already claimed elsewhere", job_id, slot.isoformat())
        return RunOutcome(job_id, slot, "taken")
    with job_lock(rt.engine, job_id) as got:
        if not got:
            msg = "another run of this job was in progress"
            finish(rt.engine, run_id, "skipped", error=msg)
            log.warning("job %s slot %s skipped: %s", job_id, slot.isoformat(), msg)
            return RunOutcome(job_id, slot, "skipped", error=msg, run_id=run_id)
        return _execute(rt, fn, job_id, slot, run_id)


def run_now(rt: Any, job_id: str, fn: JobFn, now: datetime | None = None, runner: str | None = None) -> RunOutcome:
    """Run a job by hand now; Conflict if a run of the same job is in progress."""
    now = _utc(now or datetime.now(timezone.utc))
    with job_lock(rt.engine, job_id) as got:
        if not got:
            raise Conflict(f"job {job_id} is running right now; try again when it has finished")
        run_id = claim(rt.engine, job_id, now, (runner or runner_id()) + " (manual)")
        if run_id is None:
            raise Conflict(f"job {job_id} already ran for {now.isoformat()}")
        return _execute(rt, fn, job_id, now, run_id)


def last_runs(engine: Engine) -> dict[str, JobRun]:
    """The most recent run of every job, by job id."""
    with Session(engine) as session:
        latest = select(JobRun.job_id, func.max(JobRun.id).label("id")).group_by(JobRun.job_id).subquery()
        rows = session.exec(select(JobRun).join(latest, JobRun.id == latest.c.id)).all()
        return {r.job_id: r for r in rows}


def runs(engine: Engine, job_id: str | None = None, limit: int = 100) -> list[JobRun]:
    """Recorded runs, newest first."""
    with Session(engine) as session:
        q = select(JobRun)
        if job_id:
            q = q.where(JobRun.job_id == job_id)
        return list(session.exec(q.order_by(JobRun.id.desc()).limit(limit)).all())
