"""The review list kept current by increments: after a change, only the documents it moved are re-evaluated.

A full build (`reports.service.build_review`, seconds at 100k documents) remembers what it was built from:
the change log's newest id (its watermark), the owners (with their active flag) and the open-conflict counts.
An update reads what happened since and re-evaluates only
- the documents with a change-log entry after the watermark (edit, verify, retire, transfer, register...),
- the documents of owners whose active flag flipped (or who appeared or vanished),
- both sides of every conflict whose count changed (opened, dismissed, confirmed, resolved),
- the SOP cards citing any of those (a card's suspicion follows its sources),
then rebuilds the rows of those documents, the state counts and the groups from the kept rows of the others.
It falls back to a full build when the change log was pruned past the watermark (a gap it cannot read) or
when more than `max_moved` documents moved (a bulk sync: a full build is then as cheap).

Time passing (a review falling due at midnight, a remote source's failed fetches, new receipts changing
reliance) changes no row of the log: `LiveReview` rebuilds the whole list in a background thread every
`rebuild_seconds` (off the request path) and keeps the reliance counts of its last full build in between.
"""

from __future__ import annotations

import logging
import threading
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
from freshgate.registry.models import AuditEvent, Dependency, Document, Owner
from freshgate.registry.views import RulesConfig
from freshgate.reports.service import (ReviewReport, action_items, build_review, document_item, group_by_owner,
                                       topic_items)
from freshgate.reports.signals import Signals, gather
from freshgate.reports.states import Evaluation, evaluate_ids, paused_gc

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
    return LiveList(build_review(session, rules, signals, now), mark, signals, catalog_mark=mark, reason=reason)


def _owners(conn) -> dict[str, Any]:
    return {o[0]: o for o in conn.execute(select(Owner.id, Owner.name, Owner.contact, Owner.active)).all()}


def _active(o) -> bool | None:
    return None if o is None else bool(o.active)


def moved_documents(session: Session, live: LiveList, mark: int, owners: dict[str, Any],
                    conflicts: dict[str, int], limit: int) -> tuple[set[str] | None, bool]:
    """Ids of the documents whose row may differ from `live`'s (None: more than `limit`), and whether a change
    may have changed the document list's facets or ids (a registration, transfer, edit)."""
    conn = session.connection()
    t = ChangeLog.__table__
    q = (select(t.c.document_id, t.c.kind).where(t.c.id > live.watermark, t.c.id <= mark,
                                                 t.c.document_id.is_not(None), t.c.kind.not_in(NO_STATE_CHANGE))
         .distinct().limit(2 * limit + 1))
    changes = conn.execute(q).all()
    moved = {d for d, _ in changes}
    catalog = any(k in CATALOG_KINDS for _, k in changes) or len(changes) > 2 * limit
    before = live.report.evaluation.owners if live.report.evaluation else {}
    flipped = sorted(o for o in owners.keys() | before.keys() if _active(owners.get(o)) != _active(before.get(o)))
    if flipped:
        moved |= set(conn.execute(select(Document.id).where(Document.owner_id.in_(flipped))
                                  .limit(limit + 1)).scalars().all())
    old = live.signals.conflicts
    moved |= {d for d in old.keys() | conflicts.keys() if old.get(d, 0) != conflicts.get(d, 0)}
    if len(moved) > limit:
        return None, catalog
    ids = sorted(moved)
    for k in range(0, len(ids), 900):  # SOP cards citing a moved source
        moved |= set(conn.execute(select(Dependency.sop_id).where(Dependency.source_id.in_(ids[k:k + 900])))
                     .scalars().all())
    return (None if len(moved) > limit else moved), catalog


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
    signals = gather(extras, session, now, with_reliance=False)
    signals.reliance = live.signals.reliance
    owners = _owners(conn)
    moved, catalog = moved_documents(session, live, mark, owners, signals.conflicts, max_moved)
    if moved is None:
        return full_build(session, rules, extras, now, f"more than {max_moved} documents moved")
    with paused_gc():
        report = _apply(session, live.report, moved, signals, owners, rules, now)
    return LiveList(report, mark, signals, catalog_mark=mark if catalog else live.catalog_mark, full=False,
                    moved=len(moved))


def _apply(session: Session, old: ReviewReport, moved: set[str], signals: Signals, owners: dict[str, Any],
           rules: RulesConfig, now: datetime) -> ReviewReport:
    ev = old.evaluation
    part = evaluate_ids(session, rules, now, moved)
    rows = {r.id: r for r in ev.rows if r.id not in moved}
    fresh = {i: fr for i, fr in ev.fresh.items() if i not in moved}
    facts = {i: f for i, f in ev.facts.items() if i not in moved}
    for r in part.rows:
        rows[r.id], fresh[r.id], facts[r.id] = r, part.fresh[r.id], part.facts[r.id]
    total = session.connection().execute(select(func.count()).select_from(Document)).scalar_one()
    counts = Counter(fr.state for fr in fresh.values())
    counts["fresh"] += total - len(fresh)  # documents never evaluated are fresh by construction
    state_counts = {st: counts.get(st, 0) for st in PRECEDENCE}
    items = [i for i in old.items if i.kind in DOCUMENT_ITEMS and i.document_id not in moved]
    items += [i for r in part.rows if (i := document_item(r, part.fresh[r.id], part.facts[r.id], signals, now))]
    items += topic_items(signals) + action_items(signals)
    items.sort(key=lambda i: (-i.risk, i.document_id or i.title))
    weeks = old.weeks[:-1] + [(now, dict(state_counts))]
    return ReviewReport(generated_at=now, items=items, groups=group_by_owner(items, owners),
                        state_counts=state_counts, week_ago=old.week_ago, weeks=weeks,
                        evaluation=Evaluation(list(rows.values()), fresh, facts, owners, state_counts))


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

    def get(self, session: Session) -> ReviewReport:
        """The review list for the database's current data version."""
        version = data_version(session)
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
