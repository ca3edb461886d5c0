"""Document pages: the searchable list with facets, and one document with everything about it."""

from __future__ import annotations

import difflib
import math
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session

from freshgate.deps import get_session, registry
from freshgate.registry import queries
from freshgate.web import identity, stats
from freshgate.web.catalog import Filters, documents_page, facets, matching_ids
from freshgate.web.memo import catalog_cached, live_catalog, shared_evaluation
from freshgate.web.pages import query_with, receipt_scope, render, safe_back

router = APIRouter(include_in_schema=False)
SessionDep = Annotated[Session, Depends(get_session)]
PAGE = 50


@router.get("/documents", response_class=HTMLResponse)
def document_list(request: Request, session: SessionDep, q: str = "", state: str = "", kind: str = "", lane: str = "",
                  owner: str = "", tag: str = "", page: int = Query(1, ge=1, le=1_000_000)):
    """Every document with its state: search by id or title, facets, pages of 50."""
    f = Filters(q=q.strip()[:200], state=state, kind=kind, lane=lane, owner=owner, tag=tag)
    ev = shared_evaluation(request, session)
    keys = (f.q, f.kind, f.lane, f.owner, f.tag)
    if any(keys):  # a narrowed list: memoised until a change may move its facets or ids
        fac = catalog_cached(request, session, "facets", lambda s: facets(s, f), *keys)
        ids = lambda: catalog_cached(request, session, "ids", lambda s: matching_ids(s, f), *keys)  # noqa: E731
    else:  # the whole registry: facets and ids kept by the change log
        fac, all_ids = live_catalog(request.app).get(session)
        ids = lambda: all_ids  # noqa: E731
    res = documents_page(session, ev, f, (page - 1) * PAGE, PAGE, fac, ids)
    pages = max(1, math.ceil(res.total / PAGE))
    return render(request, "documents.html", {"res": res, "f": f, "page": page, "pages": pages,
                                              "qs": lambda **kw: query_with(request, **kw)})


def _diff(versions, a: int | None, b: int | None) -> tuple[int, int, list[tuple[str, str]]] | None:
    """Unified diff lines between two versions (default: the previous and the current one)."""
    by = {v.version: v for v in versions}
    if len(by) < 2:
        return None
    newest = max(by)
    b = b if b in by else newest
    a = a if a in by else max((v for v in by if v < b), default=min(by))
    lines = difflib.unified_diff(by[a].content.splitlines(), by[b].content.splitlines(), f"version {a}",
                                 f"version {b}", lineterm="", n=2)
    return a, b, [("add" if x.startswith("+") else "del" if x.startswith("-") else "", x) for x in lines]


@router.get("/documents/{doc_id}", response_class=HTMLResponse)
def document_page(doc_id: str, request: Request, session: SessionDep, a: int | None = None, b: int | None = None):
    """State banner with open conflicts, reasons, sections, versions and diff, dependencies, receipts, audit."""
    svc = registry(request, session)
    d = queries.document_detail(svc, doc_id)
    hub = request.app.state.runtime.extras.get("conflicts")
    conflicts = []
    if hub is not None:
        csvc = hub.service(session)
        conflicts = [c for c in csvc.describe(csvc.list(document=doc_id, limit=50))]
    active = [c for c in conflicts if c["status"] in ("open", "confirmed")]
    who = identity.principal_for(request)
    owners = [o for o in svc.owners() if o.active and o.id != d.owner]
    return render(request, "document.html", {
        "d": d, "conflicts": conflicts, "active_conflicts": active, "audit": svc.audit(doc_id, 50),
        "relied": stats.relied_on(session, doc_id, 25, principal=receipt_scope(who)),
        "diff": _diff(svc.versions(doc_id), a, b),
        "can_act": who.can_act_on(d.owner), "owners": owners,
    })


@router.get("/documents/{doc_id}/edit", response_class=HTMLResponse)
def inline_editor(doc_id: str, request: Request, session: SessionDep, back: str = ""):
    """The content editor as a fragment for the review queue's row (htmx); a browser without JavaScript
    follows the Edit link to the document page's form instead, and so does anyone opening this URL."""
    if request.headers.get("hx-request") != "true":
        return RedirectResponse(f"/documents/{doc_id}#edit", status_code=303)
    d = queries.document_detail(registry(request, session), doc_id)
    identity.require_can_act(identity.principal_for(request), d.owner, doc_id)
    return render(request, "edit_inline.html", {"d": d, "back": safe_back(back, "/review")})
