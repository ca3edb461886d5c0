"""The review list kept current by increments: after a change, only the documents it moved are re-evaluated.

A full build (`reports.service.build_review`, seconds at 100k documents) remembers what it was built from:
the change log's newest id (its watermark), the owners (with their active flag) and the open-conflict counts.
An update reads what happened since and re-evaluates only
- the documents with a change-log entry after the watermark (edit, verify, retire, transfer, register...),
- the documents of owners whose active flag flipped (or who appeared or vanished),
- both sides of every conflict whose count changed (opened, dismissed, confirmed, resolved),
- the SOP cards citing any of those (a card's suspicion follows its sources),
then rebuilds the rows of those documents, the state counts and the groups from the kept rows of the others.
The indexes by document id are copy-on-write overlays (`reports.overlay`): an update records only what moved,
and a request still reading the list it got before sees that list unchanged.
It falls back to a full build when the change log was pruned past the watermark (a gap it cannot read) or
when more than `max_moved` documents moved (a bulk sync: a full build is then as cheap).

Time passing (a review falling due at midnight, a remote source's failed fetches, new receipts changing
reliance) changes no row of the log: `LiveReview` rebuilds the whole list in a background thread every
`rebuild_seconds` (off the request path) and keeps the reliance counts of its last full build in between.
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_left, insort
import time
import weakref
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import func, select
from sqlmodel import Session

from freshgate.conflicts.models import ConflictRecord
from freshgate.feed.models import ChangeLog
from freshgate.feed.prune import pruned_through
from freshgate.feed.service import latest_id
from freshgate.freshness.rules import PRECEDENCE
from freshgate.registry.models import AuditEvent, Dependency, Document
from freshgate.registry.views import RulesConfig
from freshgate.reports.service import (ReviewReport, action_items, build_review, document_item, group_order,
                                       owner_group, risk_order, topic_items)
from freshgate.reports.signals import Signals, action_signals, gather
from freshgate.reports.overlay import Overlay
from freshgate.reports.states import Evaluation, evaluate_ids, one_of, paused_gc, read_owners

log = logging.getLogger(__name__)
MAX_MOVED = 5000
DOCUMENT_ITEMS = frozenset({"source", "sop"})  # review rows of documents (topics and tools come from signals)
NO_STATE_CHANGE = ("embedded",)  # change-log kinds that cannot move a document's state or row
CATALOG_KINDS = frozenset({"registered", "owner", "content", "meta"})  # may change ids, kind, lane, owner, tags, title


def data_version(session: Session) -> tuple:
    """What the read models depend on besides time: newest audit event, newest conflict change (every change
    of a document, owner, conflict verdict or detection writes one of them)."""
    conn = session.connection()
    audit = conn.execute(select(func.max(AuditEvent.id))).scalar()
    conflict = conn.execute(select(func.max(ConflictRecord.updated_at))).scalar()
    return audit, str(conflict)


@dataclass
class LiveList:
    """A review list with what it was built from."""

    report: ReviewReport
    watermark: int  # the newest change-log id it includes
    signals: Signals  # reliance from the last full build; conflicts, topics, tools as of this build
    version: Any = None  # data_version read before it was built
    catalog_mark: int = 0  # the newest change that may have changed the document list's facets or ids
    full: bool = True  # a full build (False: an update of one)
    moved: int = 0  # documents re-evaluated by the update
    reason: str = ""  # why an update fell back to a full build
    built_at: float = field(default_factory=time.monotonic)


def full_build(session: Session, rules: RulesConfig, extras: dict[str, Any], now: datetime,
               reason: str = "") -> LiveList:
    """The whole review list at `now`, with its watermark read first (a change committed while it builds is
    re-read by the next update)."""
    mark = latest_id(session.connection())
    signals = gather(extras, session, now)
    report = build_review(session, rules, signals, now)
    with paused_gc():  # the indexes an update starts from, built here (off the request path when in the background)
        _doc_items(report), _rows_by_id(report), _evaluated_counts(report), _extra_items(report)
    return LiveList(report, mark, signals, catalog_mark=mark, reason=reason)


def _active(o) -> bool | None:
    return None if o is None else bool(o.active)


def moved_documents(session: Session, live: LiveList, mark: int, owners: dict[str, Any],
                    conflicts: dict[str, int], limit: int) -> tuple[set[str] | None, bool, bool]:
    """Ids of the documents whose row may differ from `live`'s (None: more than `limit`), whether a change
    may have changed the document list's facets or ids (a registration, transfer, edit), and whether documents
    may have been added (a registration: the total is counted again)."""
    conn = session.connection()
    t = ChangeLog.__table__
    q = (select(t.c.document_id, t.c.kind).where(t.c.id > live.watermark, t.c.id <= mark,
                                                 t.c.document_id.is_not(None), t.c.kind.not_in(NO_STATE_CHANGE))
         .distinct().limit(2 * limit + 1))
    changes = conn.execute(q).all()
    moved = {d for d, _ in changes}
    catalog = any(k in CATALOG_KINDS for _, k in changes) or len(changes) > 2 * limit
    added = any(k == "registered" for _, k in changes) or len(changes) > 2 * limit
    before = live.report.evaluation.owners if live.report.evaluation else {}
    flipped = (sorted(o for o in owners.keys() | before.keys() if _active(owners.get(o)) != _active(before.get(o)))
               if owners != before else [])
    if flipped:
        moved |= set(conn.execute(select(Document.id).where(Document.owner_id.in_(flipped))
                                  .limit(limit + 1)).scalars().all())
    old = live.signals.conflicts
    moved |= {d for d in old.keys() | conflicts.keys() if old.get(d, 0) != conflicts.get(d, 0)}
    if len(moved) > limit:
        return None, catalog, added
    ids, dialect = sorted(moved), conn.dialect.name
    for k in range(0, len(ids), 900):  # SOP cards citing a moved source
        q = select(Dependency.sop_id).where(one_of(Dependency.source_id, ids[k:k + 900], dialect))
        moved |= set(conn.execute(q).scalars().all())
    return (None if len(moved) > limit else moved), catalog, added


def _any_card(conn, ids: set[str]) -> bool:
    ids_, dialect = sorted(ids), conn.dialect.name
    return any(conn.execute(select(Document.id).where(one_of(Document.id, ids_[k:k + 900], dialect),
                                                      Document.kind == "sop").limit(1)).first()
               for k in range(0, len(ids_), 900))


def update(session: Session, live: LiveList, rules: RulesConfig, extras: dict[str, Any], now: datetime, *,
           max_moved: int = MAX_MOVED) -> LiveList:
    """`live` brought up to the database's current state at `now`: the moved documents re-evaluated (or a
    full build when the change log was pruned past its watermark or too many documents moved)."""
    conn = session.connection()
    if live.report.evaluation is None:
        return full_build(session, rules, extras, now, "no evaluation kept")
    if pruned_through(conn) > live.watermark:
        return full_build(session, rules, extras, now, "change log pruned past the watermark")
    mark = latest_id(conn)
    signals = gather(extras, session, now, with_reliance=False, with_actions=False)
    signals.reliance = live.signals.reliance
    owners = read_owners(conn)  # once: the re-evaluation below reuses it
    moved, catalog, added = moved_documents(session, live, mark, owners, signals.conflicts, max_moved)
    if moved is None:
        return full_build(session, rules, extras, now, f"more than {max_moved} documents moved")
    # The action gate's rows (uncovered tools, rules without rollback) follow SOP cards; when no card moved they
    # are kept until the next full build, like reliance.
    actions_too = _any_card(conn, moved)
    signals.uncovered, signals.no_rollback = (action_signals(extras, session) if actions_too
                                              else (live.signals.uncovered, live.signals.no_rollback))
    with paused_gc():
        report = _apply(session, live.report, moved, signals, owners, rules, now, actions_too, added)
    return LiveList(report, mark, signals, catalog_mark=mark if catalog else live.catalog_mark, full=False,
                    moved=len(moved))


def _without(items: list, removed: list) -> list:
    """A copy of the risk-ordered `items` without `removed` (by identity): found by bisection when they are
    few, one pass over the list when many moved (an owner flip moves hundreds)."""
    if len(removed) > 64:
        gone = {id(i) for i in removed}
        return [i for i in items if id(i) not in gone]
    out = list(items)
    for i in removed:
        _remove(out, i)
    return out


def _remove(items: list, item) -> None:
    """Take `item` (by identity) out of the risk-ordered `items`."""
    k = risk_order(item)
    pos = bisect_left(items, k, key=risk_order)
    while pos < len(items) and risk_order(items[pos]) == k:
        if items[pos] is item:
            del items[pos]
            return
        pos += 1


def _apply(session: Session, old: ReviewReport, moved: set[str], signals: Signals, owners: dict[str, Any],
           rules: RulesConfig, now: datetime, actions_too: bool, added_docs: bool = True) -> ReviewReport:
    """The new report: the moved documents' rows (and the signal rows) taken out of a copy of the ordered list and
    the new ones inserted in order; only the groups of owners whose rows or details changed are rebuilt. The
    indexes by document id are overlays (`reports.overlay`): the new report shares the old one's and records only
    what moved, so a request still reading the old report sees it unchanged."""
    ev = old.evaluation
    part = evaluate_ids(session, rules, now, moved, owners=owners)
    evaluated = Counter(_evaluated_counts(old))  # states of the evaluated documents (the others are fresh)
    old_fresh = Overlay.of(ev.fresh)
    for d in moved:
        fr = old_fresh.get(d)
        if fr is not None:
            evaluated[fr.state] -= 1
    for r in part.rows:
        evaluated[part.fresh[r.id].state] += 1
    gone = [d for d in moved if d not in part.fresh]  # not evaluated now (moved to fresh, or missing)
    rows = _rows_by_id(old).changed(((r.id, r) for r in part.rows), gone)
    fresh = old_fresh.changed(part.fresh.items(), gone)
    facts = Overlay.of(ev.facts).changed(part.facts.items(), gone)
    # Documents are never deleted, only registered: the total moves only then (count(*) walks 10^5 rows on SQLite)
    total = (session.connection().execute(select(func.count()).select_from(Document)).scalar_one() if added_docs
             else sum(old.state_counts.values()))
    counts = Counter(evaluated)
    counts["fresh"] += total - len(fresh)  # documents never evaluated are fresh by construction
    state_counts = {st: counts.get(st, 0) for st in PRECEDENCE}

    by_doc = _doc_items(old)
    removed = [i for d in moved if (i := by_doc.get(d)) is not None]
    removed += [i for i in _extra_items(old) if actions_too or i.kind == "topic"]
    added = [i for r in part.rows if (i := document_item(r, part.fresh[r.id], part.facts[r.id], signals, now))]
    added += topic_items(signals) + (action_items(signals) if actions_too else [])
    items = _without(old.items, removed)
    for i in added:
        insort(items, i, key=risk_order)

    before = ev.owners
    touched = {i.owner for i in removed} | {i.owner for i in added}
    if owners != before:
        touched |= {o for o in owners.keys() | before.keys() if owners.get(o) != before.get(o)}
    old_groups = {g.owner: g for g in old.groups}
    groups = {o: g for o, g in old_groups.items() if o not in touched}
    for o in touched:
        g = old_groups.get(o)
        mine = _without(g.items, [i for i in removed if i.owner == o]) if g is not None else []
        for i in added:
            if i.owner == o:
                insort(mine, i, key=risk_order)
        if mine:
            groups[o] = owner_group(o, owners, mine)
    weeks = old.weeks[:-1] + [(now, dict(state_counts))]
    report = ReviewReport(generated_at=now, items=items, groups=sorted(groups.values(), key=group_order),
                          state_counts=state_counts, week_ago=old.week_ago, weeks=weeks,
                          evaluation=Evaluation(rows.values(), fresh, facts, owners, state_counts))
    report._doc_items = by_doc.changed(  # type: ignore[attr-defined]
        ((i.document_id, i) for i in added if i.kind in DOCUMENT_ITEMS), moved)
    report._rows_by_id, report._evaluated = rows, evaluated  # type: ignore[attr-defined]
    report._extra_items = ([i for i in added if i.kind not in DOCUMENT_ITEMS]  # type: ignore[attr-defined]
                           + ([] if actions_too else [i for i in _extra_items(old) if i.kind != "topic"]))
    return report


def _doc_items(report: ReviewReport) -> Overlay:
    """The report's document rows by document id (kept with the report after the first update)."""
    idx = getattr(report, "_doc_items", None)
    if idx is None:
        idx = report._doc_items = Overlay({i.document_id: i for i in report.items  # type: ignore[attr-defined]
                                           if i.kind in DOCUMENT_ITEMS})
    return idx


