"""HTML error pages for browsers; API clients keep problem+json (the Accept header decides)."""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from freshgate.errors import FreshgateError
from freshgate.problems import STATUS


def wants_html(request: Request) -> bool:
    """A browser navigation: it asks for HTML and not for JSON."""
    accept = request.headers.get("accept", "").lower()
    return "text/html" in accept and "json" not in accept


def _status(exc: Exception) -> int:
    if isinstance(exc, FreshgateError):
        return next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 500)
    if isinstance(exc, RequestValidationError):
        return 422
    return getattr(exc, "status_code", 500)


def _message(exc: Exception, status: int) -> tuple[str, str, list]:
    if isinstance(exc, FreshgateError):
        return exc.title, exc.detail, exc.errors
    if isinstance(exc, RequestValidationError):
        errs = [{"field": ".".join(str(p) for p in e["loc"] if p not in ("body", "query", "path")), "message": e["msg"]}
                for e in exc.errors()]
        return "Invalid input", "Some of what was sent is not valid; see below.", errs
    if status == 404:
        return "Not found", "There is no page at this address.", []
    detail = getattr(exc, "detail", "") or HTTPStatus(status).phrase
    return HTTPStatus(status).phrase, str(detail), []


def html_error(request: Request, exc: Exception):
    """The error as a console page (401 sends a browser to sign in)."""
    from freshgate.web.pages import render

    status = _status(exc)
    if status == 401:
        return RedirectResponse(f"/sign-in?next={quote(request.url.path)}", status_code=303)
    title, detail, errs = _message(exc, status)
    return render(request, "error.html", {"status": status, "title": title, "detail": detail, "errors": errs},
                  status=status)


def install(app: FastAPI) -> None:
    """Put the HTML page in front of each existing problem+json handler."""
    for cls in (FreshgateError, StarletteHTTPException, RequestValidationError):
        original = app.exception_handlers.get(cls)

        def make(original=original):
            async def handler(request: Request, exc: Exception):
                if wants_html(request) or original is None:
                    return html_error(request, exc)
                return await original(request, exc)
            return handler

        app.add_exception_handler(cls, make())
