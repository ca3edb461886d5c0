"""The other faces of the action check: the CLI (exit codes), the MCP tool over HTTP, the Python client."""

from __future__ import annotations

import asyncio
import json

import pytest
from mcp import Client
from typer.testing import CliRunner

from freshgate.actions.commands import parse_params
from freshgate.app import create_app
from freshgate.cli import app
from freshgate.client import Freshgate, FreshgateAPIError
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.conftest import bearer, make_key
from tests.lookup.live import serve


@pytest.fixture
def cli(database_url, kb):
    """`freshgate --database-url URL ...` on the synced example KB: (exit code, stdout, stderr)."""
    runner = CliRunner()

    def run(*args: str):
        r = runner.invoke(app, ["--database-url", database_url, *args], catch_exceptions=False, env={"COLUMNS": "200"})
        return r.exit_code, r.stdout, r.stderr
    code, _, err = run("sync", "--no-embed", str(kb / "sources"), str(kb / "sop_cards"))
    assert code == 0, err
    return run


def test_params_from_the_command_line():
    assert parse_params(["amount=7000", "currency=EUR", "customer.segment=enterprise", "rate=0.5", "draft=true",
                         "tags=[\"a\"]", "note=5000 EUR"]) == {
        "amount": 7000, "currency": "EUR", "customer": {"segment": "enterprise"}, "rate": 0.5, "draft": True,
        "tags": ["a"], "note": "5000 EUR"}
    with pytest.raises(ValueError, match="key=value"):
        parse_params(["oops"])


def test_check_action_exit_codes_and_tools(cli):
    assert cli("check-action", "orders.lookup", "-p", "order_id=NW-1")[0] == 0
    code, out, _ = cli("check-action", "stripe.refund", "--param", "amount=700", "--param", "currency=EUR")
    assert code == 1 and out.startswith("needs_approval  stripe.refund  lane approval")
    assert "refund-subscription-charge v1: stripe.refund when amount > 500 EUR and amount <= 5000 EUR" in out
    code, out, _ = cli("check-action", "privacy.delete_account", "--json")
    assert code == 2 and json.loads(out)["decision"] == "forbidden"
    code, out, _ = cli("check-action", "crm.export_contacts")
    assert code == 2 and "no_procedure" in out and "ask the operator" in out
    assert cli("check-action", "x", "--risk", "maybe")[0] == 3
    code, out, _ = cli("tools", "--json")
    assert code == 0 and {"tool": "privacy.delete_account", "lane": "forbidden"}.items() <= \
        next(r for r in json.loads(out) if r["tool"] == "privacy.delete_account").items()
    code, out, _ = cli("tools", "--uncovered", "--json")
    assert code == 0 and [(u["tool"], u["count"]) for u in json.loads(out)] == [("crm.export_contacts", 1)]
    code, out, _ = cli("tools")
    assert code == 0 and "stripe.refund" in out


def test_mcp_tool_and_client_round_trip(runtime, kb):
    from freshgate.app import run_sync

    assert run_sync(runtime, [kb / "sources", kb / "sop_cards"]).failed == []
    key = make_key(runtime.engine, "agent", label="mcp agent")

    async def go(url):
        transport = streamable_http_client(f"{url}/mcp", http_client=create_mcp_http_client(headers=bearer(key)))
        async with Client(transport) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            a = await client.call_tool("freshgate_check_action", {"tool": "stripe.refund",
                                                                  "parameters": {"amount": "9000 EUR"},
                                                                  "intent": "refund a disputed annual contract"})
            bad = await client.call_tool("freshgate_check_action", {"tool": ""})
            return tools, a, bad

    with serve(create_app(runtime=runtime)) as url:
        tools, a, bad = asyncio.run(go(url))
        with Freshgate(url, api_key=key) as fg:
            c = fg.check_action("zendesk.reply", {"macro": "order-on-its-way"}, intent="tell the customer")
            receipts = fg.receipts(document="refund-over-5000")
            with pytest.raises(FreshgateAPIError) as err:
                fg.check_action("", {})
    assert "freshgate_check_action" in tools
    out = a.structured_content
    assert out["decision"] == "forbidden" and out["cards"][0]["id"] == "refund-over-5000" and out["receipt_id"]
    assert out["owner"] == "finance" and out["rollback"].startswith("none")
    assert bad.is_error and "invalid: tool" in bad.content[0].text
    assert c["decision"] == "proceed" and c["receipt_id"]
    assert receipts[0]["id"] == out["receipt_id"] and receipts[0]["kind"] == "action"
    assert receipts[0]["principal"] == c_principal(runtime, c["receipt_id"]) and receipts[0]["principal"].startswith("key:")
    assert err.value.status == 422


def c_principal(runtime, receipt_id):
    from sqlmodel import Session

    from freshgate.actions.models import ActionReceipt

    with Session(runtime.engine) as s:
        return s.get(ActionReceipt, receipt_id).principal
