"""Freshness of every document for the review list, in bulk.

SQL picks the candidates: every document the rules could find not fresh at `now` (the same
thresholds as the rules, with a day of slack), and only the SOP cards that could be suspect.
The pure rules (`freshness.rules.evaluate`) then decide each candidate's state; every other
document is fresh by construction and only counted. Rows are read through Core with naive UTC
datetimes (no ORM objects, no per-value type processing): at 100k documents this is most of
the review list's time.
"""

from __future__ import annotations

import gc
import threading
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from sqlalchemy import DateTime, String, and_, any_, bindparam, func, literal, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import aliased
from sqlmodel import Session
from sqlmodel.sql.sqltypes import UTCDateTime

from freshgate.freshness.rules import PRECEDENCE, Facts, SourceFacts, evaluate
from freshgate.registry.models import Dependency, Document, DocumentVersion, Owner
from freshgate.registry.views import RulesConfig

_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False


@contextmanager
def paused_gc():
    """Pause the cyclic garbage collector while tens of thousands of acyclic rows are built (its
    full passes over the growing heap were a quarter of the review list's CPU); nestable, thread-safe."""
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


def _raw(col, dialect: str):
    """A datetime column as naive UTC, without UTCDateTime's per-value conversion (the rules read naive
    as UTC). SQLite stores naive UTC text; PostgreSQL converts its timestamptz in SQL."""
    return type_coerce(func.timezone("UTC", col) if dialect == "postgresql" else col, DateTime())


def _cols(dialect: str) -> tuple:
    return (Document.id, Document.kind, Document.title, Document.owner_id, Document.criticality,
            Document.review_every_days, _raw(Document.last_verified, dialect).label("last_verified"),
            Document.expires, Document.status, Document.successor,
            _raw(Document.changed_at, dialect).label("changed_at"), Document.fetch_failures,
            _raw(Document.created_at, dialect).label("created_at"))


@dataclass
class Evaluation:
    """Rows that may need a human, their freshness, and state counts over every document."""

    rows: Iterable[Any]  # a list (a full build) or a view of the kept rows (an incremental update)
    fresh: Mapping[str, Any]  # a dict, or a read-only overlay of one (`reports.overlay`)
    facts: Mapping[str, Facts]
    owners: dict[str, Any]
    counts: dict[str, int]


def one_of(col, ids, dialect: str):
    """SQL: `col IN ids`; on PostgreSQL `col = ANY(:ids)`, one bound array, so the statement is the same whatever
    the number of ids (an expanded IN list is a new statement, compiled and parsed again, for every length)."""
    if dialect == "postgresql":
        return col == any_(bindparam(None, list(ids), type_=ARRAY(String)))
    return col.in_(ids)


def _due_by(doc, dialect: str, t: datetime):
    """SQL: the document's next review falls on or before `t` (the one dialect-specific expression)."""
    if dialect == "postgresql":
        return doc.last_verified + func.make_interval(0, 0, 0, doc.review_every_days) <= t
    return func.julianday(doc.last_verified) + doc.review_every_days <= func.julianday(literal(t, UTCDateTime()))


def maybe_not_fresh(doc, dialect: str, rules: RulesConfig, now: datetime):
    """SQL filter keeping every document (table or alias `doc`) the rules could find not fresh on its
    own facts, SOP suspicion aside: a superset with one day of slack."""
    cut = now + timedelta(days=rules.warning_days + 1)
    inactive = select(Owner.id).where(Owner.active.is_(False))
    return or_(doc.status != "active", doc.owner_id.is_(None), doc.owner_id.in_(inactive),
               doc.fetch_failures >= rules.unreachable_after, doc.last_verified.is_(None),
               doc.changed_at > doc.last_verified, doc.expires <= cut.date(), _due_by(doc, dialect, cut))


def _maybe_suspect(dialect: str, rules: RulesConfig, now: datetime):
    """SQL: SOP cards relying on a source that is missing, not a source, maybe not fresh, or ever
    changed after registration (the rules then compare that change with the card's verification)."""
    src = aliased(Document)
    risky = (select(Dependency.sop_id).outerjoin(src, src.id == Dependency.source_id)
             .where(or_(src.id.is_(None), src.kind == "sop", src.version > 1, src.changed_at.is_not(None),
                        maybe_not_fresh(src, dialect, rules, now))))
    return Document.id.in_(risky)


def content_changed(session: Session, source_ids: set[str], dialect: str = "sqlite") -> dict[str, datetime]:
    """When each cited source's content last changed after registration: its newest version's time
    (kept after re-verification) or its `changed_at`, whichever is later (as the registry computes it)."""
    if not source_ids:
        return {}
    q = (select(Document.id, _raw(Document.changed_at, dialect), _raw(DocumentVersion.created_at, dialect))
         .outerjoin(DocumentVersion, and_(DocumentVersion.document_id == Document.id,
                                          DocumentVersion.version == Document.version, Document.version > 1))
         .where(or_(Document.version > 1, Document.changed_at.is_not(None))))
    # An incremental update names a few sources: look those up by id (with the every-cited-source subquery
    # too, SQLite drives the IN from the 20k dependencies: ~120 ms); a full build reads every cited source.
    q = q.where(one_of(Document.id, sorted(source_ids), dialect) if len(source_ids) <= 900
                else Document.id.in_(select(Dependency.source_id)))
    out: dict[str, datetime] = {}
    for doc_id, changed_at, version_at in session.connection().execute(q).all():
        if doc_id in source_ids:
            times = [t for t in (changed_at, version_at) if t is not None]
            if times:
                out[doc_id] = max(times)
    return out


