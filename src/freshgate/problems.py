"""RFC 9457 problem details: the one function that builds every error body."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse

from freshgate import errors

# One table: our exception -> HTTP status.
STATUS: dict[type[errors.FreshgateError], int] = {
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Invalid: 422,
    errors.Forbidden: 403,
    errors.PreconditionFailed: 412,
    errors.Unavailable: 503,
}
MEDIA_TYPE = "application/problem+json"


def problem_body(status: int, code: str, detail: str, *, title: str | None = None,
                 errors_: list[dict[str, Any]] | None = None, instance: str | None = None,
                 **extra: Any) -> dict[str, Any]:
    """The problem+json body: type, title, status, detail (+ errors for field problems)."""
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if errors_:
        body["errors"] = errors_
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def problem_response(status: int, code: str, detail: str, *, headers: dict[str, str] | None = None,
                     **kw: Any) -> JSONResponse:
    """A problem+json response."""
    return JSONResponse(problem_body(status, code, detail, **kw), status_code=status,
                        media_type=MEDIA_TYPE, headers=headers)


def from_exception(exc: errors.FreshgateError, instance: str | None = None) -> JSONResponse:
    """Map one of our exceptions to its problem response."""
    status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 500)
    headers = {"Retry-After": str(exc.extra.get("retry_after", 5))} if status == 503 else None
    extra = {k: v for k, v in exc.extra.items() if k != "retry_after"}
    return problem_response(status, exc.code, exc.detail, title=exc.title, errors_=exc.errors,
                            instance=instance, headers=headers, **extra)
