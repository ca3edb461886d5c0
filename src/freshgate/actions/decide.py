"""The action decision as a pure function: permission-table resolution + freshness evidence in, decision out.

| code                  | when                                                                 | decision       |
|-----------------------|----------------------------------------------------------------------|----------------|
| freshness_unknown     | the registry could not be read                                       | stop_and_ask   |
| no_procedure          | no SOP card governs the tool (read-only by name: caution, if set)   | stop_and_ask   |
| no_matching_rule      | cards govern the tool, but none of their rules covers these parameters | stop_and_ask |
| expired, changed_unverified, orphaned, retired_no_successor, conflict, stale_high_stakes | the governing card or a source it relies on (as in the lookup) | stop_and_ask |
| source_missing        | the governing card relies on a source that is not registered         | stop_and_ask   |
| forbidden_lane        | the governing rule is in the forbidden lane                          | forbidden      |
| approval_required     | the governing rule is in the approval lane                           | needs_approval |
| parameter_unknown     | a condition could not be checked (missing parameter, other unit): the rule applied | (lane) |
| stale, due, superseded, sop_suspect | not clean, but not a stop (stale is a stop at high criticality or risk) | (lane) |

Actions default to `risk: high` (they have side effects), so a stale card or source stops them
unless the caller says the action is low-risk.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from freshgate.lookup.decide import DecisionReason, Evidence, reasons_for

PROCEED, CAUTION, NEEDS_APPROVAL, FORBIDDEN, STOP = "proceed", "caution", "needs_approval", "forbidden", "stop_and_ask"
DECISIONS = (PROCEED, CAUTION, NEEDS_APPROVAL, FORBIDDEN, STOP)
LANE_DECISION = {"automatic": PROCEED, "approval": NEEDS_APPROVAL, "forbidden": FORBIDDEN}
STOP_CODES = frozenset({"freshness_unknown", "no_procedure", "no_matching_rule", "expired", "changed_unverified",
                        "orphaned", "retired_no_successor", "conflict", "stale_high_stakes", "source_missing"})
_ORDER = ["freshness_unknown", "no_procedure", "no_matching_rule", "conflict", "expired", "changed_unverified",
          "retired_no_successor", "orphaned", "source_missing", "stale_high_stakes", "forbidden_lane",
          "approval_required", "parameter_unknown", "superseded", "stale", "sop_suspect", "due"]
EXIT_CODES = {PROCEED: 0, CAUTION: 0, NEEDS_APPROVAL: 1, FORBIDDEN: 2, STOP: 2}


def freshness_reasons(card: Evidence, sources: Sequence[Evidence], missing: Iterable[str] = (),
                      superseded: Iterable[tuple[str, str]] = (), risk: str = "high") -> list[DecisionReason]:
    """Reasons from the governing card and the sources it relies on (each source judged directly)."""
    out = list(reasons_for(card, risk))
    for e in sources:
        out.extend(r for r in reasons_for(e, risk) if r.code != "sop_suspect")
    for sid in missing:
        out.append(DecisionReason("source_missing", f"{card.title or card.document_id} ({card.document_id}) relies on "
                                  f"{sid}, which is not registered", card.document_id))
    for old, new in superseded:
        out.append(DecisionReason("superseded", f"{card.document_id} relies on {old}, which is retired; its successor "
                                  f"{new} should be checked against the card", old))
    return out


def lane_reasons(lane: str | None, governing: Sequence[tuple[str, str, str]]) -> list[DecisionReason]:
    """The reason a lane gives, per governing rule (card id, card title, rule text)."""
    out = []
    for card_id, title, rule in governing:
        if lane == "forbidden":
            out.append(DecisionReason("forbidden_lane", f"{title} ({card_id}) forbids {rule}: an agent must never "
                                      "do this", card_id))
        elif lane == "approval":
            out.append(DecisionReason("approval_required", f"{title} ({card_id}) requires a human approval for {rule}",
                                      card_id))
    return out


def order(reasons: Iterable[DecisionReason]) -> list[DecisionReason]:
    """Most severe first; duplicates dropped."""
    seen, out = set(), []
    for r in sorted(reasons, key=lambda r: _ORDER.index(r.code) if r.code in _ORDER else len(_ORDER)):
        if (r.code, r.message) not in seen:
            seen.add((r.code, r.message))
            out.append(r)
    return out


def decide_action(*, covered: bool, lane: str | None, reasons: Sequence[DecisionReason],
                  read_only_caution: bool = False) -> str:
    """proceed / caution / needs_approval / forbidden / stop_and_ask."""
    if any(r.code == "freshness_unknown" for r in reasons):
        return STOP
    if not covered:
        return CAUTION if read_only_caution else STOP
    if lane is None or any(r.code in STOP_CODES for r in reasons):
        return STOP
    return LANE_DECISION[lane]