def _facts(r, owners: dict[str, Any]) -> Facts:
    o = owners.get(r.owner_id) if r.owner_id else None
    return Facts(r.id, r.kind, r.status, r.successor, r.owner_id is not None, bool(o and o.active),
                 r.review_every_days, r.last_verified, r.expires, r.changed_at, r.fetch_failures)


def _chunks(ids: list[str], n: int = 900):
    for k in range(0, len(ids), n):
        yield ids[k:k + n]


def read_owners(conn) -> dict[str, Any]:
    """Every owner's (id, name, contact, active) row by id."""
    return {o[0]: o for o in conn.execute(select(Owner.id, Owner.name, Owner.contact, Owner.active)).all()}


def evaluate_ids(session: Session, rules: RulesConfig, now: datetime, ids: set[str],
                 owners: dict[str, Any] | None = None) -> Evaluation:
    """Freshness of exactly these documents (those that exist), as `evaluate_all` computes it: an SOP card's
    cited sources are evaluated too (not assumed fresh). `counts` is empty: the caller merges. `owners`: the
    caller's `read_owners` of this transaction (read here when not given)."""
    with paused_gc():
        conn = session.connection()
        dialect = conn.dialect.name
        owners = read_owners(conn) if owners is None else owners
        rows = [r for chunk in _chunks(sorted(ids)) for r in conn.execute(select(*_cols(dialect))
                                                                          .where(one_of(Document.id, chunk, dialect))).all()]
        sops = [r.id for r in rows if r.kind == "sop"]
        deps: dict[str, list[str]] = defaultdict(list)
        for chunk in _chunks(sops):
            q = (select(Dependency.sop_id, Dependency.source_id).where(one_of(Dependency.sop_id, chunk, dialect))
                 .order_by(Dependency.sop_id, Dependency.source_id))
            for sop_id, source_id in conn.execute(q).all():
                deps[sop_id].append(source_id)
        cited = {s for d in deps.values() for s in d}
        extra = [r for chunk in _chunks(sorted(cited - ids)) for r in conn.execute(
            select(*_cols(dialect)).where(one_of(Document.id, chunk, dialect), Document.kind != "sop")).all()]
        kw = {"warning_days": rules.warning_days, "unreachable_after": rules.unreachable_after}
        facts = {r.id: _facts(r, owners) for r in rows + extra}
        out: dict[str, Any] = {r.id: evaluate(facts[r.id], now, **kw) for r in rows + extra if r.kind != "sop"}
        state = {i: fr.state for i, fr in out.items()}
        changed = content_changed(session, cited, dialect)
        for r in rows:
            if r.kind == "sop":
                srcs = [SourceFacts(s, state.get(s), changed.get(s)) for s in deps.get(r.id, ())]
                out[r.id] = evaluate(facts[r.id], now, sources=srcs, **kw)
        return Evaluation(rows, {r.id: out[r.id] for r in rows}, {r.id: facts[r.id] for r in rows}, owners, {})


def evaluate_all(session: Session, rules: RulesConfig, now: datetime, include: list[str] | None = None) -> Evaluation:
    """Freshness of every document that may not be fresh (+ `include`: e.g. in a conflict), counts over all."""
    with paused_gc():
        return _evaluate(session, rules, now, include)


def _evaluate(session: Session, rules: RulesConfig, now: datetime, include: list[str] | None) -> Evaluation:
    conn = session.connection()
    owners = read_owners(conn)
    dialect = conn.dialect.name
    total = conn.execute(select(func.count()).select_from(Document)).scalar_one()
    own = maybe_not_fresh(Document, dialect, rules, now)
    cond = or_(and_(Document.kind != "sop", own), and_(Document.kind == "sop", or_(own, _maybe_suspect(dialect, rules,
                                                                                                        now))))
    if include:
        cond = or_(cond, Document.id.in_(include))
    rows = conn.execute(select(*_cols(dialect)).where(cond)).all()
    sops = [r for r in rows if r.kind == "sop"]
    deps: dict[str, list[str]] = defaultdict(list)
    if sops:
        q = select(Dependency.sop_id, Dependency.source_id).order_by(Dependency.sop_id, Dependency.source_id)
        for sop_id, source_id in conn.execute(q).all():
            deps[sop_id].append(source_id)
    kw = {"warning_days": rules.warning_days, "unreachable_after": rules.unreachable_after}
    facts = {r.id: _facts(r, owners) for r in rows}
    out: dict[str, Any] = {r.id: evaluate(facts[r.id], now, **kw) for r in rows if r.kind != "sop"}
    cited = {s for r in sops for s in deps.get(r.id, ())}
    changed = content_changed(session, cited, dialect)
    # Cited sources that are not candidates are registered, fresh sources (the SQL filter's promise);
    # anything else the card cites is missing (or is not a source), as the registry sees it.
    state = {i: fr.state for i, fr in out.items()}
    if cited - state.keys():
        q = select(Document.id).where(Document.kind != "sop", Document.id.in_(select(Dependency.source_id)))
        state |= {i: "fresh" for (i,) in conn.execute(q).all() if i in cited and i not in state}
    for r in sops:
        srcs = [SourceFacts(s, state.get(s), changed.get(s)) for s in deps.get(r.id, ())]
        out[r.id] = evaluate(facts[r.id], now, sources=srcs, **kw)
    counts = Counter(fr.state for fr in out.values())
    counts["fresh"] += total - len(rows)
    return Evaluation(rows, out, facts, owners, {st: counts.get(st, 0) for st in PRECEDENCE})
