"""Freshness states as pure functions: no database, no clock (`now` is a parameter).

Every rule that applies is reported as a reason; the state is the worst of them by
`PRECEDENCE`. SOP cards are additionally `suspect` when a source they rely on is not
usable or changed after the card was last verified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Sequence

# Worst first. `retired` leads because a retired item is never used directly (lookups
# follow the successor); `expired` and `changed` mean the text itself may be wrong.
PRECEDENCE: tuple[str, ...] = (
    "retired", "expired", "changed", "orphaned", "unreachable", "stale", "suspect", "due", "fresh",
)
STATES = frozenset(PRECEDENCE)
_RANK = {s: i for i, s in enumerate(PRECEDENCE)}
# Source states that make an SOP card relying on them suspect (`due` is still within review).
UNUSABLE_FOR_SOP = frozenset({"retired", "expired", "changed", "orphaned", "unreachable", "stale"})


@dataclass(frozen=True)
class Reason:
    """Why an item is in a state: a stable code, a sentence, the state it implies."""

    code: str
    message: str
    state: str
    item: str | None = None


@dataclass(frozen=True)
class Facts:
    """What the rules need to know about one document."""

    id: str
    kind: str = "source"  # source | sop
    status: str = "active"
    successor: str | None = None
    has_owner: bool = True
    owner_active: bool = True
    review_every_days: int = 90
    last_verified: datetime | None = None
    expires: date | datetime | None = None
    changed_at: datetime | None = None
    fetch_failures: int = 0
    owner_known: bool = True  # declared with a contact (an owners file or the front matter)


@dataclass(frozen=True)
class SourceFacts:
    """What an SOP card's suspect rule needs to know about one source it relies on."""

    id: str
    state: str | None  # None: not registered
    content_changed_at: datetime | None = None


@dataclass(frozen=True)
class Freshness:
    """The computed state of one document."""

    state: str
    reasons: tuple[Reason, ...]
    next_review: datetime | None
    expires_at: datetime | None = None

    @property
    def codes(self) -> list[str]:
        """Reason codes, worst first."""
        return [r.code for r in self.reasons]


def worst(states: Sequence[str]) -> str:
    """The worst of several states."""
    return min(states, key=_RANK.__getitem__) if states else "fresh"


