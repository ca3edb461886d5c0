"""CLI: `freshgate review`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def review_cmd(fmt: str = typer.Option("table", "--format", "-f", help="table | md | csv | json | html"),
               out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write to this file instead of stdout."),
               owner: Optional[str] = typer.Option(None, help="Only this owner's items."),
               state: Optional[str] = typer.Option(None, help="Only items in this state (e.g. stale, unanswered).")):
    """The review list: everything that needs a human, riskiest first, grouped by owner."""
    from sqlmodel import Session

    from freshgate.cli_common import fail, runtime
    from freshgate.errors import FreshgateError
    from freshgate.reports.render import FORMATS, render
    from freshgate.reports.service import review

    if fmt not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}")
    try:
        with runtime() as rt, Session(rt.engine) as session:
            report = review(session, rt.registry_ctx.rules, rt.extras, rt.registry_ctx.clock(), owner=owner,
                            state=state)
            text = render(report, fmt)
    except FreshgateError as exc:
        fail(exc.detail)
    if out:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out} ({len(report.items)} items)", err=True)
    else:
        typer.echo(text, nl=False)


def register(app: typer.Typer) -> None:
    """Add `review` to the CLI."""
    app.command("review")(review_cmd)
