"""Console sessions: a signed, HttpOnly, SameSite=Lax cookie carrying the principal, plus CSRF tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from freshgate.auth.principal import ROLES, Principal
from freshgate.errors import Forbidden

COOKIE = "freshgate_session"
MAX_AGE = 12 * 3600
_state: dict[str, bytes] = {}


def configure(secret: str | None) -> None:
    """Use this signing secret (None: a random one per process; sessions end at restart)."""
    if secret:
        _state["secret"] = secret.encode("utf-8")
    else:
        _state.setdefault("secret", secrets.token_bytes(32))


def _secret() -> bytes:
    configure(None)
    return _state["secret"]


def _sign(payload: bytes) -> str:
    return base64.urlsafe_b64encode(hmac.new(_secret(), payload, hashlib.sha256).digest()).decode().rstrip("=")


def encode(principal: Principal, max_age: int = MAX_AGE) -> str:
    """The cookie value for a principal: base64(json).signature."""
    body = {"id": principal.id, "name": principal.name, "role": principal.role, "owners": sorted(principal.owners),
            "exp": int(time.time()) + max_age}
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=") + "." + _sign(raw)


def decode(value: str | None) -> Principal | None:
    """The principal of a cookie value, or None (missing, tampered with, expired)."""
    if not value or "." not in value or len(value) > 8192:
        return None
    data, sig = value.rsplit(".", 1)
    try:
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except ValueError:
        return None
    if not hmac.compare_digest(_sign(raw), sig):
        return None
    try:
        body: dict[str, Any] = json.loads(raw)
    except ValueError:
        return None
    if body.get("exp", 0) < time.time() or body.get("role") not in ROLES:
        return None
    return Principal(id=str(body["id"]), name=str(body["name"]), role=body["role"],
                     owners=frozenset(body.get("owners") or ()), via="session")


def sign_in(response, principal: Principal, max_age: int = MAX_AGE) -> None:
    """Set the signed session cookie on a response."""
    response.set_cookie(COOKIE, encode(principal, max_age), max_age=max_age, httponly=True, samesite="lax",
                        path="/")


def sign_out(response) -> None:
    """Clear the session cookie."""
    response.delete_cookie(COOKIE, path="/")


def read(cookies: dict[str, str]) -> Principal | None:
    """The principal of a request's session cookie, if valid."""
    return decode(cookies.get(COOKIE))


def csrf_token(request) -> str:
    """A CSRF token bound to this request's session (put it in console forms)."""
    return _sign(b"csrf:" + request.cookies.get(COOKIE, "").encode())


def check_csrf(request, token: str | None) -> None:
    """Raise Forbidden unless `token` is this session's CSRF token."""
    if not token or not request.cookies.get(COOKIE) or not hmac.compare_digest(token, csrf_token(request)):
        raise Forbidden("the form's CSRF token is missing or stale; reload the page")
