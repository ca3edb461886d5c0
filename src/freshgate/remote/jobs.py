"""Scheduled job: refresh every remote source (conditional GET, bounded concurrency)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING

import httpx

from freshgate import db
from freshgate.errors import FreshgateError
from freshgate.remote.fetch import FetchPolicy, FetchResult, fetch
from freshgate.remote.service import RemoteTarget, apply_result, targets

if TYPE_CHECKING:
    from freshgate.runtime import Runtime

log = logging.getLogger(__name__)


async def fetch_all(items: list[RemoteTarget], policy: FetchPolicy, concurrency: int,
                    transport: httpx.AsyncBaseTransport | None = None) -> list[FetchResult]:
    """Fetch every target, at most `concurrency` at a time; results in the order of `items`."""
    sem = asyncio.Semaphore(max(1, concurrency))
    limits = httpx.Limits(max_connections=max(1, concurrency), max_keepalive_connections=max(1, concurrency))
    async with httpx.AsyncClient(timeout=policy.timeout, limits=limits, transport=transport,
                                 trust_env=False) as client:
        async def one(t: RemoteTarget) -> FetchResult:
            async with sem:
                return await fetch(client, t.url, policy, etag=t.etag, last_modified=t.last_modified)

        return await asyncio.gather(*(one(t) for t in items))


def refresh(rt: "Runtime", now: datetime, *, transport: httpx.AsyncBaseTransport | None = None) -> dict:
    """Fetch every active document with a url; store new versions and fetch bookkeeping; a summary."""
    cfg = rt.settings.remote
    with db.session_scope(rt.engine) as session:
        items = targets(session, rt.registry_ctx)
    if not items:
        return {"documents": 0}
    results = asyncio.run(fetch_all(items, FetchPolicy.from_settings(cfg), cfg.concurrency, transport))
    counts: Counter = Counter()
    errors: dict[str, str] = {}
    pairs = list(zip(items, results))
    # Bookkeeping-only outcomes (304, failures) share one transaction; new content gets its own.
    with db.session_scope(rt.engine) as session:
        for target, result in pairs:
            if result.status != "new":
                counts[apply_result(session, rt.registry_ctx, target, result, now)] += 1
                if result.status == "failed":
                    errors[target.document_id] = result.error or "failed"
    for target, result in pairs:
        if result.status != "new":
            continue
        try:
            with db.session_scope(rt.engine) as session:
                counts[apply_result(session, rt.registry_ctx, target, result, now)] += 1
        except FreshgateError as exc:  # e.g. an owner edited it at the same moment: next run retries
            counts["conflict"] += 1
            errors[target.document_id] = exc.detail
    summary = {"documents": len(items), **dict(sorted(counts.items()))}
    if errors:
        summary["errors"] = dict(list(sorted(errors.items()))[:50])
    return summary
