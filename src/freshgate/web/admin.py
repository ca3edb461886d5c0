"""Operators' pages: owners (activate / deactivate), the audit log, API keys; sign-in and sign-out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func
from sqlmodel import select
from sqlmodel import Session

from freshgate.deps import get_session, registry
from freshgate.errors import Forbidden
from freshgate.registry.models import AuditEvent, Document
from freshgate.web import identity
from freshgate.web.pages import done, query_with, render, safe_back

router = APIRouter(include_in_schema=False)
SessionDep = Annotated[Session, Depends(get_session)]
PAGE = 100


def require_operator(request: Request, what: str):
    """The principal, if it is an operator; else a clear refusal."""
    who = identity.principal_for(request)
    if who.role != "operator":
        raise Forbidden(f"{what} is for operators; you are signed in as {who.name} ({who.role}).")
    return who


@router.get("/owners", response_class=HTMLResponse)
def owners(request: Request, session: SessionDep):
    """Every owner with contact, documents and whether they are active."""
    svc = registry(request, session)
    counts = dict(session.exec(select(Document.owner_id, func.count()).group_by(Document.owner_id)).all())
    return render(request, "owners.html", {"owners": svc.owners(), "counts": counts})


@router.post("/owners/{owner_id}/{action}")
def set_active(owner_id: str, action: str, request: Request, session: SessionDep,
               csrf: Annotated[str, Form()] = "", back: Annotated[str, Form()] = ""):
    """Activate or deactivate an owner (operators)."""
    identity.check_csrf(request, csrf)
    if action not in ("activate", "deactivate"):
        from freshgate.errors import NotFound

        raise NotFound(f"no owner action {action!r}")
    who = require_operator(request, "Activating or deactivating owners")
    registry(request, session).set_owner_active(owner_id, action == "activate", actor=who.actor)
    session.commit()
    return done(safe_back(back, "/owners"), action, owner_id)


@router.get("/audit", response_class=HTMLResponse)
def audit_log(request: Request, session: SessionDep, actor: str = "", action: str = "", document: str = "",
              page: int = Query(1, ge=1, le=100_000)):
    """Every recorded change, newest first, filterable by who, what and which document."""
    q = select(AuditEvent)
    if actor:
        q = q.where(AuditEvent.actor == actor)
    if action:
        q = q.where(AuditEvent.action == action)
    if document:
        q = q.where(AuditEvent.document_id == document)
    rows = session.exec(q.order_by(AuditEvent.id.desc()).offset((page - 1) * PAGE).limit(PAGE + 1)).all()
    actions = list(session.exec(select(AuditEvent.action).distinct().order_by(AuditEvent.action)).all())
    return render(request, "audit.html", {"rows": rows[:PAGE], "more": len(rows) > PAGE, "page": page, "actor": actor,
                                          "action": action, "document": document, "actions": actions,
                                          "qs": lambda **kw: query_with(request, **kw)})


@router.get("/keys", response_class=HTMLResponse)
def keys(request: Request, session: SessionDep):
    """API keys: who holds which role, last used, revoked (operators)."""
    require_operator(request, "The API keys page")
    return render(request, "keys.html", {"keys": identity.list_keys(session), "available": identity.auth_available()})


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, next: str = "/"):
    """The sign-in form (an API key)."""
    return render(request, "sign_in.html", {"next": safe_back(next, "/"), "error": None})


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(request: Request, session: SessionDep, api_key: Annotated[str, Form(max_length=500)] = "",
            csrf: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/"):
    """Exchange an API key for a console session."""
    identity.check_csrf(request, csrf)
    resp = done(safe_back(next, "/"), "signed_in")
    if not identity.sign_in(request, session, api_key.strip(), resp):
        return render(request, "sign_in.html", {"next": safe_back(next, "/"),
                                                "error": "That key is not valid (unknown, revoked or expired)."},
                      status=401)
    return resp


@router.post("/sign-out")
def sign_out(request: Request, csrf: Annotated[str, Form()] = ""):
    """End the console session."""
    identity.check_csrf(request, csrf)
    resp = done("/sign-in", "signed_out")
    identity.sign_out(resp)
    return resp
