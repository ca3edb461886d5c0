"""The `freshgate` command line. Commands call services directly, never HTTP."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from freshgate.cli_common import (  # noqa: F401 - re-exported for older imports
    STATE_STYLE, console, err, fail, local_actor, registry, runtime, set_database_url, settings, styled as _styled,
)

app = typer.Typer(help="Freshgate: knowledge-freshness and SOP registry.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
owners_app = typer.Typer(help="List and manage owners.", no_args_is_help=False, invoke_without_command=True)
app.add_typer(owners_app, name="owners")


@app.callback()
def _root(database_url: Optional[str] = typer.Option(None, "--database-url", envvar="FRESHGATE_DATABASE_URL",
                                                     help="SQLAlchemy URL (default: ./freshgate.db).")):
    """Freshgate: knowledge-freshness and SOP registry."""
    set_database_url(database_url)


@app.command()
def sync(dirs: list[Path] = typer.Argument(None, help="Directories of Markdown files (default: sources sop_cards)."),
         actor: str = typer.Option("sync", "--as", "--actor", help="Recorded in the audit log as the actor, "
                                   "with the OS user who ran the sync."),
         embed: bool = typer.Option(True, "--embed/--no-embed",
                                    help="Embed new sections and check them for conflicts (loads the model)."),
         check: bool = typer.Option(False, "--check", help="Print what a sync would do, including where files and "
                                    "the registry disagree, and write nothing."),
         write_back: bool = typer.Option(False, "--write-back", help="Rewrite the front matter of files whose "
                                         "fields the registry kept, so the files say what the registry says.")):
    """Register Markdown sources and SOP cards; unchanged files are skipped, bad files reported."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from freshgate.runtime import run_sync

    dirs = dirs or [p for p in (Path("sources"), Path("sop_cards")) if p.exists()]
    if not dirs:
        fail("nothing to sync: give directories or run where sources/ and sop_cards/ are")
    with runtime() as rt, Progress(TextColumn("syncing"), BarColumn(), MofNCompleteColumn(), console=err,
                                   transient=True) as bar:
        task = bar.add_task("sync", total=None)
        lookup = rt.extras.get("lookup")
        if embed and lookup is not None and not check:
            # Same path as the server: embeddings are stored at commit, the conflict check follows.
            lookup.warm_up()
        report = run_sync(rt, dirs, actor=local_actor(actor), check=check,
                          progress=lambda n, total: bar.update(task, completed=n, total=total))
    table = Table(title="sync")
    for col in ("added", "updated", "unchanged", "failed", "missing on disk"):
        table.add_column(col, justify="right")
    table.add_row(*(str(len(x)) for x in (report.added, report.updated, report.unchanged, report.failed,
                                          report.missing)))
    console.print(table)
    for path, reason in report.failed:
        err.print(f"[red]failed[/red] {path}: {reason}", highlight=False, soft_wrap=True)
    for doc_id, path in report.missing:
        err.print(f"[yellow]missing[/yellow] {doc_id}: {path} no longer exists (still registered; retire it to remove)",
                  highlight=False, soft_wrap=True)
    for owner_id, message in report.warnings:
        err.print(f"[yellow]warning[/yellow] {escape(message)}", highlight=False, soft_wrap=True)
    for note in report.notes:
        console.print(escape(note), highlight=False, soft_wrap=True)
    for note in report.fields:
        console.print(("[yellow]kept[/yellow] " if note.outcome == "kept" else "[magenta]file wins[/magenta] ")
                      + escape(note.line()), highlight=False, soft_wrap=True)
    if check:
        console.print("check only: nothing was written", highlight=False)
    elif write_back:
        from freshgate.registry.writeback import write_back as rewrite_files

        for path in rewrite_files(report.fields):
            console.print(f"wrote back {path}", highlight=False, soft_wrap=True)
    if report.failed:
        raise typer.Exit(2)


