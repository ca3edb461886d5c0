"""Unanswered topics handed to an owner: who should write the missing source, who decided, when.

One current assignment per topic (a new hand-off replaces it); every hand-off is also an audit event
("assign_topic") so the global audit log says who handed what to whom.
Reads the topics through `lookup.receipts.unanswered` only; nothing here writes to the lookup's tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Field, Session, SQLModel, select

from freshgate.errors import Invalid, NotFound
from freshgate.lookup.models import UnansweredTopic
from freshgate.registry.service import RegistryService


class TopicAssignment(SQLModel, table=True):
    """The owner an unanswered topic was handed to, by whom and when."""

    __tablename__ = "topic_assignment"

    topic_id: int = Field(primary_key=True)
    owner_id: str = Field(max_length=200, index=True)
    assigned_by: str = Field(max_length=200)
    assigned_at: datetime


@dataclass
class Handed:
    """A topic with its current assignment (for an owner's "my items")."""

    topic: UnansweredTopic
    assignment: TopicAssignment


def assign(registry: RegistryService, topic_id: int, owner_id: str, actor: str) -> TopicAssignment:
    """Hand a topic to an active owner (replacing an earlier hand-off); flushes, the caller commits."""
    session = registry.session
    topic = session.get(UnansweredTopic, topic_id)
    if topic is None:
        raise NotFound(f"no unanswered topic with id {topic_id}")
    owner = registry.owner(owner_id)
    if not owner.active:
        raise Invalid(f"owner {owner_id} is inactive: hand the topic to an active owner")
    now = registry.ctx.clock()
    current = session.get(TopicAssignment, topic_id)
    before = {"owner": current.owner_id} if current else None
    if current is None:
        current = TopicAssignment(topic_id=topic_id, owner_id=owner_id, assigned_by=actor, assigned_at=now)
    else:
        current.owner_id, current.assigned_by, current.assigned_at = owner_id, actor, now
    session.add(current)
    registry.record_event(actor, "assign_topic", None, before=before, after={"topic": topic_id, "owner": owner_id},
                          detail=f"{owner_id} to write a source for: {topic.query}")
    session.flush()
    return current


def assignments(session: Session, topic_ids: list[int]) -> dict[int, TopicAssignment]:
    """Current assignments of these topics, by topic id."""
    if not topic_ids:
        return {}
    rows = session.exec(select(TopicAssignment).where(TopicAssignment.topic_id.in_(topic_ids))).all()
    return {a.topic_id: a for a in rows}


def handed_to(session: Session, owner_ids: list[str], limit: int = 50) -> list[Handed]:
    """Topics handed to any of these owners, most asked first."""
    if not owner_ids:
        return []
    q = (select(UnansweredTopic, TopicAssignment).join(TopicAssignment, TopicAssignment.topic_id == UnansweredTopic.id)
         .where(TopicAssignment.owner_id.in_(owner_ids))
         .order_by(UnansweredTopic.count.desc(), UnansweredTopic.id).limit(limit))
    return [Handed(t, a) for t, a in session.exec(q).all()]
