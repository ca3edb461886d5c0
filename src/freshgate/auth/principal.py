"""Who is calling: the authenticated principal every face acts as."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["agent", "owner", "operator"]
ROLES: tuple[str, ...] = ("agent", "owner", "operator")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a key, a proxy user, a console session or the local user."""

    id: str
    name: str
    role: Role
    owners: frozenset[str] = field(default_factory=frozenset)
    via: str = "api_key"

    def can_act_on(self, owner_id: str | None) -> bool:
        """Operators act on anything; owners on documents of an owner or team they act for; agents never."""
        if self.role == "operator":
            return True
        return self.role == "owner" and owner_id is not None and owner_id in self.owners

    @property
    def actor(self) -> str:
        """What the audit log records as the actor."""
        return self.name[:200]

    @property
    def is_operator(self) -> bool:
        """True for operators."""
        return self.role == "operator"


def acting_as(principal: Principal, on_behalf_of: str | None) -> str:
    """The audit actor: the principal, or `<someone> (by <operator>)` when an operator acts for someone."""
    from freshgate.errors import Forbidden

    if not on_behalf_of:
        return principal.actor
    if not principal.is_operator:
        raise Forbidden("only operators may act on someone's behalf (on_behalf_of)",
                        errors=[{"field": "on_behalf_of", "message": "operators only"}])
    by = f" (by {principal.actor})"[:150]  # the real principal is never cut off by a long name
    return f"{on_behalf_of[:200 - len(by)]}{by}"


def os_user() -> str:
    """The operating-system user running this process: its uid's login name (not $USER, which anyone sets)."""
    import os

    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, AttributeError):  # no passwd entry (some containers) or not POSIX
        import getpass

        try:
            return getpass.getuser()
        except Exception:  # noqa: BLE001 - no name at all: the uid still says who
            return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def local_principal() -> Principal:
    """The local administrator: whoever runs the CLI on this machine (file access is database access)."""
    user = os_user()
    return Principal(id=f"local:{user}", name=f"local:{user}", role="operator", via="local")


OFF = Principal(id="anonymous-off", name="anonymous (auth off)", role="operator", via="auth_off")
