"""CLI: `freshgate worker`, `freshgate jobs list`, `freshgate jobs run NAME`."""

from __future__ import annotations

import json
import logging

import typer
from rich.table import Table

from freshgate.errors import FreshgateError

jobs_app = typer.Typer(help="Scheduled jobs: list them or run one now.", no_args_is_help=True)


def _fmt(dt) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC") if dt else "-"


@jobs_app.command("list")
def jobs_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """List jobs: id, trigger, enabled, last run and next run."""
    from freshgate.cli import console, runtime
    from freshgate.scheduler.runner import list_jobs

    with runtime() as rt:
        jobs = list_jobs(rt)
    if as_json:
        console.print_json(json.dumps([j.as_dict() for j in jobs]))
        return
    table = Table(title="jobs")
    for col in ("id", "trigger", "enabled", "last run", "status", "next run"):
        table.add_column(col)
    for j in jobs:
        enabled = ("yes" if j.enabled else "no") if j.available else "[dim]not installed[/dim]"
        table.add_row(j.id, j.trigger, enabled, _fmt(j.last_run), j.last_status or "-", _fmt(j.next_run))
    console.print(table)


@jobs_app.command("run")
def jobs_run(name: str = typer.Argument(..., help="Job id, e.g. sweep or remote_refresh.")):
    """Run one job now and print its summary (exit 1 if it failed)."""
    from freshgate.cli import console, fail, runtime
    from freshgate.scheduler.runner import run_job_now

    try:
        with runtime() as rt:
            outcome = run_job_now(rt, name)
    except FreshgateError as exc:
        fail(exc.detail)
    if outcome.status != "ok":
        fail(f"job {name} {outcome.status}: {outcome.error}")
    console.print_json(json.dumps({"job": name, "status": outcome.status, "summary": outcome.summary}))


def worker():
    """Run the scheduled jobs without the HTTP server (blocks until Ctrl-C / SIGTERM)."""
    from freshgate.cli import runtime
    from freshgate.scheduler.runner import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from freshgate.lookup.wiring import follow

    with runtime() as rt:
        stop_following = follow(rt)  # the worker's index (conflict scans) follows other processes' changes
        try:
            run_worker(rt)
        finally:
            stop_following()


def register(app: typer.Typer) -> None:
    """Add `worker` and `jobs` to the freshgate CLI."""
    app.command("worker")(worker)
    app.add_typer(jobs_app, name="jobs")
