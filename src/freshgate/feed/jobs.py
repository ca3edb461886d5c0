"""Scheduled feed jobs: complete owed work, prune the change log."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from freshgate.runtime import Runtime


def complete_owed(rt: "Runtime", now: datetime) -> dict:
    """Complete the embeddings and conflict checks that interrupted writers left owed."""
    from freshgate.feed.complete import complete

    lk = rt.extras.get("lookup")
    if lk is not None and not lk.index.ready:
        lk.warm_up()  # a check needs the index; the worker builds it once
    return complete(rt).as_dict()


def prune(rt: "Runtime", now: datetime) -> dict:
    """Prune change-log entries older than the retention that every live follower has applied."""
    from freshgate.feed.prune import prune as prune_log

    f = rt.settings.feed
    return prune_log(rt.engine, retention_days=f.retention_days, consumer_timeout=f.consumer_timeout)
