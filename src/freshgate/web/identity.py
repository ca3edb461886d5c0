"""Who is using the console: the one seam between console pages and the auth package.

Pages ask `principal_for(request)`; forms carry `csrf_token(request)` and actions call
`check_csrf`. A console session (signed cookie) binds the CSRF token to the session (auth's
helper); without a session (auth mode off, or a trusted single sign-on proxy) a double-submit
cookie does the same job.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request, Response

from freshgate.auth import sessions
from freshgate.auth.deps import current_principal, guard
from freshgate.auth.principal import Principal
from freshgate.auth.service import KeyService
from freshgate.errors import Forbidden

CSRF_COOKIE = "freshgate_csrf"


def principal_for(request: Request) -> Principal | None:
    """The principal of this request: what auth checked, else the console session (public pages)."""
    return current_principal(request) or sessions.read(request.cookies)


def auth_available() -> bool:
    """Whether API-key sign-in is possible in this build."""
    return True


def csrf_token(request: Request) -> str:
    """The token forms must send back."""
    if request.cookies.get(sessions.COOKIE):
        return sessions.csrf_token(request)
    tok = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not tok:
        tok = request.state.new_csrf = secrets.token_urlsafe(24)
    return tok


def remember_csrf(request: Request, response: Response) -> None:
    """Set the double-submit cookie when this request made a new token."""
    tok = getattr(request.state, "new_csrf", None)
    if tok:
        response.set_cookie(CSRF_COOKIE, tok, httponly=True, samesite="strict", path="/")


def check_csrf(request: Request, token: str | None) -> None:
    """Refuse a form whose token is not this session's (or this browser's) token."""
    if request.cookies.get(sessions.COOKIE):
        return sessions.check_csrf(request, token)
    expected = request.cookies.get(CSRF_COOKIE)
    if not expected or not token or not hmac.compare_digest(expected, token):
        raise Forbidden("this form is out of date or did not come from the console; reload the page and try again",
                        reason="csrf")


def require_can_act(principal: Principal, owner_id: str | None, what: str) -> None:
    """Refuse, in words a person understands, an action on something this principal does not own."""
    guard(principal, owner_id, what)


def sign_in(request: Request, session, raw_key: str, response: Response) -> bool:
    """Start a console session for the principal of an API key; False when the key is not valid."""
    principal = KeyService(session).authenticate(raw_key) if raw_key else None
    session.commit()  # last used
    if principal is None:
        return False
    sessions.sign_in(response, principal)
    response.delete_cookie(CSRF_COOKIE, path="/")
    return True


def sign_out(response: Response) -> None:
    """End the console session."""
    sessions.sign_out(response)


def list_keys(session) -> list:
    """Every API key, newest first (never the key itself)."""
    return KeyService(session).list()
