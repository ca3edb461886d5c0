"""RFC 9457 problem details: the one function that builds every error body."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

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


class FieldProblem(BaseModel):
    """One invalid field."""

    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem: type, title, status, detail, a stable code (+ errors for field problems)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    errors: list[FieldProblem] | None = None


# Statuses every route may answer, documented with problem+json bodies (OpenAPI `responses=`).
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad request (e.g. Host not allowed, malformed header)", "model": Problem},
    401: {"description": "No valid credential", "model": Problem},
    403: {"description": "The credential's role or ownership does not allow this", "model": Problem},
    404: {"description": "Not found", "model": Problem},
    413: {"description": "Request body over auth.max_body_bytes", "model": Problem},
    422: {"description": "Invalid input; `errors` names each field", "model": Problem},
    500: {"description": "Unexpected error; nothing was changed", "model": Problem},
    503: {"description": "A dependency (database, model, index) is not ready; retry later", "model": Problem},
}
WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"description": "Clashes with the current state", "model": Problem},
    412: {"description": "If-Match does not match the current revision", "model": Problem},
}


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


def problem_media_types(schema: dict[str, Any]) -> dict[str, Any]:
    """Error responses in an OpenAPI document are problem+json, not application/json."""
    for path_item in schema.get("paths", {}).values():
        for op in path_item.values():
            for status, resp in (op.get("responses") or {}).items() if isinstance(op, dict) else ():
                content = resp.get("content") or {}
                if str(status)[0] in "45" and "application/json" in content:
                    content[MEDIA_TYPE] = content.pop("application/json")
                    content[MEDIA_TYPE]["schema"] = {"$ref": "#/components/schemas/Problem"}
    comps = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    comps.update(problem.pop("$defs", {}))
    comps.setdefault("Problem", problem)
    for name in ("HTTPValidationError", "ValidationError"):
        comps.pop(name, None)
    return schema