def _as_dt(value: date | datetime | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.combine(value, time(0), tzinfo=timezone.utc)


_DAYS: dict[int, timedelta] = {}  # the sweep evaluates a million items: reuse the few distinct periods


def _days(n: int) -> timedelta:
    td = _DAYS.get(n)
    if td is None:
        td = _DAYS[n] = timedelta(days=n)
    return td


def next_review(facts: Facts) -> datetime | None:
    """When the document must next be verified (None if never verified)."""
    lv = _as_dt(facts.last_verified)
    return None if lv is None else lv + _days(facts.review_every_days)


def evaluate(
    facts: Facts,
    now: datetime,
    *,
    warning_days: int = 14,
    unreachable_after: int = 3,
    sources: Sequence[SourceFacts] = (),
) -> Freshness:
    """Compute the state of one document at `now` with every reason that applies."""
    reasons: list[Reason] = []
    add = reasons.append
    lv = _as_dt(facts.last_verified)
    due_at = None if lv is None else lv + _days(facts.review_every_days)
    exp = _as_dt(facts.expires)
    window_end = now + _days(warning_days)
    if facts.status == "retired":
        if facts.successor:
            add(Reason("retired", f"retired; replaced by {facts.successor}", "retired", facts.successor))
        else:
            add(Reason("retired_no_successor", "retired with no successor", "retired"))
    if exp is not None and now >= exp:
        add(Reason("expired", f"expired on {exp.date().isoformat()}", "expired"))
    changed = _as_dt(facts.changed_at)
    if changed is not None and (lv is None or changed > lv):
        add(Reason("changed", f"content changed on {changed.date().isoformat()} after the last verification", "changed"))
    if not facts.has_owner:
        add(Reason("no_owner", "no owner", "orphaned"))
    elif not facts.owner_active:
        add(Reason("owner_inactive", "the owner is inactive", "orphaned"))
    elif not facts.owner_known:
        add(Reason("owner_unknown", "the owner is unknown: no owners file declares it and it has no contact",
                   "orphaned"))
    if facts.fetch_failures >= unreachable_after:
        add(Reason("unreachable", f"remote source failed the last {facts.fetch_failures} fetches", "unreachable"))
    if due_at is None:
        add(Reason("never_verified", "never verified", "stale"))
    elif now >= due_at:
        days = (now - due_at).days
        add(Reason("stale", f"review overdue by {days} days (due {due_at.date().isoformat()})", "stale"))
    if facts.kind == "sop":
        for src in sources:
            if src.state is None:
                add(Reason("source_missing", f"relies on {src.id}, which is not registered", "suspect", src.id))
            elif src.state in UNUSABLE_FOR_SOP:
                add(Reason("source_not_fresh", f"relies on {src.id}, which is {src.state}", "suspect", src.id))
            else:
                sc = _as_dt(src.content_changed_at)
                if sc is not None and (lv is None or sc > lv):
                    add(Reason("source_changed", f"{src.id} changed after this card was verified", "suspect", src.id))
    if due_at is not None and now < due_at <= window_end:
        add(Reason("due", f"review due on {due_at.date().isoformat()}", "due"))
    if exp is not None and now < exp <= window_end:
        add(Reason("expires_soon", f"expires on {exp.date().isoformat()}", "due"))
    if not reasons:
        return Freshness("fresh", (), due_at, exp)
    if len(reasons) > 1:
        reasons.sort(key=lambda r: _RANK[r.state])
    return Freshness(reasons[0].state, tuple(reasons), due_at, exp)


class StateRules:
    """The same rules as `evaluate`, for a sweep over a million rows that needs only each state.

    The cut-offs are computed once per `now` (`now >= last_verified + every` becomes
    `last_verified <= now - every`), so a row costs a few comparisons of raw column values and
    no reasons are built. `naive=True` compares naive UTC datetimes (what SQLite stores).
    Equivalence with `evaluate` is tested (tests/freshness/test_state_rules.py).
    """

    def __init__(self, now: datetime, *, warning_days: int = 14, unreachable_after: int = 3,
                 naive: bool = False) -> None:
        now = now.astimezone(timezone.utc)
        window_end = now + _days(warning_days)
        self.today, self.window_day = now.date(), window_end.date()
        strip = (lambda d: d.replace(tzinfo=None)) if naive else (lambda d: d)
        self._now, self._window_end = strip(now), strip(window_end)
        self.unreachable_after = unreachable_after
        self._cuts: dict[int, tuple[datetime, datetime]] = {}

    def cuts(self, review_every_days: int) -> tuple[datetime, datetime]:
        """(stale if verified at or before, due if verified at or before) for one review period."""
        c = self._cuts.get(review_every_days)
        if c is None:
            d = _days(review_every_days)
            c = self._cuts[review_every_days] = (self._now - d, self._window_end - d)
        return c

    def state(self, retired: bool, owned: bool, review_every_days: int, last_verified: datetime | None,
              expires: date | None, changed_at: datetime | None, fetch_failures: int) -> str:
        """A document's state, without the SOP suspect rule (see `sop_state`)."""
        if retired:
            return "retired"
        if expires is not None and expires <= self.today:
            return "expired"
        if changed_at is not None and (last_verified is None or changed_at > last_verified):
            return "changed"
        if not owned:
            return "orphaned"
        if fetch_failures >= self.unreachable_after:
            return "unreachable"
        if last_verified is None:
            return "stale"
        stale_cut, due_cut = self._cuts.get(review_every_days) or self.cuts(review_every_days)
        if last_verified <= stale_cut:
            return "stale"
        if last_verified <= due_cut or (expires is not None and expires <= self.window_day):
            return "due"
        return "fresh"

    @staticmethod
    def suspect(last_verified: datetime | None, sources: Sequence[tuple[str | None, datetime | None]]) -> bool:
        """True when a card verified at `last_verified` relies on a (state, content changed at) source
        that is missing, unusable, or changed after the card was verified."""
        for state, changed in sources:
            if state is None or state in UNUSABLE_FOR_SOP:
                return True
            if changed is not None and (last_verified is None or changed > last_verified):
                return True
        return False

    def sop_state(self, retired: bool, owned: bool, review_every_days: int, last_verified: datetime | None,
                  expires: date | None, changed_at: datetime | None, fetch_failures: int,
                  sources: Sequence[tuple[str | None, datetime | None]]) -> str:
        """An SOP card's state: `state`, then `suspect` ranks above `due` and `fresh`."""
        own = self.state(retired, owned, review_every_days, last_verified, expires, changed_at, fetch_failures)
        if (own == "fresh" or own == "due") and self.suspect(last_verified, sources):
            return "suspect"
        return own
