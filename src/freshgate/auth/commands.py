"""CLI of auth: `freshgate keys create|list|revoke` (local administrator: file access is database access)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


def _scope():
    from freshgate import db
    from freshgate.cli_common import settings

    engine = db.make_engine(settings().database_url)
    db.migrate(engine)
    return engine


def _local_actor() -> str:
    from freshgate.cli_common import local_actor

    return local_actor()  # `local:<OS user>`, as every other CLI write records it


def _expiry(value: str | None) -> datetime | None:
    if not value:
        return None
    m = re.fullmatch(r"(\d+)([hdw])", value.strip())
    if m:
        n, unit = int(m.group(1)), m.group(2)
        return datetime.now(timezone.utc) + timedelta(hours=n if unit == "h" else 0, days=n if unit == "d" else
                                                       7 * n if unit == "w" else 0)
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a duration (30d, 12h, 4w) or an ISO date") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


@keys_app.command("create")
def create(role: str = typer.Option(..., help="agent | owner | operator"),
           label: str = typer.Option(..., help="What the key is for (shown in lists and the audit)."),
           owner: Optional[str] = typer.Option(None, help="The owner or team an owner key acts for."),
           expires: Optional[str] = typer.Option(None, help="Expiry: 30d, 12h, 4w or an ISO date (default: never)."),
           as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Create an API key and print it once (only its hash is stored)."""
    from sqlmodel import Session

    from freshgate.auth.service import KeyService
    from freshgate.errors import FreshgateError
    from freshgate.registry.service import RegistryService

    engine = _scope()
    try:
        with Session(engine, expire_on_commit=False) as session:
            if owner:
                RegistryService(session).owner(owner)
            row, raw = KeyService(session).create(label, role, owner, _expiry(expires), created_by=_local_actor())
            RegistryService(session).record_event(_local_actor(), "key_created", after={
                "key": row.id, "role": role, "owner": owner}, detail=label)
            session.commit()
    except FreshgateError as exc:
        err.print(f"[red]error:[/red] {exc.detail}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    if as_json:
        print(json.dumps({"id": row.id, "role": role, "owner": owner, "label": label, "key": raw}))
        return
    err.print(f"created key {row.id} ({role}{' for ' + owner if owner else ''}); it is shown once:")
    print(raw)


@keys_app.command("list")
def list_keys(as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """List API keys: id, label, role, owner, expiry, last use, revocation (never the key)."""
    from sqlmodel import Session

    from freshgate.auth.service import KeyService

    engine = _scope()
    with Session(engine) as session:
        rows = KeyService(session).list()
    engine.dispose()
    fields = ("id", "label", "role", "owner_id", "created_at", "expires_at", "last_used_at", "revoked_at")
    if as_json:
        print(json.dumps([{f: (v.isoformat() if isinstance(v := getattr(r, f), datetime) else v) for f in fields}
                          for r in rows]))
        return
    table = Table()
    for col in ("id", "label", "role", "owner", "created", "expires", "last used", "revoked"):
        table.add_column(col)
    for r in rows:
        table.add_row(*[("" if (v := getattr(r, f)) is None else v.strftime("%Y-%m-%d %H:%M")
                         if isinstance(v, datetime) else str(v)) for f in fields])
    console.print(table)


@keys_app.command("revoke")
def revoke(key_id: str = typer.Argument(..., help="The key's id (the part after fg_).")):
    """Revoke a key: it stops working at once (within seconds on running servers)."""
    from sqlmodel import Session

    from freshgate.auth.service import KeyService
    from freshgate.errors import FreshgateError
    from freshgate.registry.service import RegistryService

    engine = _scope()
    try:
        with Session(engine, expire_on_commit=False) as session:
            row = KeyService(session).revoke(key_id)
            RegistryService(session).record_event(_local_actor(), "key_revoked", after={"key": row.id},
                                                  detail=row.label)
            session.commit()
    except FreshgateError as exc:
        err.print(f"[red]error:[/red] {exc.detail}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    err.print(f"revoked key {key_id}")


def register(app: typer.Typer) -> None:
    """Add `keys` to the CLI."""
    app.add_typer(keys_app, name="keys")
