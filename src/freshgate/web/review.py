"""The review queue: the ranked review list, grouped by owner, with the actions inline."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape
from sqlalchemy import or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from freshgate.conflicts.models import ACTIVE_STATUSES, ConflictRecord

from freshgate.deps import get_session
from freshgate.registry.models import Owner
from freshgate.reports import handoff
from freshgate.reports.service import REVIEW_STATES, OwnerGroup
from freshgate.web import identity
from freshgate.web.memo import cached, review_report
from freshgate.web.pages import query_with, render

router = APIRouter(include_in_schema=False)
SessionDep = Annotated[Session, Depends(get_session)]
PAGE = 50
CONFLICTS_PER_ROW = 3


def _groups(items, owners_info) -> list[OwnerGroup]:
    """Rows per owner, in the order the rows come (the caller decides the order)."""
    out: dict[str | None, OwnerGroup] = {}
    for i in items:
        g = out.get(i.owner)
        if g is None:
            info = owners_info.get(i.owner) or OwnerGroup(i.owner, i.owner or "(no owner)", "", False)
            g = out[i.owner] = OwnerGroup(info.owner, info.name, info.contact, info.active)
        g.items.append(i)
    return list(out.values())


def _conflicts_of(rt, session: Session, doc_ids: list[str]) -> dict[str, list[dict]]:
    """Open or confirmed conflicts of these documents (one query), by document: the first `CONFLICTS_PER_ROW` of
    each inline (a document in dozens of conflicts links to its conflict list for the rest). Only what a row
    shows (id, status, both documents): the full description (texts, titles, owners, dates) is the conflict
    page's, and building it for a page of rows took ~20 ms after every change."""
    if rt.extras.get("conflicts") is None or not doc_ids:
        return {}
    t = ConflictRecord.__table__
    records = session.connection().execute(
        sa_select(t.c.id, t.c.status, t.c.doc_a, t.c.doc_b)
        .where(t.c.status.in_(ACTIVE_STATUSES), or_(t.c.doc_a.in_(doc_ids), t.c.doc_b.in_(doc_ids)))
        .order_by(t.c.id)).all()
    wanted: set[str] = set(doc_ids)
    out: dict[str, list[dict]] = {}
    for cid, status, a, b in records:
        for d in dict.fromkeys((a, b)):
            if d in wanted and len(out.get(d, ())) < CONFLICTS_PER_ROW:
                out.setdefault(d, []).append({"id": cid, "status": status, "a": {"document_id": a},
                                              "b": {"document_id": b}})
    return out


def _active_owners(session: Session) -> list:
    """(id, name) of the active owners, for the filter and the transfer forms' list."""
    return list(session.connection().execute(select(Owner.id, Owner.name).where(Owner.active.is_(True))
                                             .order_by(Owner.id)).all())


def _owner_options(owners: list, selected: str = "") -> Markup:
    """The owner filter's options (hundreds of owners: written once per data version, not per page load)."""
    return Markup("".join(f'<option value="{escape(o.id)}"{" selected" if o.id == selected else ""}>'
                          f'{escape(o.name)} ({escape(o.id)})</option>' for o in owners))


def _owner_lists(session: Session) -> tuple[list, Markup, Markup]:
    """(active owners, the filter's options with none selected, the transfer forms' datalist options)."""
    owners = _active_owners(session)
    datalist = Markup("".join(f'<option value="{escape(o.id)}">{escape(o.name)}</option>' for o in owners))
    return owners, _owner_options(owners), datalist


@router.get("/review", response_class=HTMLResponse)
def review_queue(request: Request, session: SessionDep, owner: str | None = None, state: str | None = None,
                 page: int = Query(1, ge=1)):
    """Everything that needs a human, riskiest first; an owner's own items come first."""
    rt = request.app.state.runtime
    state = state if state in REVIEW_STATES else None
    report = review_report(request, session)
    who = identity.principal_for(request)
    mine_ids = set(who.owners) if who.role == "owner" else set()
    items = report.items  # the memoised list itself: filters and "my items first" build new lists
    if owner or state:
        items = [i for i in items if (not owner or i.owner == owner)
                 and (not state or i.state == state or any(x["state"] == state for x in i.reasons))]
    if mine_ids:
        items = [i for i in items if i.owner in mine_ids] + [i for i in items if i.owner not in mine_ids]
    pages = max(1, math.ceil(len(items) / PAGE))
    page = min(page, pages)
    shown = items[(page - 1) * PAGE: page * PAGE]
    groups = _groups(shown, {g.owner: g for g in report.groups})
    with_conflicts = tuple(i.document_id for i in shown if i.document_id and i.open_conflicts)
    conflicts = cached(request, session, "review_conflicts",  # read once per data version
                       lambda s: _conflicts_of(rt, s, list(with_conflicts)), with_conflicts)
    owners, options, datalist = cached(request, session, "active_owners", _owner_lists)
    if owner:
        options = _owner_options(owners, owner)
    return render(request, "review.html", {
        "groups": groups, "total": len(items), "page": page, "pages": pages, "mine": mine_ids,
        "owner": owner or "", "state": state or "", "states": sorted(REVIEW_STATES), "owner_options": options, "owner_datalist": datalist,
        "conflicts": conflicts, "per_row": CONFLICTS_PER_ROW, "qs": lambda **kw: query_with(request, **kw),
        "back": str(request.url.path) + (("?" + request.url.query) if request.url.query else ""),
        "counts": report.state_counts, "handed": handoff.handed_to(session, sorted(mine_ids)),
    })
