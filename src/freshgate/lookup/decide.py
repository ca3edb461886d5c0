"""The lookup decision as a pure function: evidence in, proceed / caution / stop_and_ask out.

No database, no clock, no model. The service gathers one `Evidence` per cited document
(already following retired items to their successors) and calls `decide`. Every rule that
fires adds a reason with a stable code; the decision is the most severe reason's.

| code                  | when                                                        | decision     |
|-----------------------|-------------------------------------------------------------|--------------|
| freshness_unknown     | model, index or database unavailable                        | stop_and_ask |
| no_source             | nothing registered is relevant (coverage gap)               | stop_and_ask |
| expired               | past its hard `expires` date                                | stop_and_ask |
| changed_unverified    | content changed after the last verification                 | stop_and_ask |
| orphaned              | no owner, or the owner is inactive                          | stop_and_ask |
| retired_no_successor  | retired and nothing replaces it                             | stop_and_ask |
| conflict              | in an open conflict with another section                    | stop_and_ask |
| forbidden_lane        | an SOP agents must never run                                | stop_and_ask |
| stale_high_stakes     | stale (or never verified / unreachable) and high criticality or high risk | stop_and_ask |
| stale                 | stale (or never verified / unreachable), low/medium criticality, low risk | caution |
| due                   | review due within the warning window                        | caution      |
| sop_suspect           | an SOP whose sources are not fresh or changed after it      | caution      |
| approval_required     | an SOP in the `approval` lane                               | caution      |
| superseded            | a retired item was replaced by its successor (or its successor does not answer the question: named, not cited) | caution |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

PROCEED, CAUTION, STOP = "proceed", "caution", "stop_and_ask"
_SEVERITY = {PROCEED: 0, CAUTION: 1, STOP: 2}
RISKS = ("low", "high")

STOP_CODES = frozenset({"freshness_unknown", "no_source", "expired", "changed_unverified", "orphaned",
                        "retired_no_successor", "conflict", "forbidden_lane", "stale_high_stakes"})
CAUTION_CODES = frozenset({"stale", "due", "sop_suspect", "approval_required", "superseded"})
REASON_CODES = STOP_CODES | CAUTION_CODES
# Order of reasons in an answer: the most severe first, then by how directly the text is wrong.
_ORDER = ["freshness_unknown", "no_source", "forbidden_lane", "conflict", "expired", "changed_unverified",
          "retired_no_successor", "orphaned", "stale_high_stakes", "approval_required", "superseded", "stale",
          "sop_suspect", "due"]


@dataclass(frozen=True)
class Evidence:
    """What the policy needs to know about one cited document (after successor redirects)."""

    document_id: str
    title: str = ""
    kind: str = "source"  # source | sop
    state: str = "fresh"  # computed freshness state
    criticality: str = "medium"
    lane: str | None = None  # SOP only: automatic | approval | forbidden
    detail: str = ""  # the freshness reason behind `state`, e.g. "review overdue by 12 days"
    substituted_for: str | None = None  # the retired document this successor replaces
    open_conflicts: int = 0
    conflict_notes: tuple[str, ...] = ()  # one sentence per conflict: the other document and both owners


@dataclass(frozen=True)
class DecisionReason:
    """A reason for the decision: stable code, a sentence, the item it is about."""

    code: str
    message: str
    item: str | None = None

    @property
    def severity(self) -> str:
        """The decision this reason alone implies."""
        return STOP if self.code in STOP_CODES else CAUTION


@dataclass(frozen=True)
class Decision:
    """The decision and every reason that led to it (most severe first)."""

    decision: str
    reasons: tuple[DecisionReason, ...] = field(default_factory=tuple)

    @property
    def codes(self) -> list[str]:
        """Reason codes in order."""
        return [r.code for r in self.reasons]


def _name(e: Evidence) -> str:
    return f"{e.title or e.document_id} ({e.document_id})"


def _why(e: Evidence) -> str:
    return f": {e.detail}" if e.detail else ""


def reasons_for(e: Evidence, risk: str = "low") -> list[DecisionReason]:
    """Every reason one piece of evidence contributes."""
    out: list[DecisionReason] = []
    add = lambda code, msg: out.append(DecisionReason(code, msg, e.document_id))  # noqa: E731
    n = _name(e)
    high = e.criticality == "high" or risk == "high"
    if e.state == "retired":
        add("retired_no_successor", f"{n} is retired and has no successor")
    elif e.state == "expired":
        add("expired", f"{n} has expired{_why(e)}")
    elif e.state == "changed":
        add("changed_unverified", f"{n} changed after it was last verified{_why(e)}")
    elif e.state == "orphaned":
        add("orphaned", f"{n} has no active owner{_why(e)}")
    elif e.state in ("stale", "unreachable"):
        if high:
            stakes = "high criticality" if e.criticality == "high" else "a high-risk question"
            add("stale_high_stakes", f"{n} is {e.state}{_why(e)}, and this is {stakes}")
        else:
            add("stale", f"{n} is {e.state}{_why(e)}")
    elif e.state == "suspect":
        add("sop_suspect", f"{n} relies on a source that is not fresh{_why(e)}")
    elif e.state == "due":
        add("due", f"{n} is due for review{_why(e)}")
    if e.open_conflicts:
        notes = "; ".join(e.conflict_notes)
        add("conflict", f"{n} is in {e.open_conflicts} open conflict(s) with another document" + (f": {notes}" if notes else ""))
    if e.kind == "sop" and e.lane == "forbidden":
        add("forbidden_lane", f"{n} is in the forbidden lane: an agent must never run it")
    elif e.kind == "sop" and e.lane == "approval":
        add("approval_required", f"{n} needs a human approval before an agent acts")
    if e.substituted_for:
        add("superseded", f"{e.substituted_for} is retired; its successor {n} was used instead")
    return out


def decide(evidence: Sequence[Evidence], risk: str = "low", *, unknown: str | None = None,
           notes: Sequence[DecisionReason] = ()) -> Decision:
    """Decide from the cited evidence (plus `notes`: reasons about what was not cited, e.g. a successor
    below the relevance threshold); no evidence means a coverage gap (`no_source`)."""
    if risk not in RISKS:
        raise ValueError(f"risk must be one of {RISKS}, not {risk!r}")
    reasons: list[DecisionReason] = []
    if unknown:
        reasons.append(DecisionReason("freshness_unknown", f"freshness cannot be determined: {unknown}"))
    elif not evidence:
        reasons.append(DecisionReason("no_source", "nothing registered is relevant to this question"))
    for e in evidence:
        reasons.extend(reasons_for(e, risk))
    reasons.extend(notes)
    reasons.sort(key=lambda r: _ORDER.index(r.code))
    decision = max((r.severity for r in reasons), key=_SEVERITY.__getitem__, default=PROCEED)
    return Decision(decision, tuple(reasons))


def exit_code(decision: str) -> int:
    """CLI exit status of a decision: 0 proceed, 1 caution, 2 stop_and_ask."""
    return _SEVERITY[decision]
