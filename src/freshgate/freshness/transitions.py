"""Record freshness state transitions: compare each document's computed state with the state
the last sweep saw, and write a `state_event` for every difference (first sighting: from NULL)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable

from sqlalchemy import insert, update
from sqlmodel import Session, select

from freshgate.errors import NotFound
from freshgate.freshness.models import DocumentState, StateEvent
from freshgate.freshness.rules import Freshness
from freshgate.registry.service import RegistryContext, RegistryService
from freshgate.registry.views import RulesConfig

log = logging.getLogger(__name__)
BATCH = 5_000


@dataclass
class SweepResult:
    """What one sweep saw and recorded."""

    documents: int = 0
    events: list[StateEvent] = field(default_factory=list)
    states: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        """JSON-able summary for the job log."""
        moves = Counter(f"{e.from_state or 'new'}->{e.to_state}" for e in self.events)
        return {"documents": self.documents, "transitions": len(self.events),
                "by_transition": dict(sorted(moves.items())), "states": dict(sorted(self.states.items()))}


def reasons_json(fr: Freshness) -> list[dict]:
    """The reasons of a computed state as JSON-able dicts (code, message, state, item)."""
    return [{"code": r.code, "message": r.message, "state": r.state, "item": r.item} for r in fr.reasons]


def _computed(session: Session, now: datetime, cfg: RulesConfig,
              doc_ids: list[str] | None) -> Iterable[tuple[str, str | None, Freshness]]:
    """(document id, owner id, freshness) of all documents, or of `doc_ids`."""
    if doc_ids is None:
        try:  # the streaming sweep (no ORM objects), when the freshness service provides it
            from freshgate.freshness.service import sweep_states
        except ImportError:
            sweep_states = None
        if sweep_states is not None:
            return _streamed(sweep_states, session, now, cfg)
    svc = RegistryService(session, RegistryContext(rules=cfg))
    docs = svc.all_documents() if doc_ids is None else _some(svc, doc_ids)
    fresh = svc.freshness(docs, now)
    return ((d.id, d.owner_id, fresh[d.id]) for d in docs)


def _streamed(sweep_states, session: Session, now: datetime, cfg: RulesConfig):
    # Its own read session: the streaming cursor's options must not stick to the writing connection.
    with Session(session.get_bind()) as reader:
        for s in sweep_states(reader, now, cfg):
            yield s[0], s[1], s[2]


def sweep_once(session: Session, now: datetime, cfg: RulesConfig, doc_ids: list[str] | None = None) -> SweepResult:
    """Compute states at `now` (of all documents, or of `doc_ids`) and record what changed; flushes."""
    q = select(DocumentState.document_id, DocumentState.state)
    if doc_ids is not None:
        q = q.where(DocumentState.document_id.in_(doc_ids))
    current = dict(session.exec(q).all())
    result = SweepResult()
    events: list[dict] = []
    first: list[dict] = []
    moved: list[dict] = []
    for doc_id, owner_id, fr in _computed(session, now, cfg, doc_ids):
        result.documents += 1
        result.states[fr.state] += 1
        seen = current.get(doc_id)
        if seen == fr.state:
            continue
        events.append({"document_id": doc_id, "owner_id": owner_id, "at": now, "from_state": seen,
                       "to_state": fr.state, "reasons": reasons_json(fr)})
        (first if seen is None else moved).append({"document_id": doc_id, "state": fr.state, "since": now})
    for i in range(0, len(events), BATCH):
        result.events.extend(session.scalars(insert(StateEvent).returning(StateEvent), events[i:i + BATCH]).all())
    for i in range(0, len(first), BATCH):
        session.execute(insert(DocumentState), first[i:i + BATCH])
    for i in range(0, len(moved), BATCH):
        session.execute(update(DocumentState), moved[i:i + BATCH])
    session.flush()
    if events:
        log.info("sweep at %s: %d documents, %d transitions", now.isoformat(), result.documents, len(events))
    return result


def _some(svc: RegistryService, doc_ids: list[str]) -> list:
    out = []
    for doc_id in dict.fromkeys(doc_ids):
        try:
            out.append(svc.get(doc_id))
        except NotFound:
            continue
    return out


def record_transitions(session: Session, now: datetime, cfg: RulesConfig) -> list[StateEvent]:
    """Sweep every document at `now`; record and return the state transitions (flushed, not committed)."""
    return sweep_once(session, now, cfg).events


def current_states(session: Session) -> dict[str, DocumentState]:
    """The state each document was last seen in, by document id."""
    return {s.document_id: s for s in session.exec(select(DocumentState)).all()}


def history(session: Session, doc_id: str | None = None, since: datetime | None = None) -> list[StateEvent]:
    """Recorded transitions, oldest first, optionally of one document / after a time."""
    q = select(StateEvent)
    if doc_id is not None:
        q = q.where(StateEvent.document_id == doc_id)
    if since is not None:
        q = q.where(StateEvent.at >= since)
    return list(session.exec(q.order_by(StateEvent.at, StateEvent.id)).all())