def _rows_by_id(report: ReviewReport) -> Overlay:
    idx = getattr(report, "_rows_by_id", None)
    if idx is None:
        idx = report._rows_by_id = Overlay({r.id: r for r in report.evaluation.rows})  # type: ignore[attr-defined]
    return idx


def _evaluated_counts(report: ReviewReport) -> Counter:
    counts = getattr(report, "_evaluated", None)
    if counts is None:
        counts = report._evaluated = Counter(fr.state for fr in report.evaluation.fresh.values())  # type: ignore
    return counts


def _extra_items(report: ReviewReport) -> list:
    """The report's rows from signals (unanswered topics, tools)."""
    extra = getattr(report, "_extra_items", None)
    if extra is None:
        extra = report._extra_items = [i for i in report.items  # type: ignore[attr-defined]
                                       if i.kind not in DOCUMENT_ITEMS]
    return extra


class LiveReview:
    """One process's review list: updated on the request that first sees a new data version, rebuilt in full
    by a background thread every `rebuild_seconds` (time passing), one lock so a burst of loads updates once."""

    def __init__(self, engine, rules: RulesConfig, extras: dict[str, Any], clock: Callable[[], datetime], *,
                 rebuild_seconds: float = 300, max_moved: int = MAX_MOVED,
                 after_full: Callable[[Any], Any] = lambda v: v) -> None:
        self.engine, self.rules, self.extras, self.clock = engine, rules, extras, clock
        self.rebuild_seconds, self.max_moved, self.after_full = rebuild_seconds, max_moved, after_full
        self.live: LiveList | None = None
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def get(self, session: Session, version: Any = None) -> ReviewReport:
        """The review list for the database's current data version (`version`: `data_version(session)` when the
        caller has read it already)."""
        version = data_version(session) if version is None else version
        live = self.live
        if live is not None and live.version == version:
            return live.report
        with self.lock:
            live = self.live
            if live is not None and live.version == version:
                return live.report
            now = self.clock()
            if live is None:
                new = full_build(session, self.rules, self.extras, now, "first load")
            else:
                new = update(session, live, self.rules, self.extras, now, max_moved=self.max_moved)
            if new.full:
                self.after_full(new)
            new.version = version
            self.live = new
            log.debug("review list: %s (%d moved) %s", "full" if new.full else "update", new.moved, new.reason)
            self._start_rebuilds()
        return new.report

    def rebuild(self) -> LiveList:
        """A full build in its own session, replacing the kept list (a newer update is re-applied by the next
        load: its changes lie after this build's watermark)."""
        with Session(self.engine, expire_on_commit=False) as session:
            version = data_version(session)
            new = full_build(session, self.rules, self.extras, self.clock(), "scheduled rebuild")
        self.after_full(new)
        new.version = version
        with self.lock:
            self.live = new
        return new

    def _start_rebuilds(self) -> None:
        if self.thread is not None or self.rebuild_seconds <= 0:
            return
        ref, stop, every = weakref.ref(self), self.stop, self.rebuild_seconds

        def run() -> None:
            while not stop.wait(every):
                me = ref()
                if me is None:
                    return
                try:
                    me.rebuild()
                except Exception:  # noqa: BLE001 - the kept list stays; the next period tries again
                    log.exception("review list: scheduled rebuild failed")
                del me

        self.thread = threading.Thread(target=run, name="freshgate-review-rebuild", daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop the background rebuilds."""
        self.stop.set()
