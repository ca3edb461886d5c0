"""Writing and reading the change log.

Every entry is written in the transaction of the change it records. PostgreSQL: buffered on the
session and inserted just before it commits, holding a transaction advisory lock until the
commit, so ids become visible in id order: a reader that has seen id n never later sees a
smaller id appear (no in-flight gaps to wait for); then a NOTIFY wakes the followers. SQLite:
inserted at once (one writer at a time gives the same order). What the change still owes
(embeddings, conflict checks: feed.owed) is inserted at once on both, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import event, func, insert, select, text
from sqlmodel import Session

from freshgate.feed import owed
from freshgate.feed.models import ChangeLog

_BUFFER = "freshgate.feed.buffer"
_HOOKED = "freshgate.feed.hooked"
FEED_LOCK = 7_310_541_602  # pg advisory lock key serialising change-log commits
CHANNEL = "freshgate_feed"


@dataclass(frozen=True)
class ChangeRow:
    """One entry of the feed as a follower reads it."""

    id: int
    document_id: str | None
    kind: str
    created_at: datetime


def record(session: Session, document_id: str | None, kind: str, version: int = 0) -> None:
    """Append a change to the log in the session's transaction (PostgreSQL: at its commit, in id order),
    with the work it owes (feed.owed)."""
    row = {"document_id": document_id, "kind": kind[:20], "version": version, "created_at": datetime.now(timezone.utc)}
    conn = session.connection()
    owed.owe(conn, document_id, kind)
    if conn.dialect.name == "sqlite":
        # One writer at a time: ids are in commit order already. Written now, so the entry lives and
        # dies with the change even when pysqlite commits a released savepoint early.
        conn.execute(insert(ChangeLog.__table__), [row])
        return
    session.info.setdefault(_BUFFER, []).append(row)
    if not session.info.get(_HOOKED):
        session.info[_HOOKED] = True
        # Registered after the registry listeners' own hooks, so embedding at commit happens first
        # and the advisory lock is held only for the insert and the commit itself.
        event.listen(session, "before_commit", _write)
        event.listen(session, "after_rollback", _forget)


def _write(session: Session) -> None:
    rows = session.info.pop(_BUFFER, None)
    if not rows:
        return
    session.flush()  # every row lock this transaction needs, before it waits for the feed lock (no deadlock)
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": FEED_LOCK})
    conn.execute(insert(ChangeLog.__table__), rows)
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:c, '')"), {"c": CHANNEL})  # delivered at commit


def _forget(session: Session) -> None:
    if not session.in_nested_transaction():  # a savepoint rollback keeps the other changes of the session
        session.info.pop(_BUFFER, None)


def latest_id(conn) -> int:
    """The database watermark: the newest change id (0 when the log is empty)."""
    return int(conn.execute(select(func.coalesce(func.max(ChangeLog.id), 0))).scalar_one())


def changes_since(conn, after: int, limit: int = 5000) -> list[ChangeRow]:
    """Changes with an id above `after`, oldest first."""
    t = ChangeLog.__table__
    q = select(t.c.id, t.c.document_id, t.c.kind, t.c.created_at).where(t.c.id > after).order_by(t.c.id).limit(limit)
    return [ChangeRow(*r) for r in conn.execute(q).all()]


def created_at(conn, change_id: int) -> datetime | None:
    """When a change was committed (None if unknown)."""
    t = ChangeLog.__table__
    return conn.execute(select(t.c.created_at).where(t.c.id == change_id)).scalar_one_or_none()
