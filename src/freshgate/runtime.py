"""The runtime of one process: settings, engine, service context and each domain's parts.

Assembled once by the edge (the HTTP app, the CLI, the worker, the MCP server); it knows
nothing about HTTP, so jobs and commands use it without importing the web app.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sqlalchemy.engine import Engine

from freshgate import db
from freshgate.config import Settings
from freshgate.registry.service import RegistryContext
from freshgate.registry.sync import SyncReport, sync
from freshgate.registry.views import RulesConfig

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything one process shares: settings, engine, service context, optional parts."""

    settings: Settings
    engine: Engine
    registry_ctx: RegistryContext
    extras: dict[str, Any] = field(default_factory=dict)
    on_close: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Release what the runtime holds."""
        for fn in reversed(self.on_close):
            fn()
        self.on_close.clear()
        self.engine.dispose()


def build_runtime(settings: Settings, *, migrate: bool = True, wire: bool = True) -> Runtime:
    """Make the engine, bring the schema up to date and wire the services together (wire=False: registry only)."""
    engine = db.make_engine(settings.database_url)
    if migrate:
        db.migrate(engine)
    rules = RulesConfig(settings.freshness.warning_window_days, settings.freshness.unreachable_after,
                        settings.freshness.owner_contact_required)
    rt = Runtime(settings=settings, engine=engine, registry_ctx=RegistryContext(rules=rules))
    if wire:
        _wire_domains(rt)
    return rt


def _wire_domains(rt: Runtime) -> None:
    """Attach each domain's parts to the runtime (extras, registry listeners)."""
    from freshgate.actions.wiring import wire as wire_actions
    from freshgate.conflicts.wiring import wire as wire_conflicts
    from freshgate.lookup.wiring import wire as wire_lookup

    wire_lookup(rt)  # first: conflicts use the lookup's embedder and index
    wire_conflicts(rt)
    wire_actions(rt)


def run_sync(rt: Runtime, dirs: list[Path], *, actor: str = "sync", progress=None, check: bool = False,
             **options) -> SyncReport:
    """Sync directories into the registry and commit (`check`: report what a sync would do, write nothing)."""
    from sqlmodel import Session

    from freshgate.registry.service import RegistryService

    if check:
        with Session(rt.engine, expire_on_commit=False) as session:
            try:  # db.make_engine: on SQLite too, the sync's savepoints nest in one transaction rolled back here
                return sync(RegistryService(session, rt.registry_ctx), dirs, actor=actor, progress=progress, **options)
            finally:
                session.rollback()
    from freshgate.feed.complete import complete

    # First what an interrupted run left owed (its files are unchanged now, so nothing else redoes it).
    left = complete(rt) if rt.extras.get("lookup") is not None else None
    with db.session_scope(rt.engine) as session:
        report = sync(RegistryService(session, rt.registry_ctx), dirs, actor=actor, progress=progress,
                      checkpoint=session.commit, **options)
    if left is not None:
        report.notes.extend(left.lines())
    _note_owed(rt, report)
    actions = rt.extras.get("actions")
    if actions is not None and (report.added or report.updated):
        # tool rules of different cards that can govern the same call in different lanes
        report.warnings.extend(("tool rules", m) for m in actions.overlap_warnings())
    return report


def _note_owed(rt: Runtime, report: SyncReport) -> None:
    """Say what stays owed after the sync (e.g. `--no-embed`: the server or the next sync does it)."""
    from freshgate.feed import owed

    with rt.engine.connect() as conn:
        left = owed.counts(conn)
    parts = [f"{left[k]} {what}" for k, what in ((owed.EMBED, "document embedding(s)"),
                                                  (owed.CHECK, "conflict check(s)"),
                                                  (owed.SEARCH, "conflict search(es)")) if left.get(k)]
    if parts:
        report.notes.append("owed: " + ", ".join(parts) + " (completed by the server's owed_work job or the "
                            "next `freshgate sync`)")
