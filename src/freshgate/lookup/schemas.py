"""Public shapes of the lookup: request, answer, receipts, unanswered topics (REST, MCP, client)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from freshgate.strict import StrictIn


class ScopeIn(StrictIn):
    """Restrict a lookup to some documents (all lists optional; empty = no restriction)."""

    ids: list[str] = Field(default_factory=list, max_length=500, description="Only these document ids.")
    tags: list[str] = Field(default_factory=list, max_length=100, description="Only documents with any of these tags.")
    kinds: list[Literal["source", "sop"]] = Field(default_factory=list, description="Only sources or SOP cards.")


class LookupIn(StrictIn):
    """A question or intended action to check before answering or acting."""

    query: str = Field(min_length=1, max_length=4000, description="The question or intended action, in words.")
    scope: ScopeIn | None = None
    risk: Literal["low", "high"] = Field("low", description="high: stale knowledge stops instead of cautioning.")
    top_k: int | None = Field(None, ge=1, le=50, description="Citations at most (default from settings).")


class ReasonOut(BaseModel):
    """A reason for the decision (stable `code`, see lookup/decide.py)."""

    code: str
    message: str
    item: str | None = None


class CitationOut(BaseModel):
    """A section relied on, with the state of its document."""

    document_id: str
    title: str
    kind: str
    version: int
    anchor: str
    cite: str
    snippet: str
    state: str
    owner: str | None
    last_verified: datetime | None
    next_review: datetime | None
    score: float
    lane: str | None = None
    criticality: str = "medium"
    substituted_for: str | None = None


class AskOut(BaseModel):
    """Whom to ask, and a suggested question naming the problem."""

    owner: str | None = None
    contact: str | None = None
    question: str | None = None
    note: str | None = Field(None, description="Why the question goes to the operators instead of the document's owner.")


class LookupOut(BaseModel):
    """The decision: proceed, caution or stop_and_ask, with reasons, citations and whom to ask."""

    decision: Literal["proceed", "caution", "stop_and_ask"]
    reasons: list[ReasonOut]
    citations: list[CitationOut]
    conflicts: list[dict[str, Any]] = Field(default_factory=list)
    ask: AskOut
    receipt_id: str | None
    evaluated_at: datetime


class ReceiptOut(BaseModel):
    """A stored decision receipt (a lookup, or an action check: then `action` holds tool, parameters and rules)."""

    id: str
    at: datetime
    query: str
    risk: Literal["low", "high"]
    scope: dict[str, Any] | None
    # an action check may also answer needs_approval or forbidden (actions/decide.py)
    decision: Literal["proceed", "caution", "stop_and_ask", "needs_approval", "forbidden"]
    reasons: list[dict[str, Any]]
    citations: list[dict[str, Any]]
    kind: Literal["lookup", "action"] = "lookup"
    action: dict[str, Any] | None = None
    principal: str | None = Field(None, description="Who asked: the principal id (key:<id>, proxy:<user>, local:...).")


class UnansweredOut(BaseModel):
    """A coverage gap: questions nothing registered could answer, counted by topic."""

    id: int
    query: str
    last_query: str
    count: int
    first_seen: datetime
    last_seen: datetime
