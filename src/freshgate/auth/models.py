"""Tables of auth: API keys (hash only) and team membership of owners."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlmodel import Field, SQLModel


class ApiKey(SQLModel, table=True):
    """An API key: only its sha256 is stored; the raw key is shown once at creation."""

    __tablename__ = "api_key"

    id: str = Field(primary_key=True, max_length=16)  # public part of the key: fg_<id>_<secret>
    label: str = Field(max_length=200)
    role: str = Field(max_length=10)  # agent | owner | operator
    owner_id: Optional[str] = Field(default=None, max_length=200)  # the owner/team an owner key acts for
    key_hash: str = Field(max_length=64)
    created_at: datetime
    created_by: str = Field(default="", max_length=200)
    expires_at: Optional[datetime] = Field(default=None)
    last_used_at: Optional[datetime] = Field(default=None)
    revoked_at: Optional[datetime] = Field(default=None)


class OwnerMember(SQLModel, table=True):
    """A member (owner id) of a team (owner id): members act on the team's documents."""

    __tablename__ = "owner_member"

    team_id: str = Field(primary_key=True, max_length=200)
    member_id: str = Field(primary_key=True, max_length=200, index=True)
