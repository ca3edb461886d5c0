"""Tables of the freshness sweep: every recorded state transition and each document's current state."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class StateEvent(SQLModel, table=True):
    """One state transition of a document seen by a sweep (from_state None: first sighting)."""

    __tablename__ = "state_event"

    id: Optional[int] = Field(default=None, primary_key=True)
    document_id: str = Field(max_length=200, index=True)
    owner_id: Optional[str] = Field(default=None, max_length=200, index=True)
    at: datetime = Field(index=True)
    from_state: Optional[str] = Field(default=None, max_length=20)
    to_state: str = Field(max_length=20, index=True)
    reasons: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class DocumentState(SQLModel, table=True):
    """The state a document was last seen in by a sweep, and since when."""

    __tablename__ = "document_state"

    document_id: str = Field(primary_key=True, max_length=200)
    state: str = Field(max_length=20, index=True)
    since: datetime
