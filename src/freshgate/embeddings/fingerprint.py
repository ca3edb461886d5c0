"""The model fingerprint stored with the embeddings: vectors of another model are never searched."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from freshgate.embeddings.models import EmbeddingModel
from freshgate.registry.models import Section

log = logging.getLogger(__name__)


def stored(session: Session) -> EmbeddingModel | None:
    """The fingerprint recorded with the stored embeddings, if any."""
    return session.get(EmbeddingModel, 1)


def check(engine, fingerprint: str | None, name: str = "") -> str | None:
    """None when the model may use the stored embeddings (recording it when none is recorded yet);
    otherwise why not. An unknown fingerprint (a custom test embedder) is not checked."""
    if not fingerprint:
        return None
    try:
        return _check(engine, fingerprint, name)
    except IntegrityError:
        # Replicas starting together on a fresh database: another one recorded its model first.
        return _check(engine, fingerprint, name)


def _check(engine, fingerprint: str, name: str) -> str | None:
    with Session(engine) as session:
        row = stored(session)
        if row is not None and row.fingerprint == fingerprint:
            return None
        vectors = session.exec(select(func.count()).select_from(Section).where(Section.embedding.is_not(None))).one()
        if row is not None and vectors:
            return (f"the embedding model {name or '?'} (sha256 {fingerprint[:12]}…) is not the model that made the "
                    f"{vectors} stored vectors (sha256 {row.fingerprint[:12]}…, {row.name}); lookups stop until "
                    "`freshgate reembed` is run deliberately")
        _record(session, fingerprint, name)
        session.commit()
    return None


def _record(session: Session, fingerprint: str, name: str) -> None:
    row = stored(session) or EmbeddingModel(id=1, fingerprint=fingerprint, recorded_at=datetime.now(timezone.utc))
    row.fingerprint, row.name, row.recorded_at = fingerprint, name[:1000], datetime.now(timezone.utc)
    session.add(row)


def forget_vectors(engine, fingerprint: str, name: str = "") -> int:
    """Drop every stored vector and record the new model (they are embedded again on the next build)."""
    with Session(engine) as session:
        n = session.execute(update(Section).where(Section.embedding.is_not(None)).values(embedding=None)).rowcount
        _record(session, fingerprint, name)
        session.commit()
    log.warning("dropped %d stored vectors for a re-embed with %s (%s…)", n, name, fingerprint[:12])
    return n
