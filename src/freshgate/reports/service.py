"""The weekly review list: everything that needs a human, ranked by risk and grouped by owner.

Risk = criticality weight x reliance x overdue factor, where
- criticality weight: low 1, medium 2, high 4;
- reliance: lookups + stops citing the document in the last 30 days (receipts), at least 1;
- overdue factor: a per-state base (expired/changed/conflict 3, orphaned 2.5, stale/unreachable/
  unanswered 2, suspect 1.5, due 1) x (1 + days past due, past expiry or since the change / 30), the
  days capped at 90 so a long-forgotten low-criticality item cannot outrank a critical one.
States come from the pure freshness rules, evaluated in bulk from column reads (no ORM objects)
so 100k documents stay fast.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, literal, or_, select
from sqlmodel import Session
from sqlmodel.sql.sqltypes import UTCDateTime

from freshgate.errors import Invalid
from freshgate.freshness.rules import PRECEDENCE, Facts, SourceFacts, evaluate
from freshgate.registry.models import Dependency, Document, Owner
from freshgate.registry.views import RulesConfig
from freshgate.reports import history
from freshgate.reports.signals import Signals, gather

CRITICALITY_WEIGHT = {"low": 1.0, "medium": 2.0, "high": 4.0}
STATE_BASE = {"expired": 3.0, "changed": 3.0, "conflict": 3.0, "orphaned": 2.5, "stale": 2.0, "unreachable": 2.0,
              "unanswered": 2.0, "suspect": 1.5, "due": 1.0}
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

    @property
    def risk(self) -> float:
        """Sum of the owner's row risks."""
        return round(sum(i.risk for i in self.items), 2)


@dataclass
class ReviewReport:
    """The review list plus the summary shown above it."""

    generated_at: datetime
    items: list[ReviewItem]
    groups: list[OwnerGroup]
    state_counts: dict[str, int]
    week_ago: dict[str, int] | None
    weeks: list[tuple[datetime, dict[str, int]]]

    def truncated(self, n: int) -> "ReviewReport":
        """The same report with only the `n` riskiest rows (summary and chart unchanged)."""
        keep = {id(i) for i in self.items[:n]}
        groups = [OwnerGroup(g.owner, g.name, g.contact, g.active, [i for i in g.items if id(i) in keep])
                  for g in self.groups]
        return ReviewReport(self.generated_at, self.items[:n], [g for g in groups if g.items], self.state_counts,
                            self.week_ago, self.weeks)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (what GET /v1/review returns)."""
        return {
            "generated_at": self.generated_at.isoformat(),
            "summary": {"state_counts": self.state_counts, "week_ago": self.week_ago,
                        "change": change(self.state_counts, self.week_ago),
                        "owners": {g.owner or "": len(g.items) for g in self.groups}},
            "history": [{"at": at.isoformat(), "counts": c} for at, c in self.weeks],
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


_COLS = (Document.id, Document.kind, Document.title, Document.owner_id, Document.criticality,
         Document.review_every_days, Document.last_verified, Document.expires, Document.status,
         Document.successor, Document.changed_at, Document.fetch_failures, Document.created_at)


@dataclass
class Evaluation:
    """Rows that may need a human, their freshness, and state counts over every document."""

    rows: list[Any]
    fresh: dict[str, Any]
    facts: dict[str, Facts]
    owners: dict[str, Any]
    counts: dict[str, int]


def _due_by(dialect: str, t: datetime):
    """SQL: the document's next review falls on or before `t` (the one dialect-specific expression)."""
    if dialect == "postgresql":
        return Document.last_verified + func.make_interval(0, 0, 0, Document.review_every_days) <= t
    return func.julianday(Document.last_verified) + Document.review_every_days <= func.julianday(literal(t, UTCDateTime()))


def _maybe_not_fresh(dialect: str, rules: RulesConfig, now: datetime):
    """SQL filter keeping every document the rules could find not fresh (a superset: one day of slack).
    All other documents are fresh by construction and only counted."""
    cut = now + timedelta(days=rules.warning_days + 1)
    inactive = select(Owner.id).where(Owner.active.is_(False))
    return or_(Document.kind == "sop", Document.status != "active", Document.owner_id.is_(None),
               Document.owner_id.in_(inactive), Document.fetch_failures >= rules.unreachable_after,
               Document.last_verified.is_(None), Document.changed_at > Document.last_verified,
               Document.expires <= cut.date(), _due_by(dialect, cut))


