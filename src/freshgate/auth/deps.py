"""FastAPI side of auth: the enforcement middleware (one policy table for every route) and dependencies.

`AuthMiddleware` runs before any route: it checks the Host header, refuses bodies over the limit
before they are read, finds the route the request will reach, resolves the principal (API key,
trusted-proxy headers, console session) and checks the route's permission. It sets
`request.state.principal` for every request that passes.
"""

from __future__ import annotations

import contextvars
import ipaddress
import logging
import re
import time
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from fastapi import Depends, HTTPException, Request
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from freshgate.auth import policy, sessions
from freshgate.auth.principal import OFF, Principal
from freshgate.auth.service import KeyService, hash_key
from freshgate.config import AuthSettings
from freshgate.errors import Forbidden
from freshgate.problems import problem_response as _problem_response

log = logging.getLogger(__name__)
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
CACHE_SECONDS = 10.0  # a key revoked by another process stops working within this time
_INSTANCE = contextvars.ContextVar("freshgate_auth_instance", default=None)
_SANE_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")


@dataclass(frozen=True)
class ServedRoute:
    """A route as the app serves it: methods (None = any), declared path, compiled regex."""

    methods: frozenset[str] | None
    path: str
    regex: Any
    mounted: bool = False

    @property
    def keys(self) -> list[tuple[str, str]]:
        """The policy keys of this route."""
        if self.methods is None:
            return [("*", self.path)]
        return [(m, self.path) for m in sorted(self.methods) if m != "HEAD"]


def served_routes(app) -> list[ServedRoute]:
    """Every route the app serves (REST, pages, mounted apps), in matching order."""
    from fastapi.routing import iter_route_contexts
    from starlette.routing import Mount

    out = []
    for rc in iter_route_contexts(app.routes):
        r = rc._effective_route  # noqa: SLF001 - FastAPI keeps the effective (prefixed) route here
        methods = getattr(r, "methods", None)
        mounted = isinstance(rc.original_route, Mount)
        out.append(ServedRoute(frozenset(methods) if methods else None, rc.path, r.path_regex, mounted))
    return out


class BodyTooLarge(HTTPException):
    """The request body passed the configured limit while being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class _Cache:
    """Recently authenticated credentials -> principal, for CACHE_SECONDS (or until the key expires)."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[Principal | None, float]] = {}

    def get(self, key: str) -> tuple[bool, Principal | None]:
        hit = self.items.get(key)
        if hit is None or hit[1] < time.monotonic():
            return False, None
        return True, hit[0]

    def put(self, key: str, principal: Principal | None, ttl: float = CACHE_SECONDS) -> None:
        if len(self.items) > 10_000:
            self.items.clear()
        self.items[key] = (principal, time.monotonic() + ttl)

    def clear(self) -> None:
        """Forget every cached credential (after a revocation)."""
        self.items.clear()


def problem_response(status: int, code: str, detail: str, **kw):
    """A problem response naming the request path as `instance`."""
    return _problem_response(status, code, detail, instance=kw.pop("instance", None) or _INSTANCE.get(), **kw)


