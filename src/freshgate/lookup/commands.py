"""CLI of the lookup: `freshgate check`, `freshgate mcp`, `freshgate eval decisions`, `freshgate unanswered`.

`check` exits 0 for proceed, 1 for caution, 2 for stop_and_ask (3 for a usage error), so a
script can gate on it: `freshgate check "..." || handle_it`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from freshgate.cli_common import console, default_output, err, progress, runtime
from freshgate.lookup.decide import exit_code

eval_app = typer.Typer(help="Evaluate Freshgate on labelled task files.", no_args_is_help=True)
STYLE = {"proceed": "bold green", "caution": "bold yellow", "stop_and_ask": "bold red"}


def check(question: str = typer.Argument(..., help="The question or intended action."),
          risk: str = typer.Option("low", help="low | high (high: stale knowledge stops)."),
          tag: list[str] = typer.Option(None, "--tag", help="Only documents with this tag (repeatable)."),
          doc: list[str] = typer.Option(None, "--doc", help="Only this document id (repeatable)."),
          kind: Optional[str] = typer.Option(None, help="Only source or sop."),
          top_k: Optional[int] = typer.Option(None, "--top-k", help="Citations at most."),
          as_json: bool = typer.Option(False, "--json", help="Print the JSON answer.")):
    """Ask before answering: prints the decision, reasons and citations. Exit 0 proceed, 1 caution, 2 stop_and_ask."""
    from freshgate.lookup.api import lookup_and_commit, service_for
    from freshgate.lookup.schemas import LookupIn, ScopeIn

    if risk not in ("low", "high") or (kind and kind not in ("source", "sop")):
        err.print("[red]error:[/red] --risk must be low|high and --kind source|sop", highlight=False)
        raise typer.Exit(3)
    scope = ScopeIn(ids=doc or [], tags=tag or [], kinds=[kind] if kind else []) if (doc or tag or kind) else None
    with runtime() as rt:
        with err.status("loading the model and index…"):
            rt.extras["lookup"].warm_up()
        from sqlmodel import Session

        with Session(rt.engine, expire_on_commit=False) as session:
            out = lookup_and_commit(service_for(rt, session), LookupIn(query=question, scope=scope, risk=risk,
                                                                       top_k=top_k))
    if as_json:
        console.print_json(out.model_dump_json())
        raise typer.Exit(exit_code(out.decision))
    console.print(f"[{STYLE[out.decision]}]{out.decision}[/]  receipt {out.receipt_id or '-'}")
    for r in out.reasons:
        console.print(f"  • [bold]{r.code}[/bold] {r.message}", highlight=False)
    if out.citations:
        t = Table(show_header=True, header_style="bold")
        for col in ("cite", "state", "owner", "score", "lane", "next review"):
            t.add_column(col)
        for c in out.citations:
            t.add_row(c.cite + (f" (for {c.substituted_for})" if c.substituted_for else ""), c.state, c.owner or "-",
                      f"{c.score:.2f}", c.lane or "-", c.next_review.date().isoformat() if c.next_review else "-")
        console.print(t)
    if out.ask.question:
        who = f"{out.ask.owner or 'the operator'}" + (f" <{out.ask.contact}>" if out.ask.contact else "")
        console.print(f"ask {who}: {out.ask.question}", highlight=False)
    raise typer.Exit(exit_code(out.decision))


def mcp():
    """Serve the MCP tools (freshgate_lookup, freshgate_document) over stdio."""
    import logging
    import sys

    from freshgate.mcp.server import run_stdio

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)  # stdout carries the protocol
    from freshgate.lookup.wiring import follow

    with runtime() as rt:
        rt.extras["lookup"].warm_up()
        stop_following = follow(rt)  # changes committed by other processes reach this index
        try:
            run_stdio(rt)
        finally:
            stop_following()


def unanswered(limit: int = typer.Option(50, help="Topics at most.")):
    """Questions nothing registered could answer, most asked first."""
    from freshgate import db
    from freshgate.lookup.receipts import unanswered as topics

    with runtime() as rt, db.session_scope(rt.engine) as session:
        rows = topics(session, limit)
    t = Table()
    for col in ("count", "question", "last asked"):
        t.add_column(col)
    for r in rows:
        t.add_row(str(r.count), r.query, r.last_seen.date().isoformat())
    console.print(t)


@eval_app.command("decisions")
def eval_decisions(file: Path = typer.Argument(..., exists=True, help="JSONL: question, documents, expected."),
                   out: Optional[Path] = typer.Option(
                       None, "--out", help="Write the report as JSON here (default: a new file under "
                       "$XDG_STATE_HOME/freshgate/eval/, outside the repository)."),
                   limit: Optional[int] = typer.Option(None, help="Only the first N tasks."),
                   every: int = typer.Option(10, help="Without a terminal: one progress line every N tasks.")):
    """Run each task in a fresh registry and compare the decision with `expected` (caution counts as proceed)."""
    from freshgate.cli_common import settings
    from freshgate.lookup.engine import default_embedder
    from freshgate.lookup.evaluate import LABELS, run

    s = settings()
    embedder = default_embedder(s)
    with progress("tasks", every) as tick:
        report = run(file, embedder, s, progress=tick, limit=limit)
    summary = report.summary()
    t = Table(title=f"{file.name}: expected (rows) x predicted (columns)")
    t.add_column("expected")
    for p in LABELS:
        t.add_column(p, justify="right")
    for e in LABELS:
        t.add_row(e, *(str(summary["confusion"][e][p]) for p in LABELS))
    console.print(t)
    console.print(f"tasks {summary['tasks']}  accuracy {summary['accuracy']:.3f}  stop_and_ask precision "
                  f"{summary['stop_precision']:.3f}  recall {summary['stop_recall']:.3f}")
    console.print(f"raw decisions {summary['raw_decisions']}  reasons {summary['reason_codes']}")
    out = out or default_output("decisions")
    out.write_text(json.dumps({"summary": summary, "rows": report.rows}, indent=2), "utf-8")
    err.print(f"wrote {out}", highlight=False, soft_wrap=True)


@eval_app.command("retrieval")
def eval_retrieval(file: Path = typer.Argument(..., exists=True, help="JSONL: question, documents with sections, relevant."),
                   out: Optional[Path] = typer.Option(None, "--out", help="Write the report as JSON here."),
                   method: list[str] = typer.Option(None, "--method", help="bm25 | vector | hybrid (repeatable; "
                                                    "default all three, measured in one run)."),
                   limit: Optional[int] = typer.Option(None, help="Only the first N records.")):
    """Rank each record's sections for its question (fresh registry per record): recall@1/@5 and MRR per method."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from freshgate.cli_common import settings
    from freshgate.lookup.engine import default_embedder
    from freshgate.lookup.eval_retrieval import METHODS, POOLS, run

    methods = tuple(method or METHODS)
    if set(methods) - set(METHODS):
        err.print(f"[red]error:[/red] --method must be one of {', '.join(METHODS)}", highlight=False)
        raise typer.Exit(3)
    s = settings()
    with Progress(TextColumn("records"), BarColumn(), MofNCompleteColumn(), console=err, transient=True) as bar:
        task = bar.add_task("eval", total=None)
        report = run(file, default_embedder(s), s, methods=methods, limit=limit,
                     progress=lambda n, total: bar.update(task, completed=n, total=total))
    summary = report.summary()
    t = Table(title=f"{file.name}: {summary['questions']} questions")
    for col in ("method", "pool", "recall@1", "recall@5", "MRR", "ms/question (p50)"):
        t.add_column(col, justify="left" if col in ("method", "pool") else "right")
    for m, res in summary["methods"].items():
        for pool in POOLS:
            r = res[pool]
            t.add_row(m, pool, f"{r['recall@1']:.3f}", f"{r['recall@5']:.3f}", f"{r['mrr']:.3f}",
                      f"{res['ms_per_question']['p50']:.1f}" if pool == "all" else "")
    console.print(t)
    if out:
        out.write_text(json.dumps({"summary": summary, "rows": report.rows}, indent=2), "utf-8")


def register(app: typer.Typer) -> None:
    """Add the lookup commands and the `eval` group to the CLI."""
    app.command()(check)
    app.command()(mcp)
    app.command()(unanswered)
    app.add_typer(eval_app, name="eval")
