"""The change log: one append-only row per committed change that lookups or conflict checks can see."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import BigInteger, Column, Integer
from sqlmodel import Field, SQLModel


class ChangeLog(SQLModel, table=True):
    """One committed change of a document; ids grow in commit order (see feed.service)."""

    __tablename__ = "change_log"

    id: Optional[int] = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"),
                                                             primary_key=True, autoincrement=True))
    document_id: Optional[str] = Field(default=None, max_length=200, index=True)
    kind: str = Field(max_length=20)  # registered | content | retired | unretired | verified | owner | meta | embedded
    version: int = Field(default=0)
    created_at: datetime
