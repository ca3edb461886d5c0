"""Tables of notifications: every delivery (claimed before it is sent) and the event-stream cursor."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class Delivery(SQLModel, table=True):
    """One message to one recipient on one channel; `dedupe_key` makes it happen once."""

    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(max_length=10, index=True)  # event | digest | operator
    channel: str = Field(max_length=10)  # webhook | email
    recipient: str = Field(max_length=300)
    dedupe_key: str = Field(max_length=400, unique=True)
    created_at: datetime
    # When the current attempt was claimed; a `sending` row older than the lease is re-claimable.
    claimed_at: Optional[datetime] = Field(default=None)
    sent_at: Optional[datetime] = Field(default=None)
    status: str = Field(default="sending", max_length=10, index=True)  # sending | sent | failed
    attempts: int = Field(default=0)
    last_error: Optional[str] = Field(default=None, max_length=2000)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class NotifyCursor(SQLModel, table=True):
    """How far a stream (e.g. state events) has been turned into notifications."""

    __tablename__ = "notify_cursor"

    name: str = Field(primary_key=True, max_length=50)
    last_id: int = Field(default=0)
    updated_at: datetime
