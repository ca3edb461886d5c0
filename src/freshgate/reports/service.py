"""The weekly review list: everything that needs a human, ranked by risk and grouped by owner.

Risk = criticality weight x reliance x overdue factor, where
- criticality weight: low 1, medium 2, high 4;
- reliance: lookups + stops citing the document in the last 30 days (receipts), at least 1;
- overdue factor: a per-state base (expired/changed/conflict 3, orphaned 2.5, stale/unreachable/
  unanswered 2, suspect 1.5, due 1) x (1 + days past due, past expiry or since the change / 30), the
  days capped at 90 so a long-forgotten low-criticality item cannot outrank a critical one.
States come from the pure freshness rules, evaluated in bulk over SQL-picked candidates (see
`reports.states`) so 100k documents stay fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from freshgate.errors import Invalid
from freshgate.freshness.rules import Facts
from freshgate.registry.views import RulesConfig
from freshgate.reports import history
from freshgate.reports.signals import Signals, gather
from freshgate.reports.states import Evaluation, evaluate_all, paused_gc

CRITICALITY_WEIGHT = {"low": 1.0, "medium": 2.0, "high": 4.0}
STATE_BASE = {"expired": 3.0, "changed": 3.0, "conflict": 3.0, "orphaned": 2.5, "stale": 2.0, "unreachable": 2.0,
              "unanswered": 2.0, "uncovered": 2.0, "suspect": 1.5, "no_rollback": 1.5, "due": 1.0}
ACTIONS = {
    "expired": ("update", "Past its hard expiry date: publish an updated version, or retire it."),
    "changed": ("verify", "Content changed after the last verification: review the change and verify it."),
    "orphaned": ("transfer", "No active owner: transfer it to someone who can keep it current."),
    "unreachable": ("update", "The remote source cannot be fetched: fix its url, or retire it."),
    "stale": ("verify", "Review is overdue: check the content and verify it (or update it)."),
    "suspect": ("verify", "A source this SOP relies on is not fresh or changed: re-check the card and verify it."),
    "due": ("verify", "Review falls due soon: check the content and verify it."),
    "conflict": ("resolve_conflict", "Contradicts another document: resolve the conflict (update one side or dismiss)."),
    "unanswered": ("write_source", "Agents asked about this and nothing registered answers it: write a source."),
    "uncovered": ("write_sop", "Agents tried this tool and no SOP card governs it: add a tool rule to a card "
                  "(or forbid it)."),
    "no_rollback": ("add_rollback", "A tool in the approval or forbidden lane has no rollback rule: add one to its rule."),
}
REVIEW_STATES = frozenset(STATE_BASE)
OVERDUE_CAP_DAYS = 90
STALE_RETIRE_DAYS = 365  # unused and this long overdue: suggest retiring instead of verifying


@dataclass
class ReviewItem:
    """One row of the review list: what, whose, why, how risky, what to do."""

    document_id: str | None
    title: str
    kind: str
    owner: str | None
    state: str
    criticality: str
    reasons: list[dict[str, Any]]
    action: str
    action_text: str
    risk: float
    lookups: int = 0
    stops: int = 0
    overdue_days: int = 0
    open_conflicts: int = 0
    next_review: datetime | None = None
    expires: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        d = dict(self.__dict__)
        d["next_review"] = self.next_review.isoformat() if self.next_review else None
        return d


@dataclass
class OwnerGroup:
    """The review rows of one owner."""

    owner: str | None
    name: str
    contact: str
    active: bool
    items: list[ReviewItem] = field(default_factory=list)
    _risk: tuple[int, float] | None = field(default=None, repr=False, compare=False)

    @property
    def risk(self) -> float:
        """Sum of the owner's row risks (kept while the rows stay the same: groups are sorted by it often)."""
        if self._risk is None or self._risk[0] != len(self.items):
            self._risk = (len(self.items), round(sum(i.risk for i in self.items), 2))
        return self._risk[1]


