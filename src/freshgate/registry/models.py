"""Tables of the registry: owners, documents (sources and SOP cards), versions, sections,
SOP->source dependencies and the append-only audit log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import JSON, Column, Index, Integer, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class Owner(SQLModel, table=True):
    """A person or team that owns documents."""

    id: str = Field(primary_key=True, max_length=200)
    name: str = Field(default="", max_length=200)
    contact: str = Field(default="", max_length=300)
    active: bool = Field(default=True)
    created_at: datetime


_REVISION = Column("revision", Integer, nullable=False, default=1)


class Document(SQLModel, table=True):
    """A source of truth or an SOP card: both share one lifecycle."""

    id: str = Field(primary_key=True, max_length=200)
    kind: str = Field(max_length=10, index=True)  # source | sop
    title: str = Field(max_length=500)
    owner_id: Optional[str] = Field(default=None, foreign_key="owner.id", index=True, max_length=200)
    criticality: str = Field(default="medium", max_length=10)
    review_every_days: int = Field(default=90)
    last_verified: Optional[datetime] = Field(default=None)
    verified_by: Optional[str] = Field(default=None, max_length=200)
    expires: Optional[date] = Field(default=None)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    url: Optional[str] = Field(default=None, max_length=2000)
    supersedes: Optional[str] = Field(default=None, max_length=200)
    status: str = Field(default="active", max_length=10, index=True)  # active | retired
    successor: Optional[str] = Field(default=None, max_length=200)
    lane: Optional[str] = Field(default=None, max_length=12)  # SOP only
    tools: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    version: int = Field(default=1)
    content_hash: str = Field(max_length=64)
    # When the content last changed after registration; None = content is as verified.
    changed_at: Optional[datetime] = Field(default=None)
    path: Optional[str] = Field(default=None, max_length=1000)
    file_hash: Optional[str] = Field(default=None, max_length=64)
    fetch_failures: int = Field(default=0)
    http_etag: Optional[str] = Field(default=None, max_length=500)
    http_last_modified: Optional[str] = Field(default=None, max_length=100)
    last_fetched_at: Optional[datetime] = Field(default=None)
    # The synced fields as the file last said them: the base of the three-way file/API merge (registry/sync.py).
    file_fields: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime
    updated_at: datetime
    # Record revision for optimistic concurrency (the ETag): SQLAlchemy bumps it on every
    # UPDATE and adds `WHERE revision = <read value>`, so a concurrent writer fails loudly.
    revision: int = Field(default=1, sa_column=_REVISION)

    __mapper_args__ = {"version_id_col": _REVISION}


class DocumentVersion(SQLModel, table=True):
    """One version of a document's content; versions are never rewritten."""

    __tablename__ = "document_version"
    __table_args__ = (UniqueConstraint("document_id", "version"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    document_id: str = Field(foreign_key="document.id", max_length=200, index=True)
    version: int
    content: str = Field(sa_column=Column(Text, nullable=False))
    content_hash: str = Field(max_length=64)
    front_matter: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    origin: str = Field(default="file", max_length=10)  # file | api | remote
    created_by: str = Field(default="", max_length=200)
    created_at: datetime


class Section(SQLModel, table=True):
    """A heading-delimited chunk of a document's current version."""

    __table_args__ = (UniqueConstraint("document_id", "anchor"), Index("ix_section_text_hash", "text_hash"))

    id: Optional[int] = Field(default=None, primary_key=True)
    document_id: str = Field(foreign_key="document.id", max_length=200, index=True)
    version: int
    anchor: str = Field(max_length=300)
    heading: str = Field(max_length=500)
    level: int
    position: int
    text: str = Field(sa_column=Column(Text, nullable=False))
    text_hash: str = Field(max_length=64)
    embedding: Optional[bytes] = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class Dependency(SQLModel, table=True):
    """An SOP card relies on a source (the source may not be registered yet)."""

    sop_id: str = Field(foreign_key="document.id", primary_key=True, max_length=200)
    source_id: str = Field(primary_key=True, max_length=200, index=True)


class AuditEvent(SQLModel, table=True):
    """An append-only record of one change."""

    __tablename__ = "audit_event"

    id: Optional[int] = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str = Field(max_length=200)
    action: str = Field(max_length=50, index=True)
    document_id: Optional[str] = Field(default=None, max_length=200, index=True)
    owner_id: Optional[str] = Field(default=None, max_length=200)
    before: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON, nullable=True))
    detail: str = Field(default="", max_length=2000)
