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


def _set_active(request: Request, session: Session, owner_id: str, active: bool, csrf: str, back: str):
    identity.check_csrf(request, csrf)
    who = require_operator(request, "Activating or deactivating owners")
    registry(request, session).set_owner_active(owner_id, active, actor=who.actor)
    session.commit()
    return done(safe_back(back, "/owners"), "activate" if active else "deactivate", owner_id)


@router.post("/owners/{owner_id}/activate")
def activate(owner_id: str, request: Request, session: SessionDep, csrf: Annotated[str, Form()] = "",
             back: Annotated[str, Form()] = ""):
    """Mark an owner active again (operators)."""
    return _set_active(request, session, owner_id, True, csrf, back)


@router.post("/owners/{owner_id}/deactivate")
def deactivate(owner_id: str, request: Request, session: SessionDep, csrf: Annotated[str, Form()] = "",
               back: Annotated[str, Form()] = ""):
    """Mark an owner inactive: their documents become orphaned until transferred (operators)."""
    return _set_active(request, session, owner_id, False, csrf, back)


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


def _keys_page(request: Request, session: Session, created: dict | None = None, status: int = 200):
    require_operator(request, "The API keys page")
    owners = [o.id for o in registry(request, session).owners()]
    return render(request, "keys.html", {"keys": identity.list_keys(session), "available": identity.auth_available(),
                                         "created": created, "owners": owners}, status=status)


@router.get("/keys", response_class=HTMLResponse)
def keys(request: Request, session: SessionDep):
    """API keys: who holds which role, last used, revoked (operators)."""
    return _keys_page(request, session)


@router.post("/keys", response_class=HTMLResponse)
def create_key(request: Request, session: SessionDep, label: Annotated[str, Form(max_length=200)] = "",
               role: Annotated[str, Form(max_length=10)] = "agent", owner: Annotated[str, Form(max_length=200)] = "",
               csrf: Annotated[str, Form()] = ""):
    """Create a key (operators); the page shows it once."""
    from freshgate.auth.service import KeyService

    identity.check_csrf(request, csrf)
    who = require_operator(request, "Creating API keys")
    svc = registry(request, session)
    if owner:
        svc.owner(owner)  # an owner key acts for an owner that exists
    row, raw = KeyService(session).create(label, role, owner or None, created_by=who.actor)
    svc.record_event(who.actor, "key_created", after={"key": row.id, "role": row.role, "owner": row.owner_id},
                     detail=row.label)
    session.commit()
    return _keys_page(request, session, created={"label": row.label, "raw": raw}, status=201)


@router.post("/keys/{key_id}/revoke")
def revoke_key(key_id: str, request: Request, session: SessionDep, csrf: Annotated[str, Form()] = ""):
    """Revoke a key (operators); it stops working at once."""
    from freshgate.auth.service import KeyService

    identity.check_csrf(request, csrf)
    who = require_operator(request, "Revoking API keys")
    row = KeyService(session).revoke(key_id)
    registry(request, session).record_event(who.actor, "key_revoked", after={"key": row.id}, detail=row.label)
    session.commit()
    request.app.state.auth_cache.clear()
    return done("/keys", "key_revoked", key_id)


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
