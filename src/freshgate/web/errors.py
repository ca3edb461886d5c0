"""HTML error pages for browsers; API clients keep problem+json (the Accept header decides).

One ASGI wrapper, outermost, so it sees every problem response: the app's own (not found,
invalid input, precondition failed...) and those of the auth middleware (401, 403, 413, bad Host).
A browser that is not signed in is sent to the sign-in page instead of a 401.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse

from freshgate.problems import MEDIA_TYPE


def wants_html(headers: dict[str, str]) -> bool:
    """A browser navigation: it asks for HTML and not for JSON."""
    accept = headers.get("accept", "").lower()
    return "text/html" in accept and "json" not in accept


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def html_for(scope, status: int, problem: dict):
    """The console's page for a problem (401: off to sign in)."""
    from freshgate.web.pages import render

    request = Request(scope)
    if status == 401 and problem.get("code") == "unauthenticated":
        return RedirectResponse(f"/sign-in?next={quote(request.url.path)}", status_code=303)
    title = problem.get("title") or HTTPStatus(status).phrase
    detail = problem.get("detail") or title
    if status == 404 and detail == "Not Found":
        detail = "There is no page at this address."
    return render(request, "error.html", {"status": status, "title": title, "detail": detail,
                                          "errors": problem.get("errors") or []}, status=status)


class BrowserErrors:
    """Turn problem+json answers to browser navigations into console pages (pure ASGI)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not wants_html(_headers(scope)):
            return await self.app(scope, receive, send)
        start: dict | None = None
        body: list[bytes] = []

        async def capture(msg) -> None:
            nonlocal start
            if msg["type"] == "http.response.start":
                ctype = dict(msg.get("headers") or []).get(b"content-type", b"").decode("latin-1")
                if ctype.startswith(MEDIA_TYPE):
                    start = msg
                    return
            elif start is not None and msg["type"] == "http.response.body":
                body.append(msg.get("body", b""))
                if not msg.get("more_body"):
                    try:
                        problem = json.loads(b"".join(body) or b"{}")
                    except ValueError:
                        problem = {}
                    await html_for(scope, start["status"], problem)(scope, receive, send)
                return
            await send(msg)

        await self.app(scope, receive, capture)


def install(app) -> None:
    """Wrap the app (call after every other middleware so this one is outermost)."""
    app.add_middleware(BrowserErrors)