def evaluate_all(session: Session, rules: RulesConfig, now: datetime, include: list[str] | None = None) -> Evaluation:
    """Freshness of every document that may not be fresh (+ `include`: e.g. in a conflict), counts over all."""
    owners = {o[0]: o for o in session.execute(select(Owner.id, Owner.name, Owner.contact, Owner.active)).all()}
    dialect = session.get_bind().dialect.name
    total = session.execute(select(func.count()).select_from(Document)).scalar_one()
    cond = _maybe_not_fresh(dialect, rules, now)
    if include:
        cond = or_(cond, Document.id.in_(include))
    rows = session.execute(select(*_COLS).where(cond)).all()
    deps: dict[str, list[str]] = defaultdict(list)
    for sop_id, source_id in session.execute(select(Dependency.sop_id, Dependency.source_id)).all():
        deps[sop_id].append(source_id)
    kw = {"warning_days": rules.warning_days, "unreachable_after": rules.unreachable_after}
    facts: dict[str, Facts] = {}
    for r in rows:
        o = owners.get(r.owner_id) if r.owner_id else None
        facts[r.id] = Facts(id=r.id, kind=r.kind, status=r.status, successor=r.successor, has_owner=r.owner_id is not None,
                            owner_active=bool(o and o.active), review_every_days=r.review_every_days,
                            last_verified=r.last_verified, expires=r.expires, changed_at=r.changed_at,
                            fetch_failures=r.fetch_failures)
    out: dict[str, Any] = {r.id: evaluate(facts[r.id], now, **kw) for r in rows if r.kind != "sop"}
    # Sources SOP cards rely on that were filtered out as fresh: registered, fresh, maybe changed before.
    relied = {s for lst in deps.values() for s in lst} - out.keys()
    src_changed: dict[str, Any] = {}
    if relied:
        q = select(Document.id, Document.changed_at).where(Document.id.in_(select(Dependency.source_id)))
        src_changed = {i: c for i, c in session.execute(q).all() if i in relied}
    for r in rows:
        if r.kind == "sop":
            srcs = [SourceFacts(s, out[s].state, facts[s].changed_at) if s in out else
                    SourceFacts(s, "fresh" if s in src_changed else None, src_changed.get(s))
                    for s in deps.get(r.id, ())]
            out[r.id] = evaluate(facts[r.id], now, sources=srcs, **kw)
    counts = Counter(fr.state for fr in out.values())
    counts["fresh"] += total - len(rows)
    return Evaluation(rows, out, facts, owners, {st: counts.get(st, 0) for st in PRECEDENCE})


def build_review(session: Session, rules: RulesConfig, signals: Signals, now: datetime, *,
                 owner: str | None = None, state: str | None = None, with_history: bool = True) -> ReviewReport:
    """The review list at `now`, optionally only one owner's rows or one state's."""
    if state is not None and state not in REVIEW_STATES:
        raise Invalid(f"state must be one of {', '.join(sorted(REVIEW_STATES))}, not {state!r}")
    ev = evaluate_all(session, rules, now, include=list(signals.conflicts))
    rows, fresh, facts, owners, state_counts = ev.rows, ev.fresh, ev.facts, ev.owners, ev.counts
    items: list[ReviewItem] = []
    for r in rows:
        fr = fresh[r.id]
        n_conf = signals.conflicts.get(r.id, 0)
        if (fr.state not in REVIEW_STATES and not n_conf) or r.status == "retired":
            continue
        row_state = fr.state if fr.state in REVIEW_STATES else "conflict"
        lookups, stops = signals.reliance.get(r.id, (0, 0))
        overdue = _overdue_days(row_state, fr, facts[r.id], r.created_at, now)
        key = "conflict" if n_conf else row_state
        action, text = ACTIONS[key]
        if row_state == "stale" and not n_conf and lookups == 0 and overdue >= STALE_RETIRE_DAYS:
            action, text = "retire", "Over a year overdue and no agent relied on it in 30 days: retire it (or verify it)."
        base_state = "conflict" if n_conf and STATE_BASE["conflict"] > STATE_BASE[row_state] else row_state
        items.append(ReviewItem(
            document_id=r.id, title=r.title, kind=r.kind, owner=r.owner_id, state=row_state, criticality=r.criticality,
            reasons=[{"code": x.code, "message": x.message, "state": x.state, "item": x.item} for x in fr.reasons],
            action=action, action_text=text, risk=_risk(r.criticality, lookups, stops, base_state, overdue),
            lookups=lookups, stops=stops, overdue_days=overdue, open_conflicts=n_conf, next_review=fr.next_review,
            expires=r.expires.isoformat() if r.expires else None))
    for t in signals.unanswered:
        count = int(t.get("count", 1))
        items.append(ReviewItem(
            document_id=None, title=str(t.get("topic") or t.get("query") or "?"), kind="topic", owner=None,
            state="unanswered", criticality="medium", reasons=[{"code": "no_source", "message": f"asked {count} times, "
                                                                "nothing registered answers it", "state": "unanswered",
                                                                "item": None}],
            action=ACTIONS["unanswered"][0], action_text=ACTIONS["unanswered"][1],
            risk=_risk("medium", count, 0, "unanswered", 0), lookups=count))
    if owner is not None:
        items = [i for i in items if i.owner == owner]
    if state is not None:
        items = [i for i in items if i.state == state or any(x["state"] == state for x in i.reasons)]
    items.sort(key=lambda i: (-i.risk, i.document_id or i.title))
    groups = group_by_owner(items, owners)
    weeks: list[tuple[datetime, dict[str, int]]] = []
    week_ago = None
    if with_history:
        weeks, week_ago = history.weekly_counts(session, now, state_counts)
    return ReviewReport(generated_at=now, items=items, groups=groups, state_counts=state_counts,
                        week_ago=week_ago, weeks=weeks)


def group_by_owner(items: list[ReviewItem], owners: dict[str, Any]) -> list[OwnerGroup]:
    """Rows per owner (unowned rows and topics under owner None), riskiest owner first."""
    groups: dict[str | None, OwnerGroup] = {}
    for i in items:
        g = groups.get(i.owner)
        if g is None:
            o = owners.get(i.owner) if i.owner else None
            g = groups[i.owner] = OwnerGroup(owner=i.owner, name=o.name if o else "(no owner)",
                                             contact=o.contact if o else "", active=bool(o and o.active))
        g.items.append(i)
    return sorted(groups.values(), key=lambda g: (-g.risk, g.owner or "~"))



def review(session: Session, rules: RulesConfig, extras: dict[str, Any], now: datetime, **filters: Any) -> ReviewReport:
    """The review list at `now` with the signals of the domain services present in `extras`."""
    return build_review(session, rules, gather(extras, session, now), now, **filters)