@app.command("list")
def list_cmd(kind: Optional[str] = typer.Option(None, help="source or sop"),
             state: Optional[str] = typer.Option(None, help="Only this state (e.g. stale)."),
             owner: Optional[str] = None, tag: Optional[str] = None,
             as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """List documents with their freshness state."""
    from freshgate.registry import queries

    with registry(read_only=True) as svc:
        rows = queries.list_documents(svc, kind=kind, state=state, owner=owner, tag=tag)
    if as_json:
        console.print_json(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    table = Table()
    for col in ("id", "kind", "state", "owner", "criticality", "next review", "why"):
        table.add_column(col)
    for r in rows:
        nr = r.next_review.date().isoformat() if r.next_review else "-"
        table.add_row(r.id, r.kind, _styled(r.state), r.owner or "-", r.criticality, nr,
                      "; ".join(x.message for x in r.reasons[:2]))
    console.print(table)


@app.command()
def show(doc_id: str, as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Show one document: state, reasons, owner, versions, dependencies."""
    from freshgate.registry import queries

    with registry(read_only=True) as svc:
        d = queries.document_detail(svc, doc_id)
    if as_json:
        console.print_json(d.model_dump_json())
        return
    console.print(f"[bold]{d.title}[/bold] ({d.id}, {d.kind}{', lane ' + d.lane if d.lane else ''})")
    console.print(f"state: {_styled(d.state)}   owner: {d.owner or '-'}"
                  f"{' <' + d.owner_detail.contact + '>' if d.owner_detail and d.owner_detail.contact else ''}"
                  f"   criticality: {d.criticality}   revision: {d.revision}")
    console.print(f"last verified: {d.last_verified or 'never'} by {d.verified_by or '-'}   review every "
                  f"{d.review_every}   next review: {d.next_review or '-'}   expires: {d.expires or '-'}")
    for r in d.reasons:
        console.print(f"  • {_styled(r.state)} {r.message}")
    if d.dependencies:
        console.print("relies on: " + ", ".join(d.dependencies))
    if d.dependents:
        console.print("relied on by: " + ", ".join(d.dependents))
    console.print("versions: " + ", ".join(f"v{v.version} ({v.origin}, {v.created_at:%Y-%m-%d})" for v in d.versions))
    console.print("sections: " + ", ".join(f"#{s.anchor}" for s in d.sections))


def _action(fn) -> None:
    with registry() as svc:
        doc = fn(svc)
        fr = svc.freshness([doc])[doc.id]
    console.print(f"{doc.id}: {_styled(fr.state)} (revision {doc.revision})")


@app.command()
def verify(doc_id: str, actor: str = typer.Option(..., "--as", help="Who verifies."), note: str = ""):
    """Verify (renew) a document: its content is right as of now."""
    who = local_actor(actor)
    _action(lambda s: s.verify(doc_id, actor=who, note=note))


@app.command()
def update(doc_id: str, file: Path = typer.Argument(..., help="Markdown body of the new version ('-' for stdin)."),
           actor: str = typer.Option(..., "--as", help="Who updates."),
           also_verify: bool = typer.Option(False, "--verify", help="Also verify the new content.")):
    """Replace a document's content with a new version."""
    who = local_actor(actor)
    body = sys.stdin.read() if str(file) == "-" else file.read_text("utf-8")
    _action(lambda s: s.update_content(doc_id, body, actor=who, verify=also_verify))


@app.command()
def retire(doc_id: str, actor: str = typer.Option(..., "--as", help="Who retires it."),
           successor: Optional[str] = typer.Option(None, help="Active document that replaces it."), reason: str = ""):
    """Retire a document, optionally for a successor."""
    who = local_actor(actor)
    _action(lambda s: s.retire(doc_id, actor=who, successor=successor, reason=reason))


@app.command()
def unretire(doc_id: str, actor: str = typer.Option(..., "--as", help="Who brings it back.")):
    """Bring a retired document back into use."""
    who = local_actor(actor)
    _action(lambda s: s.unretire(doc_id, actor=who))


@app.command()
def transfer(doc_id: str, owner: str, actor: str = typer.Option(..., "--as", help="Who hands it over.")):
    """Hand a document over to another owner."""
    who = local_actor(actor)
    _action(lambda s: s.transfer(doc_id, owner, actor=who))


@owners_app.callback(invoke_without_command=True)
def owners(ctx: typer.Context):
    """List owners, their contact and how many documents they own."""
    if ctx.invoked_subcommand:
        return
    from freshgate.registry import queries

    with registry(read_only=True) as svc:
        rows = queries.list_documents(svc)
        owners_ = svc.owners()
    table = Table()
    for col in ("id", "name", "contact", "active", "documents", "needing attention"):
        table.add_column(col)
    for o in owners_:
        mine = [r for r in rows if r.owner == o.id]
        table.add_row(o.id, o.name, o.contact, "yes" if o.active else "[red]no[/red]", str(len(mine)),
                      str(sum(r.state not in ("fresh", "retired") for r in mine)))
    console.print(table)


def _set_active(owner_id: str, active: bool, actor: str) -> None:
    who = local_actor(actor)
    with registry() as svc:
        svc.set_owner_active(owner_id, active, actor=who)
    console.print(f"{owner_id}: {'active' if active else 'inactive'}")


@owners_app.command("deactivate")
def owner_deactivate(owner_id: str, actor: str = typer.Option(..., "--as", help="Who deactivates.")):
    """Mark an owner inactive: their documents become orphaned."""
    _set_active(owner_id, False, actor)


@owners_app.command("activate")
def owner_activate(owner_id: str, actor: str = typer.Option(..., "--as", help="Who activates.")):
    """Mark an owner active again."""
    _set_active(owner_id, True, actor)


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Counts of documents per freshness state."""
    from freshgate.registry import queries

    with registry(read_only=True) as svc:
        counts = queries.state_counts(svc)
    if as_json:
        console.print_json(json.dumps(counts))
        return
    table = Table(title="freshness")
    table.add_column("state")
    table.add_column("documents", justify="right")
    for state, n in counts.items():
        table.add_row(_styled(state), str(n))
    console.print(table)


@app.command()
def serve(host: Optional[str] = None, port: Optional[int] = None,
          sync_dir: list[Path] = typer.Option(None, "--sync", help="Directory to sync at start-up (repeatable).")):
    """Run the HTTP API (and, by default, the scheduled jobs)."""
    import uvicorn

    from freshgate.app import create_app

    s = settings()
    if sync_dir:
        s.server.sync_dirs = [str(p) for p in sync_dir]
    from freshgate.observability import logs

    logs.configure(s)  # text or JSON lines with trace ids, uvicorn's included
    uvicorn.run(create_app(s), host=host or s.server.host, port=port or s.server.port, log_config=None)


def _register_domain_commands() -> None:
    """Each domain adds its commands (the order is the order of `freshgate --help`)."""
    from freshgate.actions.commands import register as actions_commands
    from freshgate.conflicts.commands import register as conflicts_commands
    from freshgate.lookup.commands import register as lookup_commands
    from freshgate.notify.commands import register as notify_commands
    from freshgate.reports.commands import register as reports_commands
    from freshgate.scheduler.commands import register as scheduler_commands

    lookup_commands(app)  # first: it creates the `eval` group that conflicts adds to
    reports_commands(app)
    notify_commands(app)
    scheduler_commands(app)
    conflicts_commands(app)
    actions_commands(app)
    __import__("freshgate.auth.commands", fromlist=["register"]).register(app)  # keys create|list|revoke
    __import__("freshgate.embeddings.commands", fromlist=["register"]).register(app)  # reembed


_register_domain_commands()


def main() -> None:
    """Console entry point."""
    try:
        app()
    except Exception as exc:
        from freshgate.errors import FreshgateError

        if not isinstance(exc, FreshgateError):
            raise
        err.print(f"[red]error:[/red] {exc.detail}", highlight=False)
        sys.exit(1)
