"""The conflict table: two section passages that disagree, the judge's evidence, and the verdict lifecycle."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel

OPEN, CONFIRMED, DISMISSED, RESOLVED = "open", "confirmed", "dismissed", "resolved"
STATUSES = (OPEN, CONFIRMED, DISMISSED, RESOLVED)
ACTIVE_STATUSES = (OPEN, CONFIRMED)  # these flag documents and stop lookups


def pair_key(text_hash_a: str, text_hash_b: str) -> str:
    """Order-independent key of a pair of section texts: a dismissal holds until either text changes."""
    lo, hi = sorted((text_hash_a, text_hash_b))
    return hashlib.sha256(f"{lo}:{hi}".encode()).hexdigest()


class ConflictRecord(SQLModel, table=True):
    """One detected disagreement between two sections (or two sections of one document)."""

    __tablename__ = "conflict"
    __table_args__ = (
        Index("ix_conflict_side_a", "doc_a", "anchor_a"),
        Index("ix_conflict_side_b", "doc_b", "anchor_b"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    pair_key: str = Field(max_length=64, index=True)
    status: str = Field(default=OPEN, max_length=10, index=True)
    doc_a: str = Field(max_length=200)
    version_a: int
    anchor_a: str = Field(max_length=300)
    heading_a: str = Field(default="", max_length=500)
    hash_a: str = Field(max_length=64)
    text_a: str = Field(sa_column=Column(Text, nullable=False))
    doc_b: str = Field(max_length=200)
    version_b: int
    anchor_b: str = Field(max_length=300)
    heading_b: str = Field(default="", max_length=500)
    hash_b: str = Field(max_length=64)
    text_b: str = Field(sa_column=Column(Text, nullable=False))
    similarity: float
    score: float
    judge: str = Field(max_length=100)
    # [{subject, a, b, kind}]: the differing values as the judge found them.
    evidence: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    explanation: str = Field(default="", sa_column=Column(Text, nullable=False))
    detected_at: datetime
    updated_at: datetime
    verdict_at: Optional[datetime] = Field(default=None)
    verdict_by: Optional[str] = Field(default=None, max_length=200)
    verdict_reason: str = Field(default="", max_length=2000)
    resolved_at: Optional[datetime] = Field(default=None)
    resolution: str = Field(default="", max_length=500)  # why it was auto-resolved

    def side(self, doc_id: str, anchor: str) -> str | None:
        """'a' or 'b' when (doc_id, anchor) is one of the two passages."""
        if (self.doc_a, self.anchor_a) == (doc_id, anchor):
            return "a"
        if (self.doc_b, self.anchor_b) == (doc_id, anchor):
            return "b"
        return None
