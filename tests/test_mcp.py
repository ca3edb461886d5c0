"""MCP round trips with the SDK's own client: streamable HTTP (served by the API) and stdio."""

import asyncio
import os
import sys
from pathlib import Path

import pytest
import httpx
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from freshgate.app import build_runtime, create_app, run_sync
from tests.conftest import bearer, make_key, make_settings
from tests.lookup.conftest import hashing_kb  # noqa: F401 - fixture
from tests.lookup.live import serve


def test_mcp_over_http(hashing_kb, runtime):
    key = make_key(runtime.engine, "agent", label="mcp agent")

    async def go(url):
        transport = streamable_http_client(f"{url}/mcp", http_client=create_mcp_http_client(headers=bearer(key)))
        async with Client(transport) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            a = await client.call_tool("freshgate_lookup", {"query": "refund window for monthly plans",
                                                            "risk": "high", "scope": {"tags": ["refunds"]}})
            d = await client.call_tool("freshgate_document", {"id": "refund-policy-2023"})
            bad = await client.call_tool("freshgate_document", {"id": "no-such-doc"})
            return tools, a, d, bad

    with serve(create_app(runtime=runtime)) as url:
        tools, a, d, bad = asyncio.run(go(url))
        init = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        anon = httpx.post(f"{url}/mcp", json=init, headers={"Accept": "application/json, text/event-stream"})
    assert anon.status_code == 401 and anon.headers["content-type"] == "application/problem+json"
    assert tools == {"freshgate_lookup", "freshgate_document", "freshgate_check_action"}
    out = a.structured_content
    assert out["decision"] in ("proceed", "caution", "stop_and_ask") and out["receipt_id"]
    assert out["citations"] and set(out) >= {"reasons", "conflicts", "ask", "evaluated_at"}
    receipt = hashing_kb.get(f"/v1/receipts/{out['receipt_id']}").json()
    assert receipt["risk"] == "high" and receipt["principal"].startswith("key:")  # the agent's key asked
    assert d.structured_content["state"] == "retired" and d.structured_content["successor"] == "refund-policy"
    assert bad.is_error and "no-such-doc" in bad.content[0].text


@pytest.mark.model
def test_mcp_over_stdio(tmp_path, kb):
    url = f"sqlite:///{tmp_path / 'fg.db'}"
    rt = build_runtime(make_settings(url))
    assert run_sync(rt, [kb / "sources", kb / "sop_cards"]).failed == []
    rt.close()
    exe = str(Path(sys.executable).with_name("freshgate"))
    params = StdioServerParameters(command=exe, args=["--database-url", url, "mcp"], env=dict(os.environ))

    async def go():
        async with Client(params, read_timeout_seconds=300) as client:
            return await client.call_tool("freshgate_lookup", {"query": "Issue a refund of 7000 euros to a customer"})

    out = asyncio.run(go()).structured_content
    assert out["decision"] == "stop_and_ask"
    assert any(r["code"] == "forbidden_lane" and r["item"] == "refund-over-5000" for r in out["reasons"])
