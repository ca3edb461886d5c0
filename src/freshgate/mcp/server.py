"""The MCP server (official `mcp` SDK 2.x `MCPServer`): the lookup for agents, over stdio or HTTP.

Tools:
- `freshgate_lookup`: the same input and output as `POST /v1/lookup`.
- `freshgate_document`: state, owner and next review of one document.
Over HTTP it is served at `/mcp` by the API (streamable HTTP, an agent key required: the
policy table in auth/policy.py); `freshgate mcp` serves stdio and acts as the configured local
principal (`auth.local_principal`, role agent).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from sqlmodel import Session

from freshgate import __version__, db
from freshgate.errors import FreshgateError
from freshgate.lookup.schemas import LookupIn, ScopeIn

log = logging.getLogger(__name__)
INSTRUCTIONS = ("Call freshgate_lookup with the user's question (or the action you intend) before answering "
                "from company documents or running an SOP. Follow the decision: proceed; caution (tell the user "
                "what is not clean); stop_and_ask (do not answer or act: put `ask.question` to `ask.owner`).")


def _principal_id(ctx: Context | None, default: str | None) -> str | None:
    """The authenticated principal of the HTTP request carrying this call (stdio: `default`)."""
    try:
        request = ctx.request_context.request if ctx is not None else None
    except (ValueError, AttributeError):
        request = None
    p = request.scope.get("state", {}).get("principal") if request is not None else None
    return p.id if p is not None else default


def build_server(get_runtime: Callable[[], Any], principal: str | None = None) -> MCPServer:
    """An MCP server answering from the runtime `get_runtime()` returns; receipts name `principal` (stdio)."""
    server = MCPServer("freshgate", title="Freshgate", version=__version__, instructions=INSTRUCTIONS)

    @server.tool(name="freshgate_lookup", title="Check knowledge before answering",
                 description="Before answering from company knowledge or running an SOP: returns decision "
                             "(proceed | caution | stop_and_ask), reasons, citations (doc#anchor, state, owner), "
                             "conflicts, whom to ask and a receipt id.")
    def freshgate_lookup(query: str, scope: ScopeIn | None = None, risk: Literal["low", "high"] = "low",
                         top_k: int | None = None, ctx: Context | None = None) -> dict[str, Any]:
        """Proceed, caution or stop_and_ask for a question or intended action."""
        from freshgate.lookup.api import lookup_and_commit, service_for

        rt = get_runtime()
        try:
            body = LookupIn(query=query, scope=scope, risk=risk, top_k=top_k)
            with Session(rt.engine, expire_on_commit=False) as session:
                svc = service_for(rt, session)
                svc.principal = _principal_id(ctx, principal)
                return lookup_and_commit(svc, body).model_dump(mode="json")
        except FreshgateError as exc:
            raise ToolError(f"{exc.code}: {exc.detail}") from exc
        except ValueError as exc:  # invalid input (pydantic)
            raise ToolError(f"invalid: {exc}") from exc

    @server.tool(name="freshgate_document", title="State and owner of a document",
                 description="Freshness state, reasons, owner (with contact), last verification and next review "
                             "of one source or SOP card by id.")
    def freshgate_document(id: str) -> dict[str, Any]:  # noqa: A002 - the tool's argument is called id
        """State and owner of one document."""
        from freshgate.registry import queries
        from freshgate.registry.service import RegistryService

        rt = get_runtime()
        try:
            with db.session_scope(rt.engine) as session:
                d = queries.document_detail(RegistryService(session, rt.registry_ctx), id)
        except FreshgateError as exc:
            raise ToolError(f"{exc.code}: {exc.detail}") from exc
        return {"id": d.id, "title": d.title, "kind": d.kind, "state": d.state, "status": d.status,
                "successor": d.successor, "lane": d.lane, "criticality": d.criticality, "version": d.version,
                "owner": d.owner, "contact": d.owner_detail.contact if d.owner_detail else None,
                "last_verified": d.last_verified.isoformat() if d.last_verified else None,
                "next_review": d.next_review.isoformat() if d.next_review else None,
                "reasons": [r.model_dump() for r in d.reasons]}

    @server.tool(name="freshgate_check_action", title="Check a tool call before making it",
                 description="Before calling a tool (refund, e-mail, deletion...): returns decision (proceed | caution | "
                             "needs_approval | forbidden | stop_and_ask) from the SOP card that governs the tool and the "
                             "freshness of the card and its sources, with reasons, rules, tool owner, rollback, whom to "
                             "ask and a receipt id. Same input and output as POST /v1/actions/check.")
    def freshgate_check_action(tool: str, parameters: dict[str, Any] | None = None, intent: str | None = None,
                               risk: Literal["low", "high"] | None = None, ctx: Context | None = None) -> dict[str, Any]:
        """proceed, needs_approval, forbidden or stop_and_ask for a tool call."""
        from pydantic import ValidationError

        from freshgate.actions.api import check_and_commit, service_for
        from freshgate.actions.schemas import ActionCheckIn

        rt = get_runtime()
        try:
            body = ActionCheckIn(tool=tool, parameters=parameters or {}, intent=intent, risk=risk)
        except ValidationError as exc:
            raise ToolError(f"invalid: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from exc
        try:
            with Session(rt.engine, expire_on_commit=False) as session:
                return check_and_commit(service_for(rt, session), body,
                                        principal=_principal_id(ctx, principal)).model_dump(mode="json")
        except FreshgateError as exc:
            raise ToolError(f"{exc.code}: {exc.detail}") from exc

    return server


def http_app(server: MCPServer, host: str = "127.0.0.1"):
    """The streamable-HTTP ASGI endpoint (stateless, JSON responses); run `server.session_manager.run()`."""
    from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
    from mcp.server.transport_security import TransportSecuritySettings

    loopback = host in ("127.0.0.1", "localhost", "::1")
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=loopback,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*", "testserver"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"])
    server.streamable_http_app(streamable_http_path="/mcp", stateless_http=True, json_response=True,
                               transport_security=security, host=host)
    return StreamableHTTPASGIApp(server.session_manager)


def include(app) -> None:
    """Mount the MCP endpoint at /mcp on the API (called where the faces are assembled: app.py)."""
    from contextlib import asynccontextmanager

    from fastapi import APIRouter

    mcp_server = build_server(lambda: app.state.runtime)
    app.router.add_route("/mcp", http_app(mcp_server), include_in_schema=False)

    @asynccontextmanager
    async def lifespan(_app):
        async with mcp_server.session_manager.run():
            yield

    app.include_router(APIRouter(lifespan=lifespan))


def run_stdio(rt) -> None:
    """Serve MCP over stdin/stdout as the local principal until the client closes it (logs go to stderr)."""
    import getpass

    name = rt.settings.auth.local_principal
    build_server(lambda: rt, principal=f"local:{name}:{getpass.getuser()}"[:200]).run("stdio")
