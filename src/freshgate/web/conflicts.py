"""Conflict pages: list with filters, detail side by side, confirm / dismiss / reopen."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape
from sqlmodel import Session

from freshgate.conflicts.models import STATUSES
from freshgate.deps import get_session
from freshgate.errors import Forbidden, Unavailable
from freshgate.lookup.receipts import receipts_for
from freshgate.web import identity
from freshgate.web.pages import done, receipt_scope, render, safe_back

router = APIRouter(include_in_schema=False)
SessionDep = Annotated[Session, Depends(get_session)]


def conflict_service(request: Request, session: Session):
    """The conflict service of this process (503 page when conflicts are not wired)."""
    hub = request.app.state.runtime.extras.get("conflicts")
    if hub is None:
        raise Unavailable("conflict detection is not available in this process", retry_after=30)
    return hub.service(session)


def highlight(text: str, values: list[str]) -> Markup:
    """The text escaped, with each differing value marked."""
    out = str(escape(text))
    vals = sorted({str(escape(v)) for v in values if v and str(v).strip()}, key=len, reverse=True)
    if vals:
        out = re.sub("|".join(re.escape(v) for v in vals), lambda m: f"<mark>{m.group(0)}</mark>", out)
    return Markup(out)


def stopped_lookups(session: Session, d: dict[str, Any], limit: int = 50, principal: str | None = None) -> list:
    """Receipts that stopped on this conflict: stop_and_ask, a conflict reason, citing either side since detection."""
    seen: dict[str, Any] = {}
    for doc in dict.fromkeys((d["a"]["document_id"], d["b"]["document_id"])):
        for r in receipts_for(session, doc, limit, since=d["detected_at"], principal=principal):
            if r.decision == "stop_and_ask" and any(x.get("code") == "conflict" for x in r.reasons or []):
                seen.setdefault(r.id, r)
    return sorted(seen.values(), key=lambda r: r.at, reverse=True)[:limit]


@router.get("/conflicts", response_class=HTMLResponse)
def list_conflicts(request: Request, session: SessionDep,
                   status: str | None = Query(None), document: str | None = None, owner: str | None = None):
    """Conflicts, newest first, filtered by status, document or owner."""
    svc = conflict_service(request, session)
    status = status if status in STATUSES else None
    rows = svc.describe(svc.list(status=status, document=document or None, owner=owner or None, limit=500))
    return render(request, "conflicts.html", {"rows": rows, "status": status, "document": document or "",
                                              "owner": owner or "", "statuses": STATUSES})


@router.get("/conflicts/{conflict_id}", response_class=HTMLResponse)
def conflict_page(conflict_id: int, request: Request, session: SessionDep):
    """Both passages side by side, the differing values marked, both owners, the lookups that stopped on it."""
    svc = conflict_service(request, session)
    d = svc.describe([svc.get(conflict_id)])[0]
    ev = d["evidence"]
    who = identity.principal_for(request)
    return render(request, "conflict.html", {
        "c": d, "text_a": highlight(d["a"]["text"], [e.get("a", "") for e in ev]),
        "text_b": highlight(d["b"]["text"], [e.get("b", "") for e in ev]),
        "stopped": stopped_lookups(session, d, principal=receipt_scope(who)),
        "can_act": who.can_act_on(d["a"]["owner"]) or who.can_act_on(d["b"]["owner"]),
        "audit": [e for e in svc.registry.audit(d["a"]["document_id"], 200)
                  if (e.after or {}).get("conflict") == conflict_id][:20],
    })


def _verdict(request: Request, session: Session, conflict_id: int, csrf: str, back: str, code: str, call):
    """CSRF, then the API's rule: only an owner of either side (or an operator) gives a verdict."""
    identity.check_csrf(request, csrf)
    svc = conflict_service(request, session)
    who = identity.principal_for(request)
    owners = svc.owners_of(svc.get(conflict_id))
    if not any(who.can_act_on(o) for o in owners):
        raise Forbidden(f"{who.name} ({who.role}) owns neither side of conflict {conflict_id} (owners: "
                        f"{', '.join(o or 'none' for o in owners)}); only their owners or an operator may give a verdict")
    call(svc, who)
    session.commit()
    return done(safe_back(back, f"/conflicts/{conflict_id}"), code, str(conflict_id))


Reason = Annotated[str, Form(max_length=2000)]


@router.post("/conflicts/{conflict_id}/confirm")
def confirm(conflict_id: int, request: Request, session: SessionDep, csrf: Annotated[str, Form()] = "",
            back: Annotated[str, Form()] = "", reason: Reason = ""):
    """Confirm the passages really disagree."""
    return _verdict(request, session, conflict_id, csrf, back, "confirm",
                    lambda svc, who: svc.confirm(conflict_id, actor=who.actor, reason=reason))


@router.post("/conflicts/{conflict_id}/dismiss")
def dismiss(conflict_id: int, request: Request, session: SessionDep, csrf: Annotated[str, Form()] = "",
            back: Annotated[str, Form()] = "", reason: Reason = ""):
    """Dismiss a false conflict (the service requires a reason)."""
    return _verdict(request, session, conflict_id, csrf, back, "dismiss",
                    lambda svc, who: svc.dismiss(conflict_id, actor=who.actor, reason=reason))


@router.post("/conflicts/{conflict_id}/reopen")
def reopen(conflict_id: int, request: Request, session: SessionDep, csrf: Annotated[str, Form()] = "",
           back: Annotated[str, Form()] = "", reason: Reason = ""):
    """Reopen a dismissed conflict: lookups touching it stop again."""
    return _verdict(request, session, conflict_id, csrf, back, "reopen",
                    lambda svc, who: svc.reopen(conflict_id, actor=who.actor, reason=reason))
