"""FastAPI dependencies shared by the routers: a session per request, the registry service."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlmodel import Session

from freshgate.registry.service import RegistryService


def get_session(request: Request) -> Iterator[Session]:
    """A database session for one request; routes commit what they change."""
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


def registry(request: Request, session: Session) -> RegistryService:
    """The registry service bound to this request's session."""
    return RegistryService(session, request.app.state.registry_ctx)


def parse_if_match(value: str | None) -> int | None:
    """`If-Match: "7"` (or W/"7", or 7) -> 7; None when absent or `*`."""
    if value is None or value.strip() == "*":
        return None
    v = value.strip().removeprefix("W/").strip('"')
    try:
        return int(v)
    except ValueError:
        from freshgate.errors import Invalid

        raise Invalid(f"If-Match {value!r} is not a revision this API issued") from None


def etag(revision: int) -> str:
    """The ETag header value for a document revision."""
    return f'"{revision}"'
