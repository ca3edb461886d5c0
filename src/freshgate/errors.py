"""Freshgate's own exceptions; each has a stable code and maps to one HTTP status (see app.py)."""

from __future__ import annotations

from typing import Any


class FreshgateError(Exception):
    """Base of every error Freshgate raises on purpose."""

    code = "error"
    title = "Error"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra


class NotFound(FreshgateError):
    """The named thing does not exist."""

    code = "not_found"
    title = "Not found"


class Conflict(FreshgateError):
    """The request clashes with the current state (duplicate id, retire cycle...)."""

    code = "conflict"
    title = "Conflict"


class Invalid(FreshgateError):
    """The input is malformed or violates a rule."""

    code = "invalid"
    title = "Invalid input"


class Forbidden(FreshgateError):
    """The action is not allowed."""

    code = "forbidden"
    title = "Forbidden"


class PreconditionFailed(FreshgateError):
    """An If-Match revision no longer matches: someone else changed the item first."""

    code = "precondition_failed"
    title = "Precondition failed"


class Unavailable(FreshgateError):
    """A dependency (model, index, database) is not ready; retry later."""

    code = "unavailable"
    title = "Service unavailable"
