"""Public shapes of the action gate: the check, its answer, the permission table, receipts (REST, MCP, CLI)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Decision = Literal["proceed", "caution", "needs_approval", "forbidden", "stop_and_ask"]


class ActionCheckIn(BaseModel):
    """A tool call an agent is about to make."""

    tool: str = Field(min_length=1, max_length=300, description="The tool's name, e.g. stripe.refund.")
    parameters: dict[str, Any] = Field(default_factory=dict, description="The call's parameters (nested objects allowed).")
    intent: str | None = Field(None, max_length=4000, description="What the agent is trying to do, in words (kept on the receipt).")
    risk: Literal["low", "high"] | None = Field(
        None, description="high (default for actions): a stale card or source stops; low: it only warns.")


class ReasonOut(BaseModel):
    """A reason for the decision (stable `code`, see actions/decide.py)."""

    code: str
    message: str
    item: str | None = None


class RuleOut(BaseModel):
    """A rule of the permission table that applies to the call."""

    card: str
    card_title: str
    card_version: int
    position: int
    tool: str
    conditions: list[str]
    lane: str
    owner: str | None = None
    log: str | None = None
    rollback: str | None = None
    status: Literal["match", "unknown"] = "match"
    unknown: list[str] = Field(default_factory=list, description="Conditions that could not be checked.")
    governing: bool = False


class DocumentRef(BaseModel):
    """A card or source relied on, with its state."""

    id: str
    title: str
    kind: str
    version: int | None = None
    state: str
    owner: str | None = None
    card: str | None = Field(None, description="For a source: the governing card that relies on it.")


class AskOut(BaseModel):
    """Whom to ask, and a suggested question."""

    owner: str | None = None
    contact: str | None = None
    question: str | None = None


class ActionCheckOut(BaseModel):
    """The answer: may the agent make this call now?"""

    decision: Decision
    tool: str
    lane: str | None = Field(None, description="The strictest lane of the applicable rules (before freshness).")
    reasons: list[ReasonOut]
    rules: list[RuleOut] = Field(default_factory=list)
    cards: list[DocumentRef] = Field(default_factory=list)
    sources: list[DocumentRef] = Field(default_factory=list)
    owner: str | None = Field(None, description="The tool's owner (from the governing rule, else the card's owner).")
    rollback: str | None = None
    log: str | None = None
    ask: AskOut = Field(default_factory=AskOut)
    receipt_id: str | None = None
    evaluated_at: datetime


class ToolOut(BaseModel):
    """One row of the permission table."""

    tool: str
    conditions: list[str]
    lane: str
    lane_from_card: bool
    card: str
    card_title: str
    card_version: int
    card_state: str
    card_status: str
    owner: str | None
    log: str | None
    rollback: str | None


class UncoveredOut(BaseModel):
    """A tool agents tried that no card governs."""

    tool: str
    count: int
    first_seen: datetime
    last_seen: datetime
    last_reason: str
    last_receipt: str | None


class ActionReceiptOut(BaseModel):
    """A stored action check."""

    id: str
    at: datetime
    tool: str
    parameters: dict[str, Any] | None
    intent: str | None
    risk: str
    decision: str
    lane: str | None
    reasons: list[dict[str, Any]]
    rules: list[dict[str, Any]]
    documents: list[dict[str, Any]]
    principal: str | None
