"""What judges exchange: the passages they compare and the verdicts they give (no judge logic here,
so `judge.py` and `statement_judge.py` both build on it without importing each other)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Passage:
    """A section of a document: its text plus where it comes from."""

    text: str
    title: str = ""
    doc_id: str = ""
    anchor: str = ""


@dataclass(frozen=True)
class Evidence:
    """One differing value: what it is about, what each side says, and the kind of value."""

    subject: str
    a: str
    b: str
    kind: str


@dataclass
class Verdict:
    """A judge's answer for one pair; `conflict=None` means undecided."""

    conflict: bool | None
    score: float
    evidence: list[Evidence] = field(default_factory=list)
    judge: str = ""
    explanation: str = ""
    raw: float | None = None  # the score before any cap or gate (for precision/recall curves)
