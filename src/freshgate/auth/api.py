"""REST routes of auth: API keys (operators), team members, who am I."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from freshgate.auth.deps import Caller
from freshgate.auth.models import ApiKey
from freshgate.auth.service import KeyService
from freshgate.deps import get_session, registry
from freshgate.problems import PROBLEM_RESPONSES
from freshgate.strict import IsoDateTime

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["auth"], responses=PROBLEM_RESPONSES)
SessionDep = Annotated[Session, Depends(get_session)]
KeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{12}$", description="The key's id (the part after fg_).")]
OwnerId = Annotated[str, Path(max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")]


class KeyIn(BaseModel):
    """A new API key."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00]*$", description="What the key is for.")
    role: Literal["agent", "owner", "operator"]
    owner: str | None = Field(None, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$",
                              description="The owner or team an owner key acts for (owner role only).")
    expires: IsoDateTime | None = Field(None, description="When the key stops working (default: never); in the "
                                        "future.")


class KeyOut(BaseModel):
    """An API key as listed (never the key itself)."""

    id: str
    label: str
    role: str
    owner: str | None
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewKeyOut(KeyOut):
    """A created key: `key` is shown this once; only its hash is stored."""

    key: str


class MembersIn(BaseModel):
    """The members of a team."""

    model_config = ConfigDict(extra="forbid")

    members: list[Annotated[str, Field(max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")]] = Field(
        max_length=1000)


class MembersOut(BaseModel):
    """A team and its members."""

    team: str
    members: list[str]


class WhoAmI(BaseModel):
    """The principal a request acts as."""

    id: str
    name: str
    role: str
    owners: list[str]
    via: str


def key_out(k: ApiKey) -> KeyOut:
    """Public view of a key."""
    return KeyOut(id=k.id, label=k.label, role=k.role, owner=k.owner_id, created_at=k.created_at,
                  created_by=k.created_by, expires_at=k.expires_at, last_used_at=k.last_used_at,
                  revoked_at=k.revoked_at)


@router.get("/keys", response_model=list[KeyOut])
def list_keys(session: SessionDep):
    """Every API key (operators): label, role, owner, expiry, last use, revocation; never the key."""
    return [key_out(k) for k in KeyService(session).list()]


@router.post("/keys", response_model=NewKeyOut, status_code=201)
def create_key(body: KeyIn, caller: Caller, request: Request, session: SessionDep):
    """Create a key (operators); the response carries the key once."""
    if body.owner:
        registry(request, session).owner(body.owner)  # an owner key acts for an owner that exists
    row, raw = KeyService(session).create(body.label, body.role, body.owner, body.expires, created_by=caller.actor)
    registry(request, session).record_event(caller.actor, "key_created", after={"key": row.id, "role": row.role,
                                            "owner": row.owner_id}, detail=row.label)
    session.commit()
    return NewKeyOut(**key_out(row).model_dump(), key=raw)


@router.delete("/keys/{key_id}", response_model=KeyOut)
def revoke_key(key_id: KeyId, caller: Caller, request: Request, session: SessionDep):
    """Revoke a key (operators); it stops working at once on this server, within seconds on others."""
    row = KeyService(session).revoke(key_id)
    registry(request, session).record_event(caller.actor, "key_revoked", after={"key": row.id}, detail=row.label)
    session.commit()
    request.app.state.auth_cache.clear()
    return key_out(row)


@router.get("/owners/{owner_id}/members", response_model=MembersOut)
def get_members(owner_id: OwnerId, request: Request, session: SessionDep):
    """The members of a team (owners who act on the team's documents)."""
    registry(request, session).owner(owner_id)
    return MembersOut(team=owner_id, members=KeyService(session).members(owner_id))


@router.put("/owners/{owner_id}/members", response_model=MembersOut)
def set_members(owner_id: OwnerId, body: MembersIn, caller: Caller, request: Request, session: SessionDep):
    """Replace a team's members (operators)."""
    reg = registry(request, session)
    reg.owner(owner_id)
    for m in body.members:
        reg.owner(m)
    members = KeyService(session).set_members(owner_id, body.members)
    reg.record_event(caller.actor, "team_members_set", after={"team": owner_id, "members": members})
    session.commit()
    request.app.state.auth_cache.clear()
    return MembersOut(team=owner_id, members=members)


@router.get("/whoami", response_model=WhoAmI)
def whoami(caller: Caller):
    """The principal this request acts as."""
    return WhoAmI(id=caller.id, name=caller.name, role=caller.role, owners=sorted(caller.owners), via=caller.via)


def include(app: FastAPI, on_start=None) -> None:
    """Mount the auth routes; `on_start(runtime)` runs at start-up (the first operator key)."""

    @asynccontextmanager
    async def lifespan(_app):
        if on_start is not None:
            on_start(app.state.runtime)
        yield

    auth_router = APIRouter(lifespan=lifespan)
    auth_router.include_router(router)
    app.include_router(auth_router)
