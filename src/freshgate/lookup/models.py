"""Tables of the lookup domain: decision receipts (+ the documents they relied on) and unanswered topics."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, Column, Index, LargeBinary, Text
from sqlmodel import Field, SQLModel


class LookupReceipt(SQLModel, table=True):
    """One lookup as answered: query, decision, reasons and the exact versions cited."""

    __tablename__ = "lookup_receipt"

    id: str = Field(primary_key=True, max_length=32)
    at: datetime = Field(index=True)
    query: str = Field(sa_column=Column(Text, nullable=False))
    risk: str = Field(default="low", max_length=10)
    scope: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON, nullable=True))
    decision: str = Field(max_length=20, index=True)
    reasons: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # [{document_id, version, anchor, state, score, lane}] exactly as relied on.
    citations: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    principal: Optional[str] = Field(default=None, max_length=200, index=True)  # who asked (auth principal id)


class ReceiptDocument(SQLModel, table=True):
    """Link: a receipt relied on this version of this document (for impact listing)."""

    __tablename__ = "receipt_document"
    __table_args__ = (Index("ix_receipt_document_document_id", "document_id", "receipt_id"),)

    receipt_id: str = Field(foreign_key="lookup_receipt.id", primary_key=True, max_length=32)
    document_id: str = Field(primary_key=True, max_length=200)
    version: int


class UnansweredTopic(SQLModel, table=True):
    """A question nothing registered could answer; similar questions are counted together."""

    __tablename__ = "unanswered_topic"

    id: Optional[int] = Field(default=None, primary_key=True)
    query: str = Field(sa_column=Column(Text, nullable=False))  # the first wording seen
    last_query: str = Field(sa_column=Column(Text, nullable=False))
    count: int = Field(default=1)
    first_seen: datetime
    last_seen: datetime = Field(index=True)
    embedding: Optional[bytes] = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
