"""The freshness sweep at scale: stream the few columns the rules need and call the pure rules.

No ORM objects are built, so a sweep over a million documents stays within seconds; the pure
`rules.evaluate` remains the single source of truth (the same function the API and lookup use).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timezone
from typing import Iterator, NamedTuple

from sqlalchemy import DateTime, type_coerce
from sqlmodel import Session, and_, select

from freshgate.freshness.rules import PRECEDENCE, Facts, Freshness, SourceFacts, evaluate
from freshgate.registry.models import Dependency, Document, DocumentVersion, Owner
from freshgate.registry.views import RulesConfig

BATCH = 20_000
# Plain DateTime instead of UTCDateTime: skips a Python-level conversion per value (a third of the
# sweep on SQLite). The rules read a naive datetime as UTC, which is what UTCDateTime stores.
_COLUMNS = (
    Document.id, Document.kind, Document.status, Document.successor, Document.owner_id, Owner.active,
    Document.review_every_days, type_coerce(Document.last_verified, DateTime()), Document.expires,
    type_coerce(Document.changed_at, DateTime()), Document.fetch_failures,
)


class SweptState(NamedTuple):
    """One document's computed state, as the sweep yields it."""

    document_id: str
    owner_id: str | None
    freshness: Freshness


def _rows(session: Session, sop: bool) -> Iterator[tuple]:
    q = select(*_COLUMNS).outerjoin(Owner, Owner.id == Document.owner_id)
    q = q.where(Document.kind == "sop") if sop else q.where(Document.kind != "sop")
    result = session.connection().execution_options(stream_results=True, yield_per=BATCH).execute(q)
    for part in result.partitions(BATCH):
        yield from part


def _facts(row: tuple) -> Facts:
    (doc_id, kind, status, successor, owner_id, active, every, lv, expires, changed_at, failures) = row
    return Facts(doc_id, kind, status, successor, owner_id is not None, bool(active), every, _utc(lv), expires,
                 _utc(changed_at), failures)


def _utc(dt: datetime | None) -> datetime | None:
    return dt if dt is None or dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _content_changed(session: Session) -> dict[str, datetime]:
    """Newest-version time of every cited source edited after registration (see views.content_changed_at)."""
    cited = select(Dependency.source_id)
    q = (select(Document.id, DocumentVersion.created_at)
         .join(DocumentVersion, and_(DocumentVersion.document_id == Document.id,
                                     DocumentVersion.version == Document.version))
         .where(Document.version > 1, Document.id.in_(cited)))
    return dict(session.connection().execute(q).all())


def sweep_states(session: Session, now: datetime, cfg: RulesConfig | None = None) -> Iterator[SweptState]:
    """Every document's freshness at `now`: sources first, then SOP cards (which depend on them)."""
    cfg = cfg or RulesConfig()
    kw = {"warning_days": cfg.warning_days, "unreachable_after": cfg.unreachable_after}
    deps: dict[str, list[str]] = defaultdict(list)
    for sop_id, source_id in session.connection().execute(
            select(Dependency.sop_id, Dependency.source_id).order_by(Dependency.sop_id, Dependency.source_id)):
        deps[sop_id].append(source_id)
    cited = {s for lst in deps.values() for s in lst}
    changed = _content_changed(session) if cited else {}
    source_state: dict[str, str] = {}
    for row in _rows(session, sop=False):
        fr = evaluate(_facts(row), now, **kw)
        if row[0] in cited:
            source_state[row[0]] = fr.state
            if row[9] is not None:  # changed_at, not yet re-verified
                at = _utc(row[9])
                changed[row[0]] = max(at, changed.get(row[0], at))
        yield SweptState(row[0], row[4], fr)
    for row in _rows(session, sop=True):
        srcs = [SourceFacts(s, source_state.get(s), changed.get(s)) for s in deps.get(row[0], ())]
        yield SweptState(row[0], row[4], evaluate(_facts(row), now, sources=srcs, **kw))


def count_states(session: Session, now: datetime, cfg: RulesConfig | None = None) -> dict[str, int]:
    """How many documents are in each state at `now` (every state listed, worst first)."""
    counts = Counter(s[2].state for s in sweep_states(session, now, cfg))
    return {s: counts.get(s, 0) for s in PRECEDENCE}
