"""The console's tool permission table (/tools): every rule with its card's state, filters, and the
uncovered tools agents tried (SQLite and PostgreSQL)."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from freshgate.app import create_app, run_sync
from tests.conftest import make_key
from tests.web.conftest import HTML, sign_in

ROW = re.compile(r'<tr data-testid="rule-([^"]+)-\d+">(.*?)</tr>', re.S)


@pytest.fixture
def tools_web(runtime, client, kb):
    """The example knowledge base synced; (console client signed in as an operator, API client)."""
    assert run_sync(runtime, [kb / "sources", kb / "sop_cards"]).failed == []
    with TestClient(create_app(runtime=runtime)) as c:
        sign_in(c, make_key(runtime.engine, "operator", label="ops-tools"))
        yield c, client


def rows(page: str) -> list[tuple[str, str]]:
    """(card, row text) of each rule row."""
    return [(card, html.unescape(re.sub(r"<[^>]+>", " ", body))) for card, body in ROW.findall(page)]


def test_every_rule_is_listed_with_its_card_state_owner_and_rollback(tools_web):
    web, api = tools_web
    table = api.get("/v1/tools").json()
    page = web.get("/tools", headers=HTML)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    listed = rows(page.text)
    assert len(listed) == len(table) > 10
    assert f'data-testid="rule-count">{len(table)} of {len(table)} rule(s)' in page.text
    refund = [t for card, t in listed if card == "refund-over-5000" and "stripe.refund" in t]
    assert refund and "amount > 5000 EUR" in refund[0] and "forbidden" in refund[0]
    expected = next(r for r in table if r["card"] == "refund-over-5000" and r["tool"] == "stripe.refund")
    assert expected["rollback"] and expected["rollback"] in refund[0] and expected["owner"] in refund[0]
    assert expected["card_state"] in refund[0]
    assert 'href="/documents/refund-over-5000"' in page.text  # the owning card, linked to its page
    assert 'href="/tools" aria-current="page"' in page.text  # in the navigation
    # approval/forbidden rules that name no rollback are called out
    assert any("none named" in t for card, t in listed if card == "gdpr-access-request")


def test_filters_by_lane_and_card_state(tools_web):
    web, api = tools_web
    table = api.get("/v1/tools").json()
    forbidden = rows(web.get("/tools", params={"lane": "forbidden"}, headers=HTML).text)
    assert len(forbidden) == sum(r["lane"] == "forbidden" for r in table) > 0
    assert all("forbidden" in t for _c, t in forbidden)
    assert api.post("/v1/documents/shipping-delay-reply/retire", json={}).status_code == 200
    retired = rows(web.get("/tools", params={"state": "retired"}, headers=HTML).text)
    assert {card for card, _t in retired} == {"shipping-delay-reply"}
    assert len(retired) == sum(r["card"] == "shipping-delay-reply" for r in api.get("/v1/tools").json())
    none = web.get("/tools", params={"lane": "forbidden", "state": "retired"}, headers=HTML).text
    assert rows(none) == [] and "No tool rules match." in none
    by_name = rows(web.get("/tools", params={"tool": "stripe.refund"}, headers=HTML).text)
    assert by_name and all("stripe" in t for _c, t in by_name)


def test_uncovered_tools_are_listed_with_counts(tools_web):
    web, api = tools_web
    assert "Every tool agents asked about is governed by a card." in web.get("/tools", headers=HTML).text
    for tool in ("crm.export_contacts", "crm.export_contacts", "billing.wire_transfer"):
        r = api.post("/v1/actions/check", json={"tool": tool, "parameters": {}})
        assert r.status_code == 200 and r.json()["decision"] == "stop_and_ask"
    page = web.get("/tools", headers=HTML).text
    row = re.search(r'data-testid="uncovered-crm.export_contacts">(.*?)</tr>', page, re.S).group(1)
    assert '<td class="num">2</td>' in row and "no_procedure" in row
    assert 'data-testid="uncovered-billing.wire_transfer"' in page


def test_agents_do_not_see_the_console_page(tools_web, runtime):
    with TestClient(create_app(runtime=runtime)) as agent:
        sign_in(agent, make_key(runtime.engine, "agent"))
        r = agent.get("/tools", headers=HTML)
        assert r.status_code == 403 and "<html" in r.text


@pytest.fixture
def served_kb(tmp_path, kb):
    """The example knowledge base served by uvicorn over a SQLite file: (base url, runtime, keys)."""
    from freshgate.app import build_runtime
    from tests.conftest import make_settings
    from tests.web.browser import live_server

    rt = build_runtime(make_settings(f"sqlite:///{tmp_path / 'tools.db'}"))
    assert run_sync(rt, [kb / "sources", kb / "sop_cards"]).failed == []
    keys = {"operator": make_key(rt.engine, "operator", label="ops-browser"), "agent": make_key(rt.engine, "agent")}
    with live_server(create_app(runtime=rt)) as base:
        yield base, rt, keys
    rt.close()


def test_journey_operator_reviews_the_permission_table(chromium, served_kb, shots):
    """An agent is stopped on a tool nobody governs; the operator finds it, filters the table to the
    forbidden rules and opens the card behind one of them (real Chromium)."""
    import httpx
    from playwright.sync_api import expect

    from tests.web.conftest import browser_sign_in

    base, _rt, keys = served_kb
    r = httpx.post(f"{base}/v1/actions/check", json={"tool": "crm.export_contacts", "parameters": {}}, timeout=30,
                   headers={"Authorization": f"Bearer {keys['agent']}"})
    assert r.status_code == 200 and r.json()["decision"] == "stop_and_ask"
    ctx = chromium.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    browser_sign_in(page, keys["operator"])
    page.get_by_role("link", name="Tools", exact=True).click()
    expect(page.get_by_role("heading", name="Tool permission table")).to_be_visible()
    expect(page.get_by_test_id("uncovered-crm.export_contacts")).to_contain_text("1")
    shots(page, "tools", keep=True)
    page.get_by_label("Lane").select_option("forbidden")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/tools\?lane=forbidden"))
    lanes = page.get_by_test_id("tool-rules").locator("span.lane")
    expect(lanes.first).to_be_visible()
    assert set(lanes.all_inner_texts()) == {"forbidden"}
    shots(page, "tools-forbidden")
    page.get_by_test_id("tool-rules").get_by_role("link", name="refund-over-5000").first.click()
    expect(page).to_have_url(re.compile(r"/documents/refund-over-5000$"))
    expect(page.locator("h1")).to_contain_text("Issue a refund over €5,000")
    ctx.close()
