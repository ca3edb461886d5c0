"""The one policy table: every served route -> a permission; roles -> permissions.

A route the app serves without an entry here is refused for everyone (and the route x role
test in tests/auth fails). New routes MUST add an entry. Keys are (method, path template as
declared); "*" as method covers a mounted app or a route that takes every method.
"""

from __future__ import annotations

PUBLIC = "public"

POLICY: dict[tuple[str, str], str] = {
    # health and the API's own description
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/livez"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): "metrics",
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    # lookup (REST and MCP over HTTP)
    ("POST", "/v1/lookup"): "lookup",
    ("*", "/mcp"): "lookup",
    ("GET", "/v1/receipts"): "receipts",
    ("GET", "/v1/receipts/{receipt_id}"): "receipts",
    ("GET", "/v1/unanswered"): "unanswered",
    # action checks: SOP cards as the tool permission table
    ("POST", "/v1/actions/check"): "actions.check",
    ("GET", "/v1/tools"): "read",
    ("GET", "/v1/actions/receipts"): "receipts",
    ("GET", "/v1/actions/receipts/{receipt_id}"): "receipts",
    ("GET", "/v1/actions/uncovered"): "review",
    # registry reads
    ("GET", "/v1/documents"): "read",
    ("GET", "/v1/documents/{doc_id}"): "read",
    ("GET", "/v1/documents/{doc_id}/versions/{version}"): "read",
    ("GET", "/v1/status"): "read",
    ("GET", "/v1/documents/{doc_id}/audit"): "audit.own",
    ("GET", "/v1/audit"): "audit.all",
    ("GET", "/v1/owners"): "owners.read",
    ("GET", "/v1/owners/{owner_id}"): "owners.read",
    # owner actions (the route also checks principal.can_act_on(document owner))
    ("POST", "/v1/documents/{doc_id}/verify"): "documents.write",
    ("PUT", "/v1/documents/{doc_id}/content"): "documents.write",
    ("POST", "/v1/documents/{doc_id}/retire"): "documents.write",
    ("POST", "/v1/documents/{doc_id}/unretire"): "documents.write",
    ("POST", "/v1/documents/{doc_id}/transfer"): "documents.write",
    # owners and teams
    ("POST", "/v1/owners"): "owners.write",
    ("POST", "/v1/owners/{owner_id}/deactivate"): "owners.write",
    ("POST", "/v1/owners/{owner_id}/activate"): "owners.write",
    ("GET", "/v1/owners/{owner_id}/members"): "owners.read",
    ("PUT", "/v1/owners/{owner_id}/members"): "owners.write",
    # conflicts (verdicts also check the owner of either side)
    ("GET", "/v1/conflicts"): "read",
    ("GET", "/v1/conflicts/{conflict_id:int}"): "read",
    ("POST", "/v1/conflicts/{conflict_id:int}/confirm"): "conflicts.verdict",
    ("POST", "/v1/conflicts/{conflict_id:int}/dismiss"): "conflicts.verdict",
    ("POST", "/v1/conflicts/{conflict_id:int}/reopen"): "conflicts.verdict",
    ("POST", "/v1/conflicts/scan"): "conflicts.scan",
    ("GET", "/v1/review"): "review",
    # keys
    ("GET", "/v1/keys"): "keys",
    ("POST", "/v1/keys"): "keys",
    ("DELETE", "/v1/keys/{key_id}"): "keys",
    ("GET", "/v1/whoami"): "whoami",
    # dashboard (server-rendered pages)
    ("GET", "/"): "dashboard",
    ("GET", "/documents/{doc_id}"): "dashboard",
    ("*", "/static"): PUBLIC,
    # operator console (web/): pages need the dashboard or the API's own read permission; every form
    # needs the permission of the API route it mirrors (and the same per-document owner check)
    ("GET", "/sign-in"): PUBLIC,
    ("POST", "/sign-in"): PUBLIC,
    ("POST", "/sign-out"): PUBLIC,
    ("GET", "/review"): "dashboard",
    ("GET", "/documents"): "dashboard",
    ("GET", "/conflicts"): "dashboard",
    ("GET", "/conflicts/{conflict_id}"): "dashboard",
    ("GET", "/receipts"): "dashboard",
    ("GET", "/receipts/{receipt_id}"): "dashboard",
    ("GET", "/unanswered"): "unanswered",
    ("GET", "/owners"): "owners.read",
    ("GET", "/audit"): "audit.all",
    ("GET", "/keys"): "keys",
    ("POST", "/keys"): "keys",
    ("POST", "/keys/{key_id}/revoke"): "keys",
    ("POST", "/documents/{doc_id}/verify"): "documents.write",
    ("POST", "/documents/{doc_id}/retire"): "documents.write",
    ("POST", "/documents/{doc_id}/unretire"): "documents.write",
    ("POST", "/documents/{doc_id}/transfer"): "documents.write",
    ("POST", "/documents/{doc_id}/content"): "documents.write",
    ("POST", "/conflicts/{conflict_id}/confirm"): "conflicts.verdict",
    ("POST", "/conflicts/{conflict_id}/dismiss"): "conflicts.verdict",
    ("POST", "/conflicts/{conflict_id}/reopen"): "conflicts.verdict",
    ("POST", "/owners/{owner_id}/activate"): "owners.write",
    ("POST", "/owners/{owner_id}/deactivate"): "owners.write",
    ("GET", "/tools"): "dashboard",  # the tool permission table (web/tools.py)
    ("GET", "/documents/{doc_id}/edit"): "documents.write",  # the review queue's inline editor (a fragment)
    ("POST", "/unanswered/{topic_id}/assign"): "unanswered",  # hand a topic to an owner (operators)
}

AGENT = frozenset({PUBLIC, "lookup", "actions.check", "receipts", "read", "whoami"})
OWNER = AGENT | {"documents.write", "conflicts.verdict", "owners.read", "audit.own", "review", "dashboard"}
OPERATOR = OWNER | {"unanswered", "audit.all", "owners.write", "conflicts.scan", "keys", "metrics"}
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {"agent": AGENT, "owner": OWNER, "operator": OPERATOR}
ROLE_PERMISSIONS["operator"] = frozenset(OPERATOR | set(POLICY.values()))  # operators may do everything


def permission(method: str, path: str) -> str | None:
    """The permission a route needs, or None when the route has no entry (refused)."""
    method = "GET" if method == "HEAD" else method
    return POLICY.get((method, path)) or POLICY.get(("*", path))


def allows(role: str | None, perm: str) -> bool:
    """True when a role (None = no credential) holds a permission."""
    if perm == PUBLIC:
        return True
    return role is not None and perm in ROLE_PERMISSIONS.get(role, frozenset())
