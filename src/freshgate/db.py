"""Engine and sessions. The engine is made once per process by the edge, never at import."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str, **kwargs) -> Engine:
    """Create the engine; SQLite gets WAL, foreign keys, a busy timeout and savepoints that nest.

    SQLite: pysqlite opens a transaction only before INSERT/UPDATE/DELETE, not before a
    SAVEPOINT, so releasing a savepoint opened outside a transaction commits it (a sync
    committed file by file). A SAVEPOINT outside a transaction now first opens one with
    BEGIN IMMEDIATE (a savepoint is only used to write, so it takes the write lock at once).
    SQLAlchemy's recipe of a BEGIN at every SQLAlchemy begin is deliberately not used: it
    starts reads inside a deferred transaction, and a read-then-write session (a lookup that
    records its receipt, a conflict check) then fails at once with "database is locked" when
    another process committed in between (busy_timeout does not apply to a stale snapshot).
    """
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            if ":memory:" not in url and url != "sqlite://":
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "savepoint")
        def _sqlite_savepoint_in_transaction(conn, _name):  # pragma: no cover - trivial
            if not conn.connection.dbapi_connection.in_transaction:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _heads() -> set[str]:
    """Revisions no other migration builds on, read from the version files (no Alembic import)."""
    import re

    revs, downs = set(), set()
    for f in (MIGRATIONS / "versions").glob("*.py"):
        text = f.read_text("utf-8")
        rev = re.search(r"^revision\s*=\s*['\"]([^'\"]+)", text, re.M)
        down = re.search(r"^down_revision\s*=\s*(.+)$", text, re.M)
        if rev:
            revs.add(rev.group(1))
            downs.update(re.findall(r"['\"]([^'\"]+)['\"]", down.group(1) if down else ""))
    return revs - downs


def at_head(engine: Engine) -> bool:
    """True when the database's schema is already at the single newest revision (nothing to migrate)."""
    heads = _heads()
    try:
        with engine.connect() as conn:
            current = {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))}
    except Exception:  # noqa: BLE001 - no table yet (new database) or unreadable: let Alembic decide
        return False
    return len(heads) == 1 and current == heads


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (a quick check first: most starts have nothing to do)."""
    if at_head(engine):
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        lock_for_migration(conn)  # N replicas starting at once: one migrates, the others wait and find head
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


MIGRATION_LOCK = 7_310_541_601  # pg advisory lock key of schema migrations (any constant, same in every process)


def lock_for_migration(conn) -> None:
    """Hold a database-wide lock until this transaction ends: PostgreSQL's advisory lock, SQLite's write lock."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
    elif conn.dialect.name == "sqlite":
        # pysqlite opens no transaction for DDL; take the write lock now (waits up to busy_timeout).
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session for one job or command: commit on success, roll back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise


def ping(engine: Engine) -> bool:
    """True when the database answers."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception as exc:  # noqa: BLE001 - health check reports any failure
        log.warning("database ping failed: %s", exc)
        return False