def _safe(path: str) -> str:
    return path.replace("\x00", "\\0")[:300]


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses."""
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _loopback(host: str) -> bool:
    return is_loopback(host) or host == "testserver"  # TestClient's in-process server name


def _networks(cidrs: list[str]):
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


class AuthMiddleware:
    """Host check, body limit, principal and policy for every HTTP request (pure ASGI)."""

    def __init__(self, app, *, fastapi_app, settings: AuthSettings, bind_host: str) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self.settings = settings
        self.proxies = _networks(settings.trusted_proxies)
        self.hosts = set(LOOPBACK_HOSTS) | {h.lower() for h in settings.allowed_hosts}
        if bind_host not in ("0.0.0.0", "::", ""):
            self.hosts.add(bind_host.lower())
        self.routes: list[ServedRoute] | None = None
        self.cache = _Cache()
        fastapi_app.state.auth_cache = self.cache

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "websocket":  # no route speaks WebSocket: none bypasses the policy either
            await receive()
            return await send({"type": "websocket.close", "code": 1008})
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from starlette.requests import Request as _Req

        request = _Req(scope)
        path = scope["path"]
        _INSTANCE.set(_safe(path))
        problem = self._host_problem(request) or self._length_problem(request) or self._nul_problem(scope)
        if problem is not None:
            return await problem(scope, receive, send)
        route = self._match(scope["method"], path)
        if route is None:
            if scope["method"] == "OPTIONS":
                allowed = self._allowed(path)
                if allowed:
                    from starlette.responses import Response

                    return await Response(status_code=204, headers={"Allow": ", ".join(allowed)})(scope, receive, send)
            return await self._call(scope, receive, send)  # the router answers 404 / 405
        key_method = "*" if route.methods is None else ("GET" if scope["method"] == "HEAD" else scope["method"])
        perm = policy.permission(key_method, route.path)
        if perm == "metrics" and _public_scrape(scope):
            perm = policy.PUBLIC  # metrics.public_scrape: an unauthenticated scraper may read /metrics
        try:
            principal = await self._principal(request)
        except (_BadCredential, SQLAlchemyError) as exc:
            if perm != policy.PUBLIC:
                return await self._credential_problem(exc)(scope, receive, send)
            # A public route needs no credential: a stale or wrong one (a probe's old key) or a database
            # that cannot check it does not turn /livez, /healthz or the API description into an error.
            principal = None
        if perm is None:
            log.error("refused %s %s: the route has no entry in auth/policy.py", scope["method"], route.path)
            return await self._deny(403, "no_policy", "this route has no access policy; refused for everyone"
                                    )(scope, receive, send)
        if not policy.allows(principal.role if principal else None, perm):
            if principal is None:
                return await self._deny(401, "unauthenticated", "a credential is required: send "
                                        "`Authorization: Bearer fg_...` (or X-API-Key)")(scope, receive, send)
            return await self._deny(403, "forbidden_role", f"role {principal.role} may not do this "
                                    f"(needs permission {perm!r})")(scope, receive, send)
        scope.setdefault("state", {})["principal"] = principal
        return await self._call(scope, receive, send)

    # ---- parts -----------------------------------------------------------------
    def _credential_problem(self, exc: Exception):
        """401 for a credential that is not valid; 503 when the database cannot check it."""
        if isinstance(exc, _BadCredential):
            return self._deny(401, "unauthenticated", str(exc))
        log.error("credential check failed, database unavailable: %s", exc)
        return problem_response(503, "database_unavailable", "the database is not reachable, so the credential "
                                "cannot be checked; retry shortly", headers={"Retry-After": "5"})

    async def _call(self, scope, receive, send) -> None:
        limit, seen, started = self.settings.max_body_bytes, 0, False

        async def limited_receive():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return msg

        async def tracking_send(msg):
            nonlocal started
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:
            if not started:
                await self._too_large()(scope, receive, send)
            else:
                log.warning("request body over the limit after the response started: %s", exc.detail)

    def _nul_problem(self, scope):
        """NUL bytes in the path or query never reach a route (PostgreSQL cannot store them)."""
        raw = scope.get("raw_path") or scope["path"].encode()
        qs = scope.get("query_string") or b""
        if b"\x00" in raw or b"%00" in raw or b"%00" in qs or b"\x00" in qs or "\x00" in scope["path"]:
            where = "query" if (b"%00" in qs or b"\x00" in qs) else "path"
            return problem_response(422, "invalid", f"the {where} contains a NUL byte", title="Invalid input",
                                    errors_=[{"field": where, "message": "may not contain NUL bytes"}],
                                    instance=_safe(scope["path"]))
        return None

    def _too_large(self):
        return problem_response(413, "body_too_large", f"the request body is larger than "
                                f"{self.settings.max_body_bytes} bytes (auth.max_body_bytes)")

    def _length_problem(self, request):
        length = request.headers.get("content-length")
        if length is None:
            return None
        if not length.isdigit():
            return problem_response(400, "bad_request", "Content-Length is not a number")
        return self._too_large() if int(length) > self.settings.max_body_bytes else None

    def _host_problem(self, request):
        if "*" in self.hosts:
            return None
        host = (request.headers.get("host") or "").strip().lower()
        if host.startswith("["):
            name = host[1:].split("]", 1)[0]
        else:
            name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        if name in self.hosts:
            return None
        shown = host[:100].encode("ascii", "replace").decode()
        return problem_response(400, "host_not_allowed", f"Host {shown!r} is not served here; add it to "
                                "auth.allowed_hosts (DNS-rebinding protection)")

    def _deny(self, status: int, code: str, detail: str):
        contact = self.settings.operators_contact
        headers = {"WWW-Authenticate": 'Bearer realm="freshgate"'} if status == 401 else None
        return problem_response(status, code, detail + (f"; ask {contact} for a key" if contact else ""),
                                headers=headers)

    def _routes(self) -> list[ServedRoute]:
        if self.routes is None:
            self.routes = served_routes(self.fastapi_app)
        return self.routes

    def _match(self, method: str, path: str) -> ServedRoute | None:
        method = "GET" if method == "HEAD" else method
        for r in self._routes():
            if r.regex.match(path) and (r.methods is None or method in r.methods):
                return r
        return None

    def _allowed(self, path: str) -> list[str]:
        methods: set[str] = set()
        for r in self._routes():
            if r.regex.match(path) and r.methods is not None:
                methods |= r.methods
        if not methods:
            return []
        if "GET" in methods:
            methods.add("HEAD")
        return sorted(methods | {"OPTIONS"})

    async def _principal(self, request) -> Principal | None:
        if self.settings.mode == "off":
            server = request.scope.get("server")
            if server and not _loopback(server[0]):
                raise _BadCredential(f"auth.mode = off is refused on a non-loopback address ({server[0]}); "
                                     "use API keys")
            return OFF
        auth = request.headers.get("authorization") or ""
        raw = auth[7:].strip() if auth[:7].lower() == "bearer " else request.headers.get("x-api-key")
        if raw:
            return await self._from_key(raw.strip())
        if self.proxies and request.client and self._trusted(request.client.host):
            user = request.headers.get(self.settings.user_header)
            if user:
                return await self._from_proxy(user, request.headers.get(self.settings.groups_header, ""))
        return sessions.read(request.cookies)

    def _trusted(self, host: str) -> bool:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(ip in net for net in self.proxies)

    async def _from_key(self, raw: str) -> Principal:
        digest = hash_key(raw)
        hit, principal = self.cache.get(digest)
        if not hit:
            principal = await anyio.to_thread.run_sync(self._authenticate, raw)
            self.cache.put(digest, principal)
        if principal is None:
            raise _BadCredential("the API key is unknown, revoked or expired")
        return principal

    def _authenticate(self, raw: str) -> Principal | None:
        with Session(self.fastapi_app.state.engine, expire_on_commit=False) as session:
            principal = KeyService(session).authenticate(raw)
            session.commit()
        return principal

    async def _from_proxy(self, user: str, groups: str) -> Principal:
        if not _SANE_NAME.match(user):
            raise _BadCredential("the proxy's user header is not a valid name")
        names = frozenset(g.strip() for g in groups.split(",") if g.strip() and _SANE_NAME.match(g.strip()))
        key = f"proxy\x00{user}\x00{','.join(sorted(names))}"
        hit, principal = self.cache.get(key)
        if hit and principal is not None:
            return principal
        teams = await anyio.to_thread.run_sync(self._teams, user)
        role = "operator" if names & set(self.settings.operator_groups) else "owner"
        groups = names - set(self.settings.operator_groups)
        owners = frozenset({user, *teams, *groups}) if role == "owner" else frozenset()
        principal = Principal(id=f"proxy:{user}", name=user, role=role, owners=owners, via="proxy")
        self.cache.put(key, principal)
        return principal

    def _teams(self, user: str) -> set[str]:
        with Session(self.fastapi_app.state.engine) as session:
            return KeyService(session).teams_of(user)


class _BadCredential(Exception):
    """A credential was sent but is not valid (401; on a public route it is ignored, never an identity)."""


def current_principal(request: Request) -> Principal | None:
    """The principal the middleware authenticated for this request (None on public routes without one)."""
    return getattr(request.state, "principal", None)


def require_principal(request: Request) -> Principal:
    """The authenticated principal; a route that needs one is never reached without it."""
    p = current_principal(request)
    if p is None:
        raise Forbidden("this action needs a credential")
    return p


Caller = Annotated[Principal, Depends(require_principal)]


def guard(principal: Principal, owner_id: str | None, what: str) -> None:
    """Raise Forbidden unless the principal may act on something owned by `owner_id`."""
    if not principal.can_act_on(owner_id):
        raise Forbidden(f"{principal.name} ({principal.role}) may not act on {what}, owned by {owner_id or 'nobody'}; "
                        "only its owner, a member of its team or an operator may")


def _public_scrape(scope) -> bool:
    """True when the settings let an unauthenticated scraper read /metrics (metrics.public_scrape)."""
    settings = getattr(getattr(scope.get("app"), "state", None), "settings", None)
    return bool(getattr(getattr(settings, "metrics", None), "public_scrape", False))
