"""Tables of the action gate: the tool permission table, action receipts and uncovered actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel


class ToolRuleRow(SQLModel, table=True):
    """One tool rule of an SOP card's current version (rebuilt whenever the card changes)."""

    __tablename__ = "tool_rule"

    id: Optional[int] = Field(default=None, primary_key=True)
    card_id: str = Field(max_length=200, index=True)
    card_version: int
    position: int  # order within the card's `tools:` list
    pattern: str = Field(max_length=300, index=True)  # lower-case tool name or glob
    is_glob: bool = Field(default=False, index=True)
    conditions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    lane: str = Field(max_length=12)
    lane_from_card: bool = Field(default=False)  # the old form: a bare name takes the card's lane
    owner: Optional[str] = Field(default=None, max_length=200)
    log_location: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    rollback: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))


class ActionReceipt(SQLModel, table=True):
    """One action check as answered: tool, redacted parameters, decision and the versions relied on."""

    __tablename__ = "action_receipt"

    id: str = Field(primary_key=True, max_length=32)
    at: datetime = Field(index=True)
    tool: str = Field(max_length=300, index=True)
    parameters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    intent: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    risk: str = Field(default="high", max_length=10)
    decision: str = Field(max_length=20, index=True)
    lane: Optional[str] = Field(default=None, max_length=12)
    reasons: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # [{card_id, card_version, position, tool, conditions, lane}] the governing rules
    rules: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # [{document_id, version, state, role: card | source}] exactly as relied on
    documents: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    principal: Optional[str] = Field(default=None, max_length=200, index=True)  # who asked (auth principal id)


class ActionReceiptDocument(SQLModel, table=True):
    """Link: an action check relied on this version of this card or source (impact listing)."""

    __tablename__ = "action_receipt_document"
    __table_args__ = (Index("ix_action_receipt_document_document_id", "document_id", "receipt_id"),)

    receipt_id: str = Field(foreign_key="action_receipt.id", primary_key=True, max_length=32)
    document_id: str = Field(primary_key=True, max_length=200)
    version: int


class UncoveredAction(SQLModel, table=True):
    """A tool agents asked about that no SOP card governs (or no rule of it covers the call), counted."""

    __tablename__ = "uncovered_action"

    tool: str = Field(primary_key=True, max_length=300)
    count: int = Field(default=0)
    first_seen: datetime
    last_seen: datetime = Field(index=True)
    last_reason: str = Field(default="no_procedure", max_length=30)
    last_receipt: Optional[str] = Field(default=None, max_length=32)
