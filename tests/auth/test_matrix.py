"""The route x role matrix, enumerated from the app itself: every route has a policy entry and the
gate answers exactly as the policy table says for no credential, agent, owner and operator."""

from __future__ import annotations

import re

import pytest

from freshgate.auth.deps import served_routes
from freshgate.auth.policy import POLICY, PUBLIC, allows, permission

ROLES = (None, "agent", "owner", "operator")
GATE_CODES = {"unauthenticated", "forbidden_role", "no_policy"}


def concrete(path: str) -> str:
    """A request path for a route template (every parameter filled with 1)."""
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_served_route_has_a_policy_entry(client):
    routes = served_routes(client.app)
    keys = [k for r in routes for k in r.keys]
    assert len(keys) >= 40 and ("*", "/mcp") in keys  # REST, pages, MCP over HTTP
    missing = [k for k in keys if permission(*k) is None]
    assert missing == [], f"routes without an entry in auth/policy.py: {missing}"


def test_nothing_that_writes_or_exposes_people_is_public():
    for (method, path), perm in POLICY.items():
        if perm == PUBLIC:
            # the console's sign-in and sign-out forms are the only public POSTs (CSRF-checked, they change no data)
            sign = (method, path) in (("POST", "/sign-in"), ("POST", "/sign-out"))
            assert (method in ("GET", "*") or sign) and not path.startswith(("/v1/", "/mcp")), (method, path)
    for sensitive in [("GET", "/v1/owners"), ("GET", "/v1/audit"), ("GET", "/v1/unanswered"), ("GET", "/v1/keys")]:
        assert not allows("agent", POLICY[sensitive]) and not allows(None, POLICY[sensitive]), sensitive


def test_gate_follows_the_policy_for_every_route_and_role(docs, client_as):
    clients = {role: client_as(role, "lena" if role == "owner" else None) for role in ROLES}
    seen = 0
    for route in served_routes(docs.app):
        for method, path in route.keys:
            perm = permission(method, path)
            url = concrete(path) + ("/x" if route.mounted else "")
            for role in ROLES:
                m = "POST" if method == "*" else method
                r = clients[role].request(m, url, json={} if m in ("POST", "PUT") else None)
                code = r.json().get("code") if r.headers.get("content-type") == "application/problem+json" else None
                where = f"{role or 'no credential'} {m} {path} -> {r.status_code} {code}"
                if allows(role, perm):
                    assert code not in GATE_CODES and r.status_code != 401, where
                elif role is None:
                    assert (r.status_code, code) == (401, "unauthenticated"), where
                    assert r.headers["www-authenticate"].startswith("Bearer")
                else:
                    assert (r.status_code, code) == (403, "forbidden_role"), where
                seen += 1
    assert seen >= 4 * 40


@pytest.mark.parametrize("role,allowed", [("agent", False), ("owner", False), ("operator", True)])
def test_reads_of_contacts_receipts_and_audit_need_the_right_role(docs, client_as, role, allowed):
    c = client_as(role, "lena" if role == "owner" else None)
    assert (c.get("/v1/audit").status_code == 200) is allowed
    assert (c.get("/v1/unanswered").status_code == 200) is allowed
    assert (c.get("/v1/keys").status_code == 200) is allowed
    assert (c.get("/v1/owners").status_code == 200) is (role != "agent")
