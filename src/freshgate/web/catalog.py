"""The document list of the console: search, facets and pages over the whole registry, fast at 100k.

States come from the bulk evaluation the review list uses (only documents that may not be fresh are
evaluated; the rest are fresh by construction), memoised with the review list per data version, so a page
costs one SQL page (a state filter: a walk over the memoised ids).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import String, cast, func, or_, select
from sqlmodel import Session

from freshgate.feed.models import ChangeLog
from freshgate.feed.prune import pruned_through
from freshgate.feed.service import latest_id
from freshgate.registry.models import Document
from freshgate.reports.incremental import CATALOG_KINDS


DEEP = 2_000  # from this offset on, a page's ids come from the memoised id list


@dataclass
class Filters:
    """What the list is narrowed to."""

    q: str = ""
    state: str = ""
    kind: str = ""
    lane: str = ""
    owner: str = ""
    tag: str = ""


@dataclass
class Page:
    """One page of documents with facet counts."""

    rows: list[dict]
    total: int
    facets: dict[str, list[tuple[str, int]]]
    state_counts: dict[str, int]


def _where(f: Filters) -> list:
    conds = []
    if f.q:
        like = f"%{f.q.lower()}%"
        conds.append(or_(func.lower(Document.id).like(like), func.lower(Document.title).like(like)))
    if f.kind:
        conds.append(Document.kind == f.kind)
    if f.lane:
        conds.append(Document.lane == f.lane)
    if f.owner:
        conds.append(Document.owner_id == (None if f.owner == "(none)" else f.owner))
    if f.tag:
        conds.append(cast(Document.tags, String).like(f'%"{f.tag}"%'))
    return conds


def matching_ids(session: Session, f: Filters) -> list[str]:
    """Ids of the documents matching the filters (state aside), in id order (memoise it: 100k ids)."""
    return list(session.connection().execute(select(Document.id).where(*_where(f)).order_by(Document.id))
                .scalars().all())


def _with_state(ev, state: str, f: Filters, ids) -> list[str]:
    """Ids in id order of the documents in `state` that match the filters. States are computed, not stored:
    a state other than fresh is read off the evaluation (a few thousand ids); fresh, or any state with other
    filters, walks the (memoised) matching ids."""
    fresh = ev.fresh
    if state != "fresh" and not _where(f):
        return sorted(i for i, fr in fresh.items() if fr.state == state)
    out = []
    for i in ids():
        fr = fresh.get(i)
        if (fr.state if fr is not None else "fresh") == state:
            out.append(i)
    return out


def documents_page(session: Session, ev, f: Filters, offset: int, limit: int, facets=None, ids=None) -> Page:
    """Documents matching the filters, ordered by id, one page (facets from `facets(session, f)`; `ids`: a
    memoised `matching_ids(session, f)`, used when filtering by state)."""
    conds = _where(f)
    conn = session.connection()
    cols = (Document.id, Document.title, Document.kind, Document.lane, Document.owner_id, Document.criticality,
            Document.tags, Document.status, Document.last_verified)
    if f.state or (offset >= DEEP and ids is not None):
        # States are computed, not stored; and a deep OFFSET makes the database walk every row before it
        # (PostgreSQL: ~100 ms at page 2,000): both take the page's ids from the memoised id list.
        wanted = _with_state(ev, f.state, f, ids or (lambda: matching_ids(session, f))) if f.state else ids()
        total, page_ids = len(wanted), wanted[offset:offset + limit]
        rows = ([dict(r._mapping) for r in conn.execute(select(*cols).where(Document.id.in_(page_ids))
                                                         .order_by(Document.id)).all()] if page_ids else [])
    else:
        total = conn.execute(select(func.count()).select_from(Document).where(*conds)).scalar_one()
        rows = [dict(r._mapping) for r in conn.execute(select(*cols).where(*conds).order_by(Document.id)
                                                       .offset(offset).limit(limit)).all()]
    for r in rows:
        fr = ev.fresh.get(r["id"])
        r["state"] = fr.state if fr else "fresh"
        r["reason"] = fr.reasons[0].message if fr and fr.reasons else ""
    return Page(rows, int(total), facets or {}, ev.counts)


def facets(session: Session, f: Filters) -> dict[str, list[tuple[str, int]]]:
    """Counts by kind, lane, owner and tag of the documents matching the filters (state aside)."""
    conn = session.connection()
    conds = _where(f)
    out = {}
    for name, col in (("kind", Document.kind), ("lane", Document.lane), ("owner", Document.owner_id)):
        q = select(col, func.count()).where(*conds).group_by(col).order_by(func.count().desc()).limit(25)
        out[name] = [(v if v is not None else "(none)", int(n)) for v, n in conn.execute(q).all()]
    tags = Counter(t for (ts,) in conn.execute(select(Document.tags).where(*conds)).all() for t in (ts or []))
    out["tag"] = tags.most_common(25)
    return out


class LiveCatalog:
    """The unfiltered document list's facets and id list, kept by the change log: a registration, transfer or
    edit re-reads only the documents it names (their old values come off the counters, their new ones go on),
    instead of counting 100k documents again on the next page load. Rebuilt when the log was pruned past its
    mark or more than `max_moved` documents changed."""

    def __init__(self, max_moved: int = 5000) -> None:
        self.max_moved, self.mark = max_moved, None
        self.values: dict[str, tuple] = {}  # id -> (kind, lane, owner, tags)
        self.counts: dict[str, Counter] = {}
        self.ids: list[str] = []
        self.lock = threading.Lock()

    def get(self, session: Session) -> tuple[dict[str, list[tuple[str, int]]], list[str]]:
        """(facets, ids in id order) of every document, current to the change log's newest entry."""
        conn = session.connection()
        mark = latest_id(conn)
        with self.lock:
            if self.mark is None or pruned_through(conn) > self.mark:
                self._rebuild(conn, mark)
            elif mark > self.mark:
                t = ChangeLog.__table__
                q = (select(t.c.document_id).where(t.c.id > self.mark, t.c.id <= mark, t.c.document_id.is_not(None),
                                                   t.c.kind.in_(CATALOG_KINDS)).distinct().limit(self.max_moved + 1))
                changed = sorted(conn.execute(q).scalars().all())
                if len(changed) > self.max_moved:
                    self._rebuild(conn, mark)
                else:
                    added = 0
                    for k in range(0, len(changed), 900):
                        added += self._apply(conn.execute(select(*_FACET_COLS)
                                                          .where(Document.id.in_(changed[k:k + 900]))))
                    if added:  # new ids: the database's order (its collation), as the shallow pages use
                        self.ids = list(conn.execute(select(Document.id).order_by(Document.id)).scalars().all())
                    self.mark = mark
            return self._facets(), self.ids

    def _rebuild(self, conn, mark: int) -> None:
        self.values, self.mark = {}, mark
        self.counts = {name: Counter() for name in ("kind", "lane", "owner", "tag")}
        self._apply(conn.execute(select(*_FACET_COLS).order_by(Document.id)))
        self.ids = list(self.values)  # in the database's id order (dicts keep insertion order)

    def _apply(self, rows) -> int:
        """Count these documents' current values (replacing what was counted for them); how many were new."""
        c, added = self.counts, 0
        for doc_id, kind, lane, owner, tags in rows:
            new = (kind, lane if lane is not None else "(none)", owner if owner is not None else "(none)",
                   tuple(tags or ()))
            old = self.values.get(doc_id)
            if old == new:
                continue
            if old is None:
                added += 1
            else:
                c["kind"][old[0]] -= 1
                c["lane"][old[1]] -= 1
                c["owner"][old[2]] -= 1
                c["tag"].subtract(old[3])
            c["kind"][new[0]] += 1
            c["lane"][new[1]] += 1
            c["owner"][new[2]] += 1
            c["tag"].update(new[3])
            self.values[doc_id] = new
        return added

    def _facets(self) -> dict[str, list[tuple[str, int]]]:
        return {name: [(v, n) for v, n in c.most_common(25) if n > 0] for name, c in self.counts.items()}


_FACET_COLS = (Document.id, Document.kind, Document.lane, Document.owner_id, Document.tags)