@dataclass
class ReviewReport:
    """The review list plus the summary shown above it."""

    generated_at: datetime
    items: list[ReviewItem]
    groups: list[OwnerGroup]
    state_counts: dict[str, int]
    week_ago: dict[str, int] | None
    weeks: list[tuple[datetime, dict[str, int]]]
    total_items: int | None = None  # rows in the whole list when this is one page of it
    offset: int = 0
    evaluation: Evaluation | None = None  # the bulk states it was built from (the console's document list reuses them)

    def page(self, offset: int, limit: int | None) -> "ReviewReport":
        """Rows `offset` .. `offset + limit` of the risk order, their owner groups, the same summary and chart."""
        items = self.items[offset:offset + limit if limit is not None else None]
        keep = {id(i) for i in items}
        groups = [OwnerGroup(g.owner, g.name, g.contact, g.active, [i for i in g.items if id(i) in keep])
                  for g in self.groups]
        return ReviewReport(self.generated_at, items, [g for g in groups if g.items], self.state_counts,
                            self.week_ago, self.weeks, total_items=self.total, offset=self.offset + offset)

    def truncated(self, n: int) -> "ReviewReport":
        """The same report with only the `n` riskiest rows (summary and chart unchanged)."""
        return self.page(0, n)

    @property
    def total(self) -> int:
        """Rows in the whole list (not only this page)."""
        return len(self.items) if self.total_items is None else self.total_items

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (what GET /v1/review returns)."""
        return {
            "generated_at": self.generated_at.isoformat(),
            "summary": {"state_counts": self.state_counts, "week_ago": self.week_ago,
                        "change": change(self.state_counts, self.week_ago),
                        "owners": {g.owner or "": len(g.items) for g in self.groups}},
            "history": [{"at": at.isoformat(), "counts": c} for at, c in self.weeks],
            "total_items": self.total, "offset": self.offset,
            "items": [i.to_dict() for i in self.items],
            "groups": [{"owner": g.owner, "name": g.name, "contact": g.contact, "active": g.active, "risk": g.risk,
                        "items": [i.document_id or i.title for i in g.items]} for g in self.groups],
        }


def change(now: dict[str, int], before: dict[str, int] | None) -> dict[str, int] | None:
    """Per-state difference between now and a week ago (None when nothing was recorded then)."""
    if before is None:
        return None
    return {s: now.get(s, 0) - before.get(s, 0) for s in now}


def _overdue_days(state: str, fr, facts: Facts, created_at: datetime | None, now: datetime) -> int:
    if state == "expired" and fr.expires_at:
        return max(0, (now - fr.expires_at).days)
    if state == "changed" and facts.changed_at:
        return max(0, (now - history.aware(facts.changed_at)).days)
    if state == "stale":
        since = fr.next_review or (history.aware(created_at) if created_at else None)
        return max(0, (now - since).days) if since else 0
    return 0


def _risk(criticality: str, lookups: int, stops: int, state: str, overdue: int) -> float:
    reliance = max(1, lookups + stops)
    return round(CRITICALITY_WEIGHT.get(criticality, 2.0) * reliance * STATE_BASE[state] * (1 + min(overdue, OVERDUE_CAP_DAYS) / 30), 2)


def build_review(session: Session, rules: RulesConfig, signals: Signals, now: datetime, *,
                 owner: str | None = None, state: str | None = None, with_history: bool = True) -> ReviewReport:
    """The review list at `now`, optionally only one owner's rows or one state's."""
    if state is not None and state not in REVIEW_STATES:
        raise Invalid(f"state must be one of {', '.join(sorted(REVIEW_STATES))}, not {state!r}")
    with paused_gc():
        return _build(session, rules, signals, now, owner, state, with_history)


def _build(session: Session, rules: RulesConfig, signals: Signals, now: datetime, owner: str | None,
           state: str | None, with_history: bool) -> ReviewReport:
    ev = evaluate_all(session, rules, now, include=list(signals.conflicts))
    rows, fresh, facts, owners, state_counts = ev.rows, ev.fresh, ev.facts, ev.owners, ev.counts
    items = [i for r in rows if (i := document_item(r, fresh[r.id], facts[r.id], signals, now)) is not None]
    items.extend(topic_items(signals))
    items.extend(action_items(signals))
    if owner is not None:
        items = [i for i in items if i.owner == owner]
    if state is not None:
        items = [i for i in items if i.state == state or any(x["state"] == state for x in i.reasons)]
    items.sort(key=risk_order)
    groups = group_by_owner(items, owners)
    weeks: list[tuple[datetime, dict[str, int]]] = []
    week_ago = None
    if with_history:
        weeks, week_ago = history.weekly_counts(session, now, state_counts)
    return ReviewReport(generated_at=now, items=items, groups=groups, state_counts=state_counts,
                        week_ago=week_ago, weeks=weeks, evaluation=ev)


def document_item(r, fr, facts: Facts, signals: Signals, now: datetime) -> ReviewItem | None:
    """The review row of one evaluated document (`r`: its row, `fr`: its freshness), None when it needs no human."""
    n_conf = signals.conflicts.get(r.id, 0)
    if (fr.state not in REVIEW_STATES and not n_conf) or r.status == "retired":
        return None
    row_state = fr.state if fr.state in REVIEW_STATES else "conflict"
    lookups, stops = signals.reliance.get(r.id, (0, 0))
    overdue = _overdue_days(row_state, fr, facts, r.created_at, now)
    key = "conflict" if n_conf else row_state
    action, text = ACTIONS[key]
    if row_state == "stale" and not n_conf and lookups == 0 and overdue >= STALE_RETIRE_DAYS:
        action, text = "retire", "Over a year overdue and no agent relied on it in 30 days: retire it (or verify it)."
    base_state = "conflict" if n_conf and STATE_BASE["conflict"] > STATE_BASE[row_state] else row_state
    return ReviewItem(
        document_id=r.id, title=r.title, kind=r.kind, owner=r.owner_id, state=row_state, criticality=r.criticality,
        reasons=[{"code": x.code, "message": x.message, "state": x.state, "item": x.item} for x in fr.reasons],
        action=action, action_text=text, risk=_risk(r.criticality, lookups, stops, base_state, overdue),
        lookups=lookups, stops=stops, overdue_days=overdue, open_conflicts=n_conf, next_review=fr.next_review,
        expires=r.expires.isoformat() if r.expires else None)


def topic_items(signals: Signals) -> list[ReviewItem]:
    """Rows of the unanswered topics (agents asked, nothing registered answers)."""
    out = []
    for t in signals.unanswered:
        count = int(t.get("count", 1))
        out.append(ReviewItem(
            document_id=None, title=str(t.get("topic") or t.get("query") or "?"), kind="topic", owner=None,
            state="unanswered", criticality="medium", reasons=[{"code": "no_source", "message": f"asked {count} times, "
                                                                "nothing registered answers it", "state": "unanswered",
                                                                "item": None}],
            action=ACTIONS["unanswered"][0], action_text=ACTIONS["unanswered"][1],
            risk=_risk("medium", count, 0, "unanswered", 0), lookups=count))
    return out


def action_items(signals: Signals) -> list[ReviewItem]:
    """Rows of the action gate: uncovered tools (by how often agents tried them) and rules without rollback."""
    out = []
    for u in signals.uncovered:
        count = int(u.get("count", 1))
        out.append(ReviewItem(
            document_id=None, title=str(u["tool"]), kind="tool", owner=None, state="uncovered", criticality="high",
            reasons=[{"code": u.get("reason", "no_procedure"), "message": f"agents tried it {count} times; no SOP card "
                      "governs it", "state": "uncovered", "item": None}],
            action=ACTIONS["uncovered"][0], action_text=ACTIONS["uncovered"][1],
            risk=_risk("high", count, count, "uncovered", 0), lookups=count, stops=count))
    for r in signals.no_rollback:
        out.append(ReviewItem(
            document_id=r["card"], title=str(r["tool"]), kind="tool", owner=r.get("owner"), state="no_rollback",
            criticality=r.get("criticality", "medium"),
            reasons=[{"code": "no_rollback", "message": f"{r['tool']} is in the {r['lane']} lane of {r['card']} and "
                      "names no rollback rule", "state": "no_rollback", "item": r["card"]}],
            action=ACTIONS["no_rollback"][0], action_text=ACTIONS["no_rollback"][1],
            risk=_risk(r.get("criticality", "medium"), 0, 0, "no_rollback", 0)))
    return out


def risk_order(i: ReviewItem) -> tuple[float, str]:
    """The review list's order: riskiest first, then by document id (or title)."""
    return -i.risk, i.document_id or i.title


def owner_group(owner: str | None, owners: dict[str, Any], items: list[ReviewItem] | None = None) -> OwnerGroup:
    """An owner's (empty) group with the owner's name, contact and active flag."""
    o = owners.get(owner) if owner else None
    return OwnerGroup(owner=owner, name=o.name if o else "(no owner)", contact=o.contact if o else "",
                      active=bool(o and o.active), items=items if items is not None else [])


def group_order(g: OwnerGroup) -> tuple[float, str]:
    """Riskiest owner first."""
    return -g.risk, g.owner or "~"


def group_by_owner(items: list[ReviewItem], owners: dict[str, Any]) -> list[OwnerGroup]:
    """Rows per owner (unowned rows and topics under owner None), riskiest owner first."""
    groups: dict[str | None, OwnerGroup] = {}
    for i in items:
        g = groups.get(i.owner)
        if g is None:
            g = groups[i.owner] = owner_group(i.owner, owners)
        g.items.append(i)
    return sorted(groups.values(), key=group_order)



def review(session: Session, rules: RulesConfig, extras: dict[str, Any], now: datetime, **filters: Any) -> ReviewReport:
    """The review list at `now` with the signals of the domain services present in `extras`."""
    return build_review(session, rules, gather(extras, session, now), now, **filters)
