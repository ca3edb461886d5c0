"""CLI of the action gate: `freshgate check-action TOOL --param k=v` and `freshgate tools`.

`check-action` exits 0 for proceed (and caution), 1 for needs_approval, 2 for forbidden or
stop_and_ask, 3 for a usage error, so a wrapper can gate a tool call on it.
"""

from __future__ import annotations

import json
import re
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from freshgate.actions.decide import EXIT_CODES

console = Console()
err = Console(stderr=True)
STYLE = {"proceed": "bold green", "caution": "bold yellow", "needs_approval": "bold yellow", "forbidden": "bold red",
         "stop_and_ask": "bold red"}
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _runtime():
    from freshgate.cli_common import runtime

    return runtime()


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """`k=v` pairs -> parameters; `a.b=v` nests, numbers and true/false are typed, JSON lists/objects parsed."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param {pair!r}: expected key=value")
        value: Any = raw
        if _NUMBER.match(raw.strip()):
            value = float(raw) if "." in raw else int(raw)
        elif raw.strip().lower() in ("true", "false"):
            value = raw.strip().lower() == "true"
        elif raw.strip()[:1] in "[{":
            try:
                value = json.loads(raw)
            except ValueError:
                value = raw
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"--param {pair!r}: {part} is already a value")
        node[parts[-1]] = value
    return out


def check_action(tool: str = typer.Argument(..., help="The tool about to be called, e.g. stripe.refund."),
                 param: list[str] = typer.Option(None, "--param", "-p", help="A parameter key=value (repeatable; "
                                                 "a.b=v nests)."),
                 intent: Optional[str] = typer.Option(None, help="What the call is for, in words."),
                 risk: Optional[str] = typer.Option(None, help="low | high (default high: stale knowledge stops)."),
                 as_json: bool = typer.Option(False, "--json", help="Print the JSON answer.")):
    """Ask before a tool call. Exit 0 proceed, 1 needs_approval, 2 forbidden or stop_and_ask."""
    from sqlmodel import Session

    from freshgate.actions.api import check_and_commit, service_for
    from freshgate.actions.schemas import ActionCheckIn
    from freshgate.auth.principal import local_principal

    try:
        if risk not in (None, "low", "high"):
            raise ValueError("--risk must be low or high")
        body = ActionCheckIn(tool=tool, parameters=parse_params(param or []), intent=intent, risk=risk)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(3)
    with _runtime() as rt, Session(rt.engine, expire_on_commit=False) as session:
        svc = service_for(rt, session)
        svc.writer = None  # one check per process: its receipt is written before the answer is printed
        out = check_and_commit(svc, body, principal=local_principal().id[:200])
    if as_json:
        console.print_json(out.model_dump_json())
        raise typer.Exit(EXIT_CODES[out.decision])
    lane = f"  lane {out.lane}" if out.lane else ""
    console.print(f"[{STYLE[out.decision]}]{out.decision}[/]  {out.tool}{lane}  receipt {out.receipt_id or '-'}",
                  highlight=False, soft_wrap=True)
    for r in out.reasons:
        console.print(f"  • [bold]{r.code}[/bold] {escape(r.message)}", highlight=False, soft_wrap=True)
    for r in out.rules:
        mark = "→" if r.governing else " "
        cond = f" when {' and '.join(r.conditions)}" if r.conditions else ""
        console.print(escape(f"  {mark} {r.card} v{r.card_version}: {r.tool}{cond} → {r.lane}"
                             + (f" (could not check: {', '.join(r.unknown)})" if r.unknown else "")), highlight=False, soft_wrap=True)
    for d in out.cards + out.sources:
        console.print(f"    {d.kind} {d.id} v{d.version}: {d.state}", highlight=False, soft_wrap=True)
    if out.owner or out.rollback or out.log:
        console.print(escape(f"  tool owner {out.owner or '-'}; rollback: {out.rollback or '-'}; log: {out.log or '-'}"),
                      highlight=False, soft_wrap=True)
    if out.ask.question:
        who = f"{out.ask.owner or 'the operator'}" + (f" <{out.ask.contact}>" if out.ask.contact else "")
        console.print(escape(f"ask {who}: {out.ask.question}"), highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_CODES[out.decision])


def tools(tool: Optional[str] = typer.Option(None, "--tool", help="Only the rules covering this tool name."),
          uncovered: bool = typer.Option(False, "--uncovered", help="List the tools agents tried that no card governs."),
          as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """The permission table: every tool rule with lane, conditions, governing card and its state, owner, rollback, log."""
    from freshgate import db
    from freshgate.actions.api import service_for
    from freshgate.actions.schemas import UncoveredOut

    with _runtime() as rt, db.session_scope(rt.engine) as session:
        svc = service_for(rt, session)
        rows = [UncoveredOut.model_validate(u, from_attributes=True) for u in svc.uncovered()] if uncovered \
            else svc.tools(tool)
    if as_json:
        console.print_json(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    t = Table()
    if uncovered:
        for col in ("tool", "count", "last reason", "last seen"):
            t.add_column(col)
        for u in rows:
            t.add_row(u.tool, str(u.count), u.last_reason, u.last_seen.date().isoformat())
    else:
        for col in ("tool", "when", "lane", "card", "card state", "owner", "rollback", "log"):
            t.add_column(col)
        for r in rows:
            t.add_row(escape(r.tool), escape(" and ".join(r.conditions) or "always"), r.lane, r.card, r.card_state,
                      r.owner or "-", escape(r.rollback or "") or ("[red]none[/red]" if r.lane != "automatic" else "-"),
                      escape(r.log or "-"))
    console.print(t)


def register(app: typer.Typer) -> None:
    """Add `check-action` and `tools` to the CLI."""
    app.command("check-action")(check_action)
    app.command()(tools)
