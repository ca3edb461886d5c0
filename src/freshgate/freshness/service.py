"""The freshness sweep at scale: stream the few columns the rules need straight from the database
cursor and classify each row with the pure rules.

No ORM objects and no SQLAlchemy rows are built: rows come from the DBAPI cursor in big chunks
(a server-side cursor on PostgreSQL), SQLite's ISO strings are parsed only where a value is
present, and `rules.StateRules` decides each state with a few comparisons. `rules.evaluate`
(the function the API and lookup use) remains the reference: `sweep_states` calls it for every
document that is not fresh, and the state-only path is tested against it.
"""

from __future__ import annotations

import gc
import itertools
from collections import Counter, defaultdict
from contextlib import contextmanager
from datetime import date, datetime, time, timezone
from typing import Iterator, NamedTuple

from sqlalchemy import literal_column
from sqlmodel import Session, and_, select

from freshgate.freshness.rules import PRECEDENCE, Facts, Freshness, SourceFacts, StateRules, _days, evaluate
from freshgate.registry.models import Dependency, Document, DocumentVersion, Owner
from freshgate.registry.views import RulesConfig

BATCH = 50_000
_UTC = timezone.utc
_cursor_names = itertools.count()
# Row layout of `_rows`: the order the state loop unpacks.
# No join: owners are few and read once (a join and two more columns were a sixth of the sweep).
_COLUMNS = (
    Document.id, Document.owner_id, Document.status, Document.review_every_days,
    Document.last_verified, Document.expires, Document.changed_at, Document.fetch_failures,
)


class SweptState(NamedTuple):
    """One document's computed state, as the sweep yields it."""

    document_id: str
    owner_id: str | None
    freshness: Freshness


@contextmanager
def _paused_gc():
    # Millions of short-lived acyclic tuples: the cyclic collector's passes are pure overhead here.
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _rows(session: Session, sop: bool) -> Iterator[list[tuple]]:
    """Chunks of raw rows (`_COLUMNS`) of sources or of SOP cards, from the DBAPI cursor."""
    q = select(*_COLUMNS)
    q = q.where(Document.kind == literal_column("'sop'")) if sop else q.where(Document.kind != literal_column("'sop'"))
    conn = session.connection()
    raw = conn.connection.driver_connection
    sql = str(q.compile(dialect=conn.dialect))
    if conn.dialect.name == "postgresql":  # the one dialect-specific part: a server-side cursor
        cur = raw.cursor(name=f"freshgate_sweep_{next(_cursor_names)}")
        cur.itersize = BATCH
    else:
        cur = raw.cursor()
    try:
        cur.execute(sql)
        while rows := cur.fetchmany(BATCH):
            yield rows
    finally:
        cur.close()


def _content_changed(session: Session) -> dict[str, datetime]:
    """Newest-version time of every cited source edited after registration (see views.content_changed_at)."""
    cited = select(Dependency.source_id)
    q = (select(Document.id, DocumentVersion.created_at)
         .join(DocumentVersion, and_(DocumentVersion.document_id == Document.id,
                                     DocumentVersion.version == Document.version))
         .where(Document.version > 1, Document.id.in_(cited)))
    return dict(session.connection().execute(q).all())


