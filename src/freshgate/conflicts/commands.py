"""`freshgate conflicts list|show|confirm|dismiss|reopen|scan` and `freshgate eval conflicts`."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.table import Table

conflicts_app = typer.Typer(help="Review conflicts between documents: list, show, confirm, dismiss, reopen, scan.",
                            no_args_is_help=True)


@contextmanager
def _service() -> Iterator:
    """The conflict service in a committed-on-success session; our errors become one line + exit 1."""
    from freshgate import db
    from freshgate.cli_common import fail, runtime
    from freshgate.errors import FreshgateError

    try:
        with runtime() as rt, db.session_scope(rt.engine) as session:
            yield rt.extras["conflicts"].service(session)
    except FreshgateError as exc:
        fail(exc.detail)


@conflicts_app.command("list")
def list_cmd(status: Optional[str] = typer.Option(None, help="open | confirmed | dismissed | resolved"),
             document: Optional[str] = typer.Option(None, help="A document on either side."),
             owner: Optional[str] = typer.Option(None, help="The owner of either side."),
             as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """List conflicts, newest first."""
    from freshgate.cli_common import console

    with _service() as svc:
        rows = svc.describe(svc.list(status=status, document=document, owner=owner))
    if as_json:
        console.print_json(json.dumps(rows, default=str))
        return
    table = Table()
    for col in ("id", "status", "a", "b", "owners", "evidence"):
        table.add_column(col)
    for r in rows:
        owners = ", ".join(dict.fromkeys(str(r[s]["owner"]) for s in ("a", "b")))
        table.add_row(str(r["id"]), r["status"], r["a"]["cite"], r["b"]["cite"], owners, r["explanation"])
    console.print(table)


@conflicts_app.command()
def show(conflict_id: int, as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Show one conflict: both passages, evidence, verdict."""
    from freshgate.cli_common import console

    with _service() as svc:
        d = svc.describe([svc.get(conflict_id)])[0]
    if as_json:
        console.print_json(json.dumps(d, default=str))
        return
    console.print(f"[bold]conflict {d['id']}[/bold] ({d['status']}), judge {d['judge']} score {d['score']}, "
                  f"similarity {d['similarity']}")
    console.print(f"[bold]{d['explanation']}[/bold]")
    for e in d["evidence"]:
        console.print(f"  • {e['subject']}: {e['a']} vs {e['b']} ({e['kind']})")
    for s in ("a", "b"):
        p = d[s]
        console.print(f"\n[bold]{p['cite']}[/bold] v{p['version']} — {p['title']} (owner {p['owner']}, {p['status']})")
        console.print(p["text"], markup=False, highlight=False)
    if d["verdict_by"]:
        console.print(f"\nverdict by {d['verdict_by']} at {d['verdict_at']}: {d['verdict_reason']}")
    if d["resolution"]:
        console.print(f"\nresolved at {d['resolved_at']}: {d['resolution']}")


def _verdict(verb: str, conflict_id: int, actor: str, reason: str) -> None:
    """Record a person's verdict on a conflict as the local administrator acting for `actor`."""
    from freshgate.cli_common import console, local_actor

    who = local_actor(actor)
    with _service() as svc:
        c = getattr(svc, verb)(conflict_id, actor=who, reason=reason)
    console.print(f"conflict {c.id}: {c.status}")


@conflicts_app.command()
def confirm(conflict_id: int, actor: str = typer.Option(..., "--as", help="Who confirms."),
            reason: str = typer.Option("", help="Why (optional).")):
    """Confirm a conflict is real."""
    _verdict("confirm", conflict_id, actor, reason)


@conflicts_app.command()
def dismiss(conflict_id: int, actor: str = typer.Option(..., "--as", help="Who dismisses."),
            reason: str = typer.Option(..., help="Why it is not a real conflict.")):
    """Dismiss a false conflict; the same two texts are not reported again."""
    _verdict("dismiss", conflict_id, actor, reason)


@conflicts_app.command()
def reopen(conflict_id: int, actor: str = typer.Option(..., "--as", help="Who reopens."),
           reason: str = typer.Option(..., help="Why the dismissal was wrong.")):
    """Reopen a dismissed conflict: it is open again and stops lookups touching it."""
    _verdict("reopen", conflict_id, actor, reason)


@conflicts_app.command()
def scan(as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Full scan now: embed what is missing, build the index, judge every section's nearest neighbours."""
    from freshgate.cli_common import console, runtime

    with runtime() as rt:
        out = rt.extras["conflicts"].scan()
    if as_json:
        console.print_json(json.dumps(out))
        return
    console.print(f"{out['sections']} sections, {out['candidates']} candidate pairs, {out['judged']} judged, "
                  f"{len(out['detected'])} new conflict(s), {len(out['resolved'])} resolved, "
                  f"{out['suppressed_by_dismissal']} suppressed by a dismissal ({out['seconds']} s)")


def eval_conflicts(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Labelled pairs (JSONL)."),
                   out: Optional[Path] = typer.Option(
                       None, "--out", help="Write the result as JSON here (default: a new file under "
                       "$XDG_STATE_HOME/freshgate/eval/, outside the repository).")):
    """Evaluate the configured conflict judge on a labelled pairs file: precision, recall, F1."""
    from freshgate.cli_common import console, default_output, err, settings
    from freshgate.conflicts.evaluate import evaluate_pairs, render_pairs_table
    from freshgate.conflicts.judge import make_judge
    from freshgate.lookup.engine import default_embedder

    s = settings()
    embedder = default_embedder(s)
    result = evaluate_pairs(file, make_judge(s, embedder), embedder)
    console.print(render_pairs_table(result), markup=False, highlight=False)
    out = out or default_output("conflicts")
    out.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    err.print(f"wrote {out}", highlight=False, soft_wrap=True)


def _eval_app(app: typer.Typer) -> typer.Typer:
    try:
        from freshgate.lookup.commands import eval_app  # the lookup domain owns `freshgate eval`

        return eval_app
    except ImportError:
        pass
    for group in app.registered_groups:
        if group.name == "eval":
            return group.typer_instance
    eval_app = typer.Typer(help="Evaluate Freshgate on labelled data.", no_args_is_help=True)
    app.add_typer(eval_app, name="eval")
    return eval_app


def register(app: typer.Typer) -> None:
    """Add `conflicts ...` and `eval conflicts` to the CLI."""
    app.add_typer(conflicts_app, name="conflicts")
    _eval_app(app).command("conflicts")(eval_conflicts)
