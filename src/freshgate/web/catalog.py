"""The document list of the console: search, facets and pages over the whole registry, fast at 100k.

States come from the bulk evaluation the review list uses (only documents that may not be fresh are
evaluated; the rest are fresh by construction), memoised with the review list per data version, so a page
costs one SQL page (a state filter: a walk over the memoised ids).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import String, cast, func, or_, select
from sqlmodel import Session

from freshgate.registry.models import Document


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
