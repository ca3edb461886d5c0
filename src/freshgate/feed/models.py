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


class OwedWork(SQLModel, table=True):
    """Derived work a committed change still owes (embedding, conflict check).

    Written in the transaction of the change (feed.service.record), deleted by whoever completes
    it (feed.owed); a process killed after the commit leaves it for the next one.
    """

    __tablename__ = "owed_work"

    id: Optional[int] = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"),
                                                             primary_key=True, autoincrement=True))
    document_id: str = Field(max_length=200, index=True)
    kind: str = Field(max_length=10)  # embed | check | search (a check with a candidate search)
    owner: str = Field(default="", max_length=200)  # host:pid of the process that wrote it (and will do it)
    created_at: datetime


class FeedConsumer(SQLModel, table=True):
    """A process following the feed and the newest change it applied (pruning keeps what it still needs)."""

    __tablename__ = "feed_consumer"

    name: str = Field(primary_key=True, max_length=200)
    watermark: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    seen_at: datetime


class FeedMark(SQLModel, table=True):
    """Named positions in the feed; `pruned_through`: every change up to this id was pruned."""

    __tablename__ = "feed_mark"

    name: str = Field(primary_key=True, max_length=40)
    value: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
