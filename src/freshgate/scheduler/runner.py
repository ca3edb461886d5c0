"""APScheduler wiring: the job table, triggers from settings, and the one-runner-per-slot executor.

Every job function has the signature `fn(rt, now) -> dict`. A scheduled run passes the slot
(the scheduled fire time) as `now`; interval triggers are anchored at a fixed epoch so every
process computes the same slots, and `service.run_slot` lets exactly one of them run each slot.
"""

from __future__ import annotations

import importlib
import logging
import re
import signal
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Callable

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from freshgate.errors import Invalid, NotFound
from freshgate.scheduler import service

if TYPE_CHECKING:
    from freshgate.runtime import Runtime
    from freshgate.config import JobSchedule

log = logging.getLogger(__name__)
# Interval slots are counted from here, identically in every process.
EPOCH = datetime(2020, 1, 1, tzinfo=timezone.utc)
JOBS: dict[str, str] = {
    "sweep": "freshgate.freshness.jobs:sweep",
    "remote_refresh": "freshgate.remote.jobs:refresh",
    "conflict_scan": "freshgate.conflicts.jobs:full_scan",
    "review_report": "freshgate.reports.jobs:weekly_review",
    "notify": "freshgate.notify.jobs:notify_changes",
    "owed_work": "freshgate.feed.jobs:complete_owed",
    "feed_prune": "freshgate.feed.jobs:prune",
    "decision_rollup": "freshgate.reports.jobs:decision_rollup",
}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_trigger(spec: str, tz: str = "UTC") -> BaseTrigger:
    """`interval:15m` or `cron:0 8 * * mon` -> an APScheduler trigger; Invalid otherwise."""
    kind, _, rest = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "interval":
        m = _INTERVAL.match(rest)
        if not m or float(m.group(1)) <= 0:
            raise Invalid(f"trigger {spec!r}: expected interval:<n><s|m|h|d|w>, e.g. interval:15m")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
        return IntervalTrigger(seconds=seconds, start_date=EPOCH, timezone=timezone.utc)
    if kind == "cron":
        try:
            return CronTrigger.from_crontab(rest.strip(), timezone=tz)
        except ValueError as exc:
            raise Invalid(f"trigger {spec!r}: {exc}") from None
    raise Invalid(f"trigger {spec!r}: must start with interval: or cron:")


def resolve(job_id: str) -> Callable | None:
    """The job function named in JOBS, or None when its module is not installed (yet)."""
    if job_id not in JOBS:
        raise NotFound(f"no job named {job_id!r}; known jobs: {', '.join(JOBS)}")
    module, _, attr = JOBS[job_id].partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None
        raise
    except AttributeError:
        return None


@dataclass
class JobInfo:
    """One job as `freshgate jobs list` shows it."""

    id: str
    target: str
    trigger: str
    enabled: bool
    available: bool
    last_run: datetime | None
    last_status: str | None
    next_run: datetime | None

    def as_dict(self) -> dict:
        """JSON-able form."""
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}


def schedule_of(rt: "Runtime", job_id: str) -> "JobSchedule":
    """The configured schedule of a job."""
    return getattr(rt.settings.scheduler, job_id)


def list_jobs(rt: "Runtime", now: datetime | None = None) -> list[JobInfo]:
    """Every known job with its trigger, on/off, last run and next run."""
    now = now or datetime.now(timezone.utc)
    last = service.last_runs(rt.engine)
    out = []
    for job_id, target in JOBS.items():
        sch = schedule_of(rt, job_id)
        available = resolve(job_id) is not None
        nxt = None
        if sch.enabled and available:
            nxt = parse_trigger(sch.trigger, rt.settings.scheduler.timezone).get_next_fire_time(None, now)
        run = last.get(job_id)
        out.append(JobInfo(job_id, target, sch.trigger, sch.enabled, available,
                           run.started_at if run else None, run.status if run else None, nxt))
    return out


def run_job_now(rt: "Runtime", job_id: str, now: datetime | None = None) -> service.RunOutcome:
    """Run one job by hand (even if disabled in the schedule)."""
    fn = resolve(job_id)
    if fn is None:
        raise NotFound(f"job {job_id!r} is not available: {JOBS[job_id]} is not installed")
    return service.run_now(rt, job_id, fn, now)


def _run_with_slot(job, jobstore_alias, run_times, logger_name):
    """Like apscheduler's run_job, but hands each scheduled fire time to the job as its slot."""
    events = []
    for run_time in run_times:
        if job.misfire_grace_time is not None and \
                datetime.now(timezone.utc) - run_time > timedelta(seconds=job.misfire_grace_time):
            events.append(JobExecutionEvent(EVENT_JOB_MISSED, job.id, jobstore_alias, run_time))
            log.warning("job %s missed its slot %s", job.id, run_time.isoformat())
            continue
        try:
            retval = job.func(*job.args, slot=run_time, **job.kwargs)
        except BaseException as exc:  # noqa: BLE001 - reported to the scheduler like run_job does
            events.append(JobExecutionEvent(EVENT_JOB_ERROR, job.id, jobstore_alias, run_time, exception=exc,
                                            traceback=""))
        else:
            events.append(JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, jobstore_alias, run_time, retval=retval))
    return events


class SlotExecutor(ThreadPoolExecutor):
    """A thread-pool executor whose jobs learn which slot they run for."""

    def _do_submit_job(self, job, run_times):
        def callback(f):
            exc = f.exception()
            if exc:
                self._run_job_error(job.id, exc, getattr(exc, "__traceback__", None))
            else:
                self._run_job_success(job.id, f.result())

        self._pool.submit(_run_with_slot, job, job._jobstore_alias, run_times, self._logger.name) \
            .add_done_callback(callback)


def build_scheduler(rt: "Runtime") -> BackgroundScheduler:
    """A scheduler with every enabled, installed job (not started)."""
    cfg = rt.settings.scheduler
    sched = BackgroundScheduler(
        timezone=cfg.timezone, executors={"default": SlotExecutor(max_workers=len(JOBS))},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": cfg.misfire_grace_seconds},
    )
    runner = service.runner_id()
    for job_id in JOBS:
        sch = schedule_of(rt, job_id)
        if not sch.enabled:
            log.info("job %s is disabled", job_id)
            continue
        fn = resolve(job_id)
        if fn is None:
            log.info("job %s skipped: %s is not installed", job_id, JOBS[job_id])
            continue
        trigger = parse_trigger(sch.trigger, cfg.timezone)

        def call(slot=None, _job_id=job_id, _fn=fn):
            return service.run_slot(rt, _job_id, _fn, slot or datetime.now(timezone.utc), runner)

        sched.add_job(call, trigger, id=job_id, name=job_id, replace_existing=True)
        log.info("job %s scheduled: %s", job_id, sch.trigger)
    return sched


def start_for_app(rt: "Runtime") -> Callable[[], None]:
    """Start the in-process scheduler if `server.scheduler` is on; returns the function that stops it."""
    if not rt.settings.server.scheduler:
        return lambda: None
    sched = build_scheduler(rt)
    sched.start()
    rt.extras["scheduler"] = sched
    return lambda: sched.shutdown(wait=True)


def run_worker(rt: "Runtime", stop: threading.Event | None = None) -> None:
    """Run the scheduled jobs until SIGINT/SIGTERM (or `stop` is set); blocks."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    sched = build_scheduler(rt)
    sched.start()
    log.info("worker %s running jobs: %s", service.runner_id(), ", ".join(j.id for j in sched.get_jobs()) or "none")
    try:
        stop.wait()
    finally:
        sched.shutdown(wait=True)
        log.info("worker stopped")
