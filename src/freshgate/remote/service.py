"""Remote sources in the registry: which documents to fetch, and what a fetch result changes.

New content goes through `RegistryService.update_content` (new version, state `changed`,
listeners re-embed). Fetch bookkeeping (ETag, Last-Modified, last fetch, consecutive failures)
is written with a plain UPDATE that leaves the document's revision alone, so a background
fetch never invalidates an owner's If-Match.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session

from freshgate.markdown.parse import content_hash
from freshgate.registry.models import Document
from freshgate.registry.service import RegistryContext, RegistryService
from freshgate.remote.fetch import FetchResult

log = logging.getLogger(__name__)
ACTOR = "remote-refresh"


@dataclass(frozen=True)
class RemoteTarget:
    """What the fetcher needs to know about one document with a url."""

    document_id: str
    url: str
    etag: str | None
    last_modified: str | None
    fetch_failures: int


def targets(session: Session, ctx: RegistryContext | None = None) -> list[RemoteTarget]:
    """Active documents that have a url, with their stored validators."""
    docs = RegistryService(session, ctx).all_documents()
    return [RemoteTarget(d.id, d.url, d.http_etag, d.http_last_modified, d.fetch_failures)
            for d in docs if d.url and d.status == "active"]


def record_fetch(session: Session, doc_id: str, *, ok: bool, at: datetime, etag: str | None = None,
                 last_modified: str | None = None) -> None:
    """Store fetch bookkeeping: success resets the failure count, failure adds one (flushes)."""
    values: dict = {"last_fetched_at": at}
    if ok:
        values.update(fetch_failures=0, http_etag=(etag or None) and etag[:500],
                      http_last_modified=(last_modified or None) and last_modified[:100])
    else:
        values["fetch_failures"] = Document.fetch_failures + 1
    session.execute(update(Document).where(Document.id == doc_id).values(**values)
                    .execution_options(synchronize_session=False))
    session.flush()
    doc = session.identity_map.get(session.identity_key(Document, doc_id))
    if doc is not None:
        session.refresh(doc)


def apply_result(session: Session, ctx: RegistryContext, target: RemoteTarget, result: FetchResult,
                 now: datetime) -> str:
    """Apply one fetch result; returns updated | unchanged | not_modified | failed | refused."""
    if result.status == "failed":
        record_fetch(session, target.document_id, ok=False, at=now)
        log.warning("remote %s (%s) failed: %s", target.document_id, target.url, result.error)
        return "refused" if result.refused else "failed"
    if result.status == "not_modified":
        record_fetch(session, target.document_id, ok=True, at=now, etag=result.etag,
                     last_modified=result.last_modified)
        return "not_modified"
    svc = RegistryService(session, ctx)
    doc = svc.get(target.document_id)
    outcome = "unchanged"
    if content_hash(result.content or "") != doc.content_hash:
        svc.update_content(doc.id, result.content or "", actor=ACTOR, origin="remote")
        outcome = "updated"
        log.info("remote %s changed: new version %d", doc.id, doc.version)
    record_fetch(session, target.document_id, ok=True, at=now, etag=result.etag, last_modified=result.last_modified)
    return outcome
