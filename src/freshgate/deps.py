"""FastAPI dependencies shared by the routers: a session per request, the registry service."""

from __future__ import annotations

import re
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


_ETAG = re.compile(r'[ \t]*(W/)?"([\x21\x23-\x7e]*)"[ \t]*')
IF_MATCH_PATTERN = r'^[ \t]*(\*|(W/)?"[\x21\x23-\x7e]*"([ \t]*,[ \t]*(W/)?"[\x21\x23-\x7e]*")*)[ \t]*$'
"""What `parse_if_match` accepts, for the OpenAPI document (the route answers 400, not 422, for the rest)."""


def parse_if_match(value: str | None) -> list[str] | None:
    """RFC 9110 If-Match: None when absent, ["*"] for `*`, else the strong entity tags listed.

    Weak tags (W/"7") are kept as never-matching entries (If-Match compares strongly); a value
    that is not `*` or a comma-separated list of quoted tags is 400.
    """
    if value is None:
        return None
    if value.strip(" \t") == "*":
        return ["*"]
    tags, rest = [], value
    while True:
        m = _ETAG.match(rest)
        if not m:
            raise BadHeader(f"If-Match {value[:100]!r} is not `*` or a list of quoted entity tags (RFC 9110)")
        tags.append(("W/" if m.group(1) else "") + m.group(2))
        rest = rest[m.end():]
        if not rest:
            return tags
        if not rest.startswith(","):
            raise BadHeader(f"If-Match {value[:100]!r} is not `*` or a list of quoted entity tags (RFC 9110)")
        rest = rest[1:]


def if_match_revision(value: str | None, current: int) -> int | None:
    """The revision a write may proceed from: None (no condition) or `current`; 412 when no tag matches."""
    tags = parse_if_match(value)
    if tags is None or tags == ["*"]:
        return None
    if str(current) in tags:
        return current
    from freshgate.errors import PreconditionFailed

    raise PreconditionFailed(f"If-Match {value[:100]!r} does not match the current revision {current}; "
                             "re-read the document and try again", current_revision=current)


class BadHeader(Exception):
    """A malformed request header (mapped to 400)."""


def etag(revision: int) -> str:
    """The ETag header value for a document revision."""
    return f'"{revision}"'
