"""CLI: `freshgate notify run | digest | deliveries`."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import typer
from rich.table import Table

notify_app = typer.Typer(help="Owner and operator notifications (webhook, e-mail).", no_args_is_help=True)


@notify_app.command("run")
def notify_run():
    """Send what is pending now: retries of failed deliveries and one message per owner for new state changes."""
    from freshgate.cli_common import console, runtime
    from freshgate.notify.jobs import notify_changes

    with runtime() as rt:
        console.print_json(json.dumps(notify_changes(rt, datetime.now(timezone.utc))))


@notify_app.command("digest")
def notify_digest():
    """Send this week's review digests to owners and the full list to operators (at most once per week)."""
    from freshgate.cli_common import console, runtime
    from freshgate.reports.jobs import weekly_review

    with runtime() as rt:
        console.print_json(json.dumps(weekly_review(rt, datetime.now(timezone.utc))))


@notify_app.command("deliveries")
def notify_deliveries(status: str = typer.Option(None, help="sending | sent | failed"),
                      limit: int = typer.Option(50, help="How many, newest first.")):
    """Recorded deliveries: what was sent to whom, when, and what failed."""
    from sqlmodel import Session

    from freshgate.cli_common import console, runtime
    from freshgate.notify.jobs import service

    with runtime() as rt, Session(rt.engine) as session:
        rows = service(rt, session).deliveries(status=status, limit=limit)
    table = Table(title="deliveries")
    for col in ("id", "kind", "channel", "recipient", "status", "attempts", "sent", "error"):
        table.add_column(col)
    for d in rows:
        table.add_row(str(d.id), d.kind, d.channel, d.recipient, d.status, str(d.attempts),
                      f"{d.sent_at:%Y-%m-%d %H:%M}" if d.sent_at else "-", (d.last_error or "")[:60])
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add `notify` to the CLI."""
    app.add_typer(notify_app, name="notify")
