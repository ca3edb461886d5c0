"""Owed work: what a committed change still owes (embeddings, conflict checks), durably.

`feed.service.record` writes the rows in the transaction of the change, so a change and what it
owes commit together. Whoever does the work deletes exactly the rows it read before starting
(a row committed meanwhile survives for the next run). A row names the process that wrote it:
that process does the work right after its commit; anyone else takes it over only when that
process is gone (same host, pid no longer alive) or the row is older than `feed.owed_grace`.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable

from sqlalchemy import delete, func, insert, select
from sqlmodel import Session

from freshgate.feed.models import OwedWork

EMBED, CHECK, SEARCH = "embed", "check", "search"
CONTENT = frozenset({"registered", "content"})  # new sections: embeddings and a candidate search
SEARCHED = CONTENT | {"unretired"}  # back among the active sections: a candidate search
_ME: list[str] = []


def process_name() -> str:
    """host:pid of this process (computed on first use, never at import)."""
    if not _ME or not _ME[0].endswith(f":{os.getpid()}"):  # a forked child is another process
        _ME[:] = [f"{socket.gethostname()}:{os.getpid()}"]
    return _ME[0]


def owed_for(kind: str) -> list[str]:
    """The work a change of this kind owes."""
    if kind == "embedded":  # sections got their vectors: the content change that made them owes the check
        return []
    out = [EMBED] if kind in CONTENT else []
    return out + [SEARCH if kind in SEARCHED else CHECK]


def owe(conn, document_id: str | None, kind: str) -> None:
    """Record what a change owes, in the change's transaction (`conn`: the session's connection)."""
    work = owed_for(kind) if document_id else []
    if work:
        now, me = datetime.now(timezone.utc), process_name()
        conn.execute(insert(OwedWork.__table__),
                     [{"document_id": document_id, "kind": k, "owner": me, "created_at": now} for k in work])


@dataclass(frozen=True)
class Owed:
    """One owed row."""

    id: int
    document_id: str
    kind: str
    owner: str
    created_at: datetime


def read(session: Session, kinds: Iterable[str], doc_ids: Iterable[str] | None = None,
         limit: int | None = None) -> list[Owed]:
    """Owed rows of these kinds (of `doc_ids`, or all), oldest first."""
    t = OwedWork.__table__
    q = select(t.c.id, t.c.document_id, t.c.kind, t.c.owner, t.c.created_at).where(t.c.kind.in_(list(kinds)))
    ids = None if doc_ids is None else list(dict.fromkeys(doc_ids))
    if ids is not None:
        if not ids:
            return []
        out: list[Owed] = []
        for start in range(0, len(ids), 500):
            out += [Owed(*r) for r in session.connection().execute(
                q.where(t.c.document_id.in_(ids[start:start + 500])).order_by(t.c.id))]
        return out
    q = q.order_by(t.c.id)
    return [Owed(*r) for r in session.connection().execute(q if limit is None else q.limit(limit))]


def settle(session: Session, rows: Iterable[Owed | int]) -> int:
    """Delete these rows (the work is done); how many."""
    ids = [r.id if isinstance(r, Owed) else r for r in rows]
    t = OwedWork.__table__
    n = 0
    for start in range(0, len(ids), 500):
        n += session.connection().execute(delete(t).where(t.c.id.in_(ids[start:start + 500]))).rowcount or 0
    return n


def counts(conn) -> dict[str, int]:
    """{kind: rows} of all owed work."""
    t = OwedWork.__table__
    return {k: int(n) for k, n in conn.execute(select(t.c.kind, func.count()).group_by(t.c.kind))}


def _alive(owner: str) -> bool | None:
    """Whether the writing process still runs: True/False on this host, None when it cannot be told."""
    host, _, pid = owner.rpartition(":")
    if not host or host != socket.gethostname() or not pid.isdigit():
        return None
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: it exists
        return True
    return True


def orphaned(rows: Iterable[Owed], grace_seconds: float, now: datetime | None = None) -> list[Owed]:
    """The rows no live process will complete: their writer is gone, or they are older than the grace."""
    now = now or datetime.now(timezone.utc)
    cutoff = now - timedelta(seconds=grace_seconds)
    out, alive = [], {}
    for r in rows:
        at = r.created_at if r.created_at.tzinfo else r.created_at.replace(tzinfo=timezone.utc)
        if r.owner not in alive:
            alive[r.owner] = _alive(r.owner)
        if at <= cutoff or alive[r.owner] is False:
            out.append(r)
    return out
