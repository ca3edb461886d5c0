"""Who is using the console: the one seam between pages and the auth package.

Pages ask `principal_for(request)`; forms carry `csrf_token(request)` and actions call
`check_csrf`. Until the auth package is present the console runs as auth mode `off` would:
a local operator (no sign-in), with a double-submit CSRF cookie.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field

from fastapi import Request, Response

from freshgate.errors import Forbidden

CSRF_COOKIE = "freshgate_csrf"


@dataclass(frozen=True)
class LocalPrincipal:
    """The principal of a console without the auth package: a local operator."""

    id: str = "anonymous-off"
    name: str = "local-operator"
    role: str = "operator"
    owners: frozenset[str] = field(default_factory=frozenset)
    via: str = "auth_off"

    def can_act_on(self, owner_id: str | None) -> bool:
        """Operators act on everything."""
        return self.role == "operator" or (self.role == "owner" and owner_id in self.owners)

    @property
    def actor(self) -> str:
        """What goes into the audit log."""
        return self.name


def principal_for(request: Request):
    """The signed-in principal of this request (None when nobody is signed in)."""
    p = getattr(request.state, "principal", None)
    return p if p is not None else LocalPrincipal()


def auth_available() -> bool:
    """Whether API-key sign-in is possible in this build."""
    return False


def csrf_token(request: Request) -> str:
    """The token forms must send back (made once per browser, kept in a cookie)."""
    tok = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not tok:
        tok = request.state.new_csrf = secrets.token_urlsafe(24)
    return tok


def remember_csrf(request: Request, response: Response) -> None:
    """Set the CSRF cookie when this request made a new token."""
    tok = getattr(request.state, "new_csrf", None)
    if tok:
        response.set_cookie(CSRF_COOKIE, tok, httponly=True, samesite="strict", path="/")


def check_csrf(request: Request, token: str | None) -> None:
    """Refuse a form whose token does not match this browser's cookie."""
    expected = request.cookies.get(CSRF_COOKIE)
    if not expected or not token or not hmac.compare_digest(expected, token):
        raise Forbidden("this form is out of date or did not come from the console; reload the page and try again",
                        reason="csrf")


def require_can_act(principal, owner_id: str | None, what: str) -> None:
    """Refuse, in words a person understands, an action on something this principal does not own."""
    if not principal.can_act_on(owner_id):
        whose = f"belongs to {owner_id}" if owner_id else "has no owner"
        raise Forbidden(f"{what} {whose}; you ({principal.name}, {principal.role}) may only act on your own "
                        "items. Ask its owner or an operator.", reason="not_yours")


def sign_in(request: Request, session, raw_key: str, response: Response) -> bool:
    """Start a console session for the principal of an API key; False when the key is not valid."""
    return False


def sign_out(response: Response) -> None:
    """End the console session."""


def list_keys(session) -> list:
    """API keys, for the operators' page (empty without the auth package)."""
    return []
