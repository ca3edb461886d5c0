"""Rendering console pages: the shared context (who, CSRF, flash), redirects after actions."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from freshgate.auth import policy
from freshgate.web import identity
from freshgate.web.templating import environment

_templates: Jinja2Templates | None = None
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")

# What a finished action says on the page it returns to (codes in the URL, never free text).
FLASH = {
    "verify": "Verified {on}: it is fresh again.",
    "retire": "Retired {on}.",
    "unretire": "{on} is in use again.",
    "transfer": "Transferred {on}.",
    "update": "Saved a new version of {on}.",
    "confirm": "Confirmed conflict {on}: lookups touching it keep stopping until it is resolved.",
    "dismiss": "Dismissed conflict {on}: lookups no longer stop on it.",
    "reopen": "Reopened conflict {on}: lookups touching it stop again.",
    "activate": "Owner {on} is active.",
    "deactivate": "Owner {on} is inactive: their items are orphaned until transferred.",
    "key_created": "Key created for {on}.",
    "key_revoked": "Key {on} revoked.",
    "assigned": "Handed the topic to {on}: it shows in their review queue.",
    "signed_in": "Signed in.",
    "signed_out": "Signed out.",
    "stale": "Someone changed {on} while you had it open; nothing was saved. Here is the current version: "
             "check it and repeat your action if it is still needed.",
}


def templates() -> Jinja2Templates:
    """The console's template renderer (built on first use)."""
    global _templates
    if _templates is None:
        _templates = Jinja2Templates(env=environment())
    return _templates


def receipt_scope(principal) -> str | None:
    """Receipts a principal may read, as the API decides: operators everyone's, others their own."""
    return None if principal is not None and principal.role == "operator" else getattr(principal, "id", "")


def render(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> HTMLResponse:
    """A console page with the signed-in principal, CSRF token and flash message in its context."""
    p = identity.principal_for(request)
    done, on = request.query_params.get("done"), request.query_params.get("on", "")
    on = on[:200] if _ID.fullmatch(on or "") else "it"  # an id, never free text from a link
    flash = FLASH[done].format(on=on) if done in FLASH else None
    base = {"me": p, "can": lambda perm: policy.allows(p.role if p else None, perm),
            "csrf": identity.csrf_token(request), "flash": flash, "flash_kind": "warn" if done == "stale" else "ok",
            "path": request.url.path, "can_sign_in": identity.auth_available()}
    resp = templates().TemplateResponse(request, f"console/{name}", {**base, **ctx}, status_code=status)
    identity.remember_csrf(request, resp)
    return resp


def safe_back(back: str | None, default: str) -> str:
    """A local path to return to (never another site)."""
    if not back:
        return default
    parts = urlsplit(back)
    if parts.scheme or parts.netloc or not back.startswith("/") or back.startswith("//"):
        return default
    return back


def done(back: str, code: str, on: str = "", anchor: str = "") -> RedirectResponse:
    """303 to the page the form came from, telling it what happened."""
    path, _, query = back.partition("?")
    params = [(k, v) for k, v in (p.split("=", 1) if "=" in p else (p, "") for p in query.split("&") if p)
              if k not in ("done", "on")]
    params += [("done", code), ("on", on)]
    return RedirectResponse(f"{path}?{urlencode(params)}{anchor}", status_code=303)


def query_with(request: Request, **changes: Any) -> str:
    """The current query string with some parameters replaced (None removes one)."""
    params = {k: v for k, v in request.query_params.items() if k not in ("done", "on")}
    for k, v in changes.items():
        if v is None or v == "":
            params.pop(k, None)
        else:
            params[k] = str(v)
    return "?" + urlencode(params) if params else "?"