class _Sweep:
    """One pass over every document: sources first, then SOP cards (which depend on them)."""

    def __init__(self, session: Session, now: datetime, cfg: RulesConfig | None) -> None:
        cfg = cfg or RulesConfig()
        self.session, self.now = session, now
        self.kw = {"warning_days": cfg.warning_days, "unreachable_after": cfg.unreachable_after}
        # SQLite returns datetimes as naive-UTC ISO strings; PostgreSQL as aware datetimes.
        self.text = session.get_bind().dialect.name == "sqlite"
        self.rules = StateRules(now, naive=self.text, **self.kw)
        self.deps: dict[str, list[str]] = defaultdict(list)
        for sop_id, source_id in session.connection().execute(
                select(Dependency.sop_id, Dependency.source_id).order_by(Dependency.sop_id, Dependency.source_id)):
            self.deps[sop_id].append(source_id)
        self.cited = {s for lst in self.deps.values() for s in lst}
        self.changed: dict[str, datetime] = _content_changed(session) if self.cited else {}
        if self.text:
            self.changed = {k: v.astimezone(_UTC).replace(tzinfo=None) for k, v in self.changed.items()}
        self.source_state: dict[str, str] = {}
        # "Owned" = an active owner someone can be asked (with a contact, unless the rule is off).
        self.active: dict[str, bool] = {
            oid: bool(active) and (bool(contact) or not cfg.owner_contact_required)
            for oid, active, contact in session.connection().execute(select(Owner.id, Owner.active, Owner.contact))}
        self.successors: dict[str, str | None] = {}

    def states(self, full: bool = False) -> Iterator[tuple]:
        """(document id, owner id, state, is SOP, parsed row if `full` else None) of every document."""
        rules, text, cited, changed, source_state, deps, active_of = (
            self.rules, self.text, self.cited, self.changed, self.source_state, self.deps, self.active)
        if full:  # only reasons name a successor
            self.successors = dict(self.session.connection().execute(
                select(Document.id, Document.successor).where(Document.status == "retired")).all())
        parse_dt, parse_d = datetime.fromisoformat, date.fromisoformat
        state_of, sop_state = rules.state, rules.sop_state
        for sop in (False, True):
            for rows in _rows(self.session, sop):
                for row in rows:
                    doc_id, owner_id, status, every, lv, exp, ch, failures = row
                    if text:
                        if lv is not None:
                            lv = parse_dt(lv)
                        if exp is not None:
                            exp = parse_d(exp)
                        if ch is not None:
                            ch = parse_dt(ch)
                    owned = owner_id is not None and bool(active_of.get(owner_id))
                    if not sop:
                        state = state_of(status == "retired", owned, every, lv, exp, ch, failures)
                        if doc_id in cited:
                            source_state[doc_id] = state
                            if ch is not None:  # changed, not yet re-verified
                                changed[doc_id] = max(ch, changed.get(doc_id, ch))
                    else:
                        srcs = [(source_state.get(s), changed.get(s)) for s in deps.get(doc_id, ())]
                        state = sop_state(status == "retired", owned, every, lv, exp, ch, failures, srcs)
                    yield doc_id, owner_id, state, sop, (
                        (doc_id, owner_id, owned, status, every, lv, exp, ch, failures) if full else None)

    def freshness(self, state: str, row: tuple, sop: bool) -> Freshness:
        """The full `Freshness` of a row whose state is known: built directly when fresh, else by `evaluate`."""
        doc_id, owner_id, owned, status, every, lv, exp, ch, failures = row
        # Aware UTC, as the ORM path gives them (next_review is computed in UTC, whatever the session zone).
        if self.text:
            lv = None if lv is None else lv.replace(tzinfo=_UTC)
            ch = None if ch is None else ch.replace(tzinfo=_UTC)
        else:
            lv = None if lv is None else lv.astimezone(_UTC)
            ch = None if ch is None else ch.astimezone(_UTC)
        if state == "fresh":
            exp_at = None if exp is None else datetime.combine(exp, time(0), tzinfo=_UTC)
            return Freshness("fresh", (), lv + _days(every), exp_at)
        facts = Facts(doc_id, "sop" if sop else "source", status, self.successors.get(doc_id), owner_id is not None,
                      owned, every, lv, exp, ch, failures)
        srcs = ()
        if sop:
            aware = (lambda d: d.replace(tzinfo=_UTC)) if self.text else (lambda d: d)
            srcs = [SourceFacts(s, self.source_state.get(s), None if s not in self.changed else aware(self.changed[s]))
                    for s in self.deps.get(doc_id, ())]
        return evaluate(facts, self.now, sources=srcs, **self.kw)


def sweep_states(session: Session, now: datetime, cfg: RulesConfig | None = None) -> Iterator[SweptState]:
    """Every document's freshness at `now`, with reasons: sources first, then SOP cards."""
    sweep = _Sweep(session, now, cfg)
    for doc_id, owner_id, state, sop, row in sweep.states(full=True):
        yield SweptState(doc_id, owner_id, sweep.freshness(state, row, sop))


def count_states(session: Session, now: datetime, cfg: RulesConfig | None = None) -> dict[str, int]:
    """How many documents are in each state at `now` (every state listed, worst first)."""
    with _paused_gc():
        counts = Counter(s[2] for s in _Sweep(session, now, cfg).states())
    return {s: counts.get(s, 0) for s in PRECEDENCE}
