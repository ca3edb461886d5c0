"""What every CLI command shares: consoles, `fail`, settings, a runtime, progress, eval output paths.

Light on purpose: importing this (and `freshgate.cli`) loads typer and rich only; the database,
FastAPI and the model are imported by the commands that use them, so `freshgate --help` is quick.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import typer
from rich.console import Console

console = Console()
err = Console(stderr=True)
STATE_STYLE = {"fresh": "green", "due": "yellow", "stale": "red", "expired": "bold red", "changed": "magenta",
               "unreachable": "red", "orphaned": "bold red", "retired": "dim", "suspect": "yellow"}
_state: dict[str, Any] = {}


def set_database_url(url: str | None) -> None:
    """Remember the --database-url of this invocation (settings are built on first use)."""
    _state.clear()
    if url:
        _state["database_url"] = url


def settings():
    """Settings of this invocation."""
    if "settings" not in _state:
        from freshgate.config import Settings

        url = _state.get("database_url")
        _state["settings"] = Settings(**({"database_url": url} if url else {}))
    return _state["settings"]


@contextmanager
def runtime(*, wire: bool = True) -> Iterator[Any]:
    """A runtime for one command (wire=False: registry only, for commands that change nothing)."""
    from freshgate.runtime import build_runtime

    rt = build_runtime(settings(), wire=wire)
    try:
        yield rt
    finally:
        rt.close()


@contextmanager
def registry(*, read_only: bool = False) -> Iterator[Any]:
    """A registry service in a committed-on-success session; our errors become one line + exit 1.

    read_only: no lookup or conflict wiring (faster start); only for commands that change nothing.
    """
    from freshgate import db
    from freshgate.errors import FreshgateError
    from freshgate.registry.service import RegistryService

    try:
        with runtime(wire=not read_only) as rt, db.session_scope(rt.engine) as session:
            yield RegistryService(session, rt.registry_ctx)
    except FreshgateError as exc:
        fail(exc.detail)


def fail(message: str, code: int = 1) -> None:
    """Print one line to stderr and exit non-zero."""
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def local_actor(as_name: str | None = None) -> str:
    """The audit actor of a local write: the `--as` name and the OS user, recorded as the API records an
    operator acting on someone's behalf (`maria (by local:root)`); without `--as`, `local:root`.

    The CLI is a local administrator (file access is database access): `--as` says for whom, the OS
    user says who actually ran it. Every CLI command that writes records its actor through this.
    """
    from freshgate.auth.principal import acting_as, local_principal

    name = (as_name or "").strip()
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        fail("--as: control characters are not allowed in a name")
    return acting_as(local_principal(), name or None)


def styled(state: str) -> str:
    """A freshness state in its colour."""
    return f"[{STATE_STYLE.get(state, 'white')}]{state}[/]"


@contextmanager
def progress(label: str, every: int = 10) -> Iterator[Callable[[int, int | None], None]]:
    """A `(done, total)` callback: a live bar on a terminal, else one plain stderr line every `every` items."""
    if err.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), console=err, transient=True) as bar:
            task = bar.add_task(label, total=None)
            yield lambda n, total=None: bar.update(task, completed=n, total=total)
        return
    start, last = time.monotonic(), [0]

    def line(n: int, total: int | None = None) -> None:
        if n - last[0] >= every or (total is not None and n >= total and n != last[0]):
            last[0] = n
            err.print(f"{label}: {n}/{total if total is not None else '?'} ({time.monotonic() - start:.0f} s)",
                      highlight=False, soft_wrap=True)

    yield line


def default_output(name: str) -> Path:
    """Where a command writes its report when not told: `$XDG_STATE_HOME/freshgate/eval/` (never the repository)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    path = Path(base) / "freshgate" / "eval" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
