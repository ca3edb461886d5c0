"""Owner actions from console forms: the registry service's own writes, checked like the API's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from sqlmodel import Session

from freshgate.deps import get_session, registry
from freshgate.errors import Invalid, PreconditionFailed
from freshgate.registry.service import RegistryService
from freshgate.web import identity
from freshgate.web.pages import done, safe_back

router = APIRouter(include_in_schema=False)
SessionDep = Annotated[Session, Depends(get_session)]
Csrf = Annotated[str, Form()]
Back = Annotated[str, Form()]
Revision = Annotated[str, Form(description="The revision the form was made from (If-Match).")]


def _revision(value: str) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise Invalid(f"revision {value!r} is not a number") from None


def _checked(request: Request, session: Session, doc_id: str, csrf: str, what: str) -> tuple[RegistryService, object]:
    """CSRF, then the document, then whether this principal may act on it."""
    identity.check_csrf(request, csrf)
    svc = registry(request, session)
    doc = svc.get(doc_id)
    who = identity.principal_for(request)
    identity.require_can_act(who, doc.owner_id, f"{doc_id}")
    return svc, who


def _run(request: Request, session: Session, doc_id: str, back: str, code: str, write) -> object:
    """Do the write and commit; a stale revision returns to the document with 'someone changed this'."""
    try:
        write()
        session.commit()
    except PreconditionFailed:
        session.rollback()
        return done(f"/documents/{doc_id}", "stale", doc_id)
    return done(safe_back(back, f"/documents/{doc_id}"), code, doc_id)


@router.post("/documents/{doc_id}/verify")
def verify(doc_id: str, request: Request, session: SessionDep, csrf: Csrf = "", back: Back = "",
           revision: Revision = "", note: Annotated[str, Form(max_length=2000)] = ""):
    """Verify (renew) a document as the signed-in principal."""
    svc, who = _checked(request, session, doc_id, csrf, "verify")
    return _run(request, session, doc_id, back, "verify",
                lambda: svc.verify(doc_id, actor=who.actor, if_match=_revision(revision), note=note))


@router.post("/documents/{doc_id}/retire")
def retire(doc_id: str, request: Request, session: SessionDep, csrf: Csrf = "", back: Back = "",
           revision: Revision = "", successor: Annotated[str, Form(max_length=200)] = "",
           reason: Annotated[str, Form(max_length=2000)] = ""):
    """Retire a document, optionally naming its successor."""
    svc, who = _checked(request, session, doc_id, csrf, "retire")
    return _run(request, session, doc_id, back, "retire",
                lambda: svc.retire(doc_id, actor=who.actor, successor=successor.strip() or None,
                                   if_match=_revision(revision), reason=reason))


@router.post("/documents/{doc_id}/unretire")
def unretire(doc_id: str, request: Request, session: SessionDep, csrf: Csrf = "", back: Back = "",
             revision: Revision = ""):
    """Bring a retired document back into use."""
    svc, who = _checked(request, session, doc_id, csrf, "unretire")
    return _run(request, session, doc_id, back, "unretire",
                lambda: svc.unretire(doc_id, actor=who.actor, if_match=_revision(revision)))


@router.post("/documents/{doc_id}/transfer")
def transfer(doc_id: str, request: Request, session: SessionDep, owner: Annotated[str, Form(min_length=1, max_length=200)],
             csrf: Csrf = "", back: Back = "", revision: Revision = ""):
    """Hand a document to another active owner."""
    svc, who = _checked(request, session, doc_id, csrf, "transfer")
    return _run(request, session, doc_id, back, "transfer",
                lambda: svc.transfer(doc_id, owner.strip(), actor=who.actor, if_match=_revision(revision)))


@router.post("/documents/{doc_id}/content")
def update_content(doc_id: str, request: Request, session: SessionDep,
                   content: Annotated[str, Form(min_length=1, max_length=1_000_000)], csrf: Csrf = "",
                   back: Back = "", revision: Revision = "", verify: Annotated[bool, Form()] = False):
    """Save edited content as a new version (verified too when asked)."""
    svc, who = _checked(request, session, doc_id, csrf, "edit")
    return _run(request, session, doc_id, back, "update",
                lambda: svc.update_content(doc_id, content.replace("\r\n", "\n"), actor=who.actor,
                                           if_match=_revision(revision), verify=verify))
