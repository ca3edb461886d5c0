"""Pruning the change log, and what followers need for it to be safe.

Entries are deleted only when older than `feed.retention_days` AND already applied by every
live follower (each follower writes its watermark to `feed_consumer` every few seconds). The
newest entry is always kept, so ids keep growing. `feed_mark.pruned_through` records how far
the log was pruned: a follower or snapshot whose watermark lies below it has missed changes it
can no longer read, and rebuilds instead of following (never a silent gap).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Engine

from freshgate.feed.models import ChangeLog, FeedConsumer, FeedMark

log = logging.getLogger(__name__)
PRUNED = "pruned_through"


def pruned_through(conn) -> int:
    """Every change with an id up to this one was pruned (0: nothing was)."""
    t = FeedMark.__table__
    return int(conn.execute(select(t.c.value).where(t.c.name == PRUNED)).scalar_one_or_none() or 0)


def heartbeat(engine: Engine, name: str, watermark: int) -> None:
    """Record that follower `name` is alive and has applied everything up to `watermark`."""
    t = FeedConsumer.__table__
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        if not conn.execute(update(t).where(t.c.name == name).values(watermark=watermark, seen_at=now)).rowcount:
            conn.execute(insert(t).values(name=name, watermark=watermark, seen_at=now))


def forget(engine: Engine, name: str) -> None:
    """A follower that stops no longer holds back pruning."""
    t = FeedConsumer.__table__
    with engine.begin() as conn:
        conn.execute(delete(t).where(t.c.name == name))


def prune(engine: Engine, *, retention_days: float, consumer_timeout: float,
          now: datetime | None = None) -> dict:
    """Delete the entries every live follower has applied and that are older than the retention."""
    now = now or datetime.now(timezone.utc)
    log_t, cons, mark = ChangeLog.__table__, FeedConsumer.__table__, FeedMark.__table__
    with engine.begin() as conn:
        newest = int(conn.execute(select(func.coalesce(func.max(log_t.c.id), 0))).scalar_one())
        old = conn.execute(select(func.max(log_t.c.id)).where(
            log_t.c.created_at < now - timedelta(days=retention_days))).scalar_one_or_none()
        live_since = now - timedelta(seconds=consumer_timeout)
        slowest = conn.execute(select(func.min(cons.c.watermark)).where(cons.c.seen_at >= live_since)).scalar()
        dead = conn.execute(delete(cons).where(cons.c.seen_at < live_since)).rowcount or 0
        upto = min(x for x in (old, slowest, newest - 1) if x is not None) if old is not None else 0
        done = pruned_through(conn)
        if upto <= done:
            return {"pruned": 0, "pruned_through": done, "newest": newest, "slowest_follower": slowest,
                    "dead_followers_dropped": dead}
        n = conn.execute(delete(log_t).where(log_t.c.id <= upto)).rowcount or 0
        if not conn.execute(update(mark).where(mark.c.name == PRUNED).values(value=upto)).rowcount:
            conn.execute(insert(mark).values(name=PRUNED, value=upto))
    log.info("change log pruned through id %d (%d entries)", upto, n)
    return {"pruned": n, "pruned_through": upto, "newest": newest, "slowest_follower": slowest,
            "dead_followers_dropped": dead}
