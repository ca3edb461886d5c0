"""Operator journeys in a real headless Chromium against the real server (uvicorn, SQLite file; one on PostgreSQL)."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.web.conftest import browser_sign_in

QUESTION = "refund window for monthly plans"


def ask(served, query: str = QUESTION) -> dict:
    """A lookup over HTTP, as an agent makes it (with an agent key)."""
    base, _, keys = served
    r = httpx.post(f"{base}/v1/lookup", json={"query": query}, timeout=30,
                   headers={"Authorization": f"Bearer {keys['agent']}"})
    assert r.status_code == 200, r.text
    return r.json()


def queue_size(page) -> int:
    return int(page.get_by_test_id("queue-size").inner_text().split()[0])


def _verify_from_queue(page, shots, prefix: str) -> None:
    page.goto("/review")
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    before = queue_size(page)
    row = page.get_by_test_id("row-returns")
    expect(row).to_contain_text("stale")
    shots(page, f"{prefix}review-queue", keep=True)
    row.get_by_role("button", name="Verify returns").click()
    expect(page.get_by_test_id("flash")).to_have_text("Verified returns: it is fresh again.")
    expect(page.get_by_test_id("row-returns")).to_have_count(0)
    assert queue_size(page) == before - 1
    page.get_by_role("link", name="Documents", exact=True).click()
    page.get_by_role("link", name="returns", exact=True).click()
    expect(page.get_by_test_id("state-banner")).to_contain_text("Fresh")
    expect(page.locator("h1 .badge")).to_have_text("fresh")
    shots(page, f"{prefix}document-verified")


def test_operator_verifies_a_stale_document_from_the_queue(page, served, shots):
    _verify_from_queue(page, shots, "")


@pytest.mark.parametrize("served", ["postgres"], indirect=True)
def test_operator_verifies_on_postgres(page, served, shots):
    _verify_from_queue(page, shots, "pg-")


def test_operator_dismisses_a_conflict_then_reopens_it(page, served, shots):
    stopped = ask(served)
    assert stopped["decision"] == "stop_and_ask" and "conflict" in [r["code"] for r in stopped["reasons"]]
    page.goto("/conflicts")
    shots(page, "conflicts")
    page.locator("table a[href^='/conflicts/']").first.click()
    expect(page.get_by_test_id("side-a").locator("mark")).to_have_count(1)
    expect(page.get_by_test_id("side-b").locator("mark")).to_have_count(1)
    expect(page.get_by_role("link", name=stopped["evaluated_at"][:10], exact=False).first).to_be_visible()
    shots(page, "conflict-detail", keep=True)
    page.get_by_label("Why it is not a real conflict (required)").fill("Monthly and annual plans differ on purpose")
    page.get_by_role("button", name="Dismiss").click()
    expect(page.get_by_test_id("flash")).to_contain_text("lookups no longer stop on it")
    expect(page.locator("h1 .badge")).to_have_text("dismissed")
    who = page.get_by_test_id("who").inner_text()
    expect(page.get_by_test_id("verdict-by")).to_have_text(who)
    after = ask(served)
    assert "conflict" not in [r["code"] for r in after["reasons"]]
    assert after["decision"] != "stop_and_ask" or after["reasons"][0]["code"] != "conflict"
    page.goto("/audit?action=conflict_dismissed")
    expect(page.locator("table")).to_contain_text(who)
    expect(page.locator("table")).to_contain_text("Monthly and annual plans differ on purpose")
    shots(page, "audit")
    page.go_back()
    page.get_by_label("Why it should be looked at again (required)").fill("Annual plans changed too")
    page.get_by_role("button", name="Reopen").click()
    expect(page.locator("h1 .badge")).to_have_text("open")
    assert "conflict" in [r["code"] for r in ask(served)["reasons"]]


def test_a_stale_form_says_someone_changed_it(page, served, shots):
    base, _, keys = served
    page.goto("/documents/shipping")
    revision = page.locator("input[name=revision]").first.input_value()
    r = httpx.post(f"{base}/v1/documents/shipping/verify", json={"note": "meanwhile"}, timeout=30,
                   headers={"Authorization": f"Bearer {keys['operator']}"})
    assert r.status_code == 200 and str(r.json()["revision"]) != revision
    page.get_by_label("Note (optional)").fill("my check")
    page.get_by_role("button", name="Verify: the content is right as of today").click()
    expect(page.get_by_test_id("flash")).to_contain_text("Someone changed shipping while you had it open")
    expect(page.locator("input[name=revision]").first).to_have_value(str(r.json()["revision"]))
    shots(page, "stale-form", keep=True)


def test_api_docs_render_offline(chromium, served, shots):
    base = served[0]
    ctx = chromium.new_context(base_url=base)
    outside: list[str] = []

    def only_local(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    ctx.route("**/*", only_local)
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Freshgate")
    expect(page.locator(".opblock").first).to_be_visible()
    shots(page, "docs", keep=True)
    page.goto("/redoc")
    expect(page.locator("h1").first).to_contain_text("Freshgate")
    shots(page, "redoc")
    assert outside == []
    ctx.close()


def test_every_action_works_without_javascript(chromium, served, shots):
    ctx = chromium.new_context(base_url=served[0], java_script_enabled=False)
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    browser_sign_in(page, served[2]["operator"])
    page.goto("/review")
    page.get_by_test_id("row-returns").get_by_role("button", name="Verify returns").click()
    expect(page.get_by_test_id("flash")).to_have_text("Verified returns: it is fresh again.")
    page.get_by_role("link", name="Edit refunds").click()  # no JavaScript: the document's own form
    expect(page).to_have_url(f"{served[0]}/documents/refunds#edit")
    expect(page.get_by_label("Content (Markdown)")).to_be_visible()
    page.goto("/no/such/page")
    expect(page.get_by_test_id("error")).to_contain_text("There is no page at this address.")
    shots(page, "error-404")
    ctx.close()


def test_operator_edits_a_document_inline_in_the_queue(page, served, shots):
    page.goto("/review")
    row = page.get_by_test_id("row-returns")
    row.get_by_role("link", name="Edit returns").click()
    editor = row.get_by_test_id("inline-edit-returns")
    expect(editor).to_be_visible()
    expect(page).to_have_url(f"{served[0]}/review")  # the editor opened in the row, not on another page
    box = editor.get_by_label("Content of returns (Markdown)")
    expect(box).to_have_value(re.compile("prepaid label"))
    shots(page, "review-inline-edit", keep=True)
    box.fill("# Returns process\n\n## Printing the label\n\nCustomers print the label from the returns page.\n")
    editor.get_by_label("I also verify the new content").check()
    editor.get_by_role("button", name="Save a new version of returns").click()
    expect(page.get_by_test_id("flash")).to_have_text("Saved a new version of returns.")
    expect(page).to_have_url(re.compile(r"/review\?done=update"))
    expect(page.get_by_test_id("row-returns")).to_have_count(0)  # verified with the edit: no longer in the queue
    page.goto("/documents/returns")
    expect(page.locator("main")).to_contain_text("from the returns page")


PAGES = ["/", "/review", "/conflicts", "/conflicts/1", "/documents", "/documents/refunds", "/receipts", "/unanswered",
         "/owners", "/audit", "/keys", "/sign-in"]


def test_every_page_is_labelled_keyboard_reachable_and_screenshotted(page, served, shots):
    receipt = ask(served)["receipt_id"]
    ask(served, "xylophone quokka")
    for path in PAGES + [f"/receipts/{receipt}"]:
        page.goto(path)
        expect(page.locator("main")).to_be_visible()
        unlabelled = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.outerHTML)""")
        assert unlabelled == [], (path, unlabelled)
        name = path.strip("/").replace("/", "-") or "overview"
        shots(page, name if not name.startswith("receipts-") else "receipt",
              keep=name in ("overview", "documents", "documents-refunds", "unanswered") or name.startswith("receipts-"))
    page.goto("/")
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()


def test_owner_sees_their_items_first_and_is_refused_on_someone_elses(anon_page, served, shots):
    page = anon_page
    page.goto("/review")
    expect(page).to_have_url(f"{served[0]}/sign-in?next=/review")
    shots(page, "sign-in", keep=True)
    page.get_by_label("API key").fill("fg_000000000000_wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("That key is not valid")
    page.get_by_label("API key").fill(served[2]["alice"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("who")).to_have_text("alice")
    expect(page.get_by_test_id("role")).to_have_text("owner")
    page.get_by_role("link", name="Review queue").click()
    first = page.locator("main section h2").first
    expect(first).to_have_text("My items — alice")
    expect(page.get_by_test_id("row-faq")).to_contain_text("Belongs to bob: ask them or an operator.")
    expect(page.get_by_role("link", name="Audit")).to_have_count(0)
    shots(page, "owner-review-queue", keep=True)
    page.goto("/documents/faq")
    expect(page.get_by_test_id("not-yours")).to_contain_text("belongs to bob")
    expect(page.get_by_role("button", name="Verify: the content is right as of today")).to_have_count(0)
    shots(page, "owner-not-yours", keep=True)
    # Even a hand-made form is refused by the same check as the API, with a clear page.
    token = page.goto("/documents/returns") and page.locator("input[name=csrf]").first.input_value()
    page.set_content(f'<form method="post" action="{served[0]}/documents/faq/verify">'
                     f'<input type="hidden" name="csrf" value="{token}"><button>go</button></form>')
    page.get_by_role("button", name="go").click()
    expect(page.get_by_test_id("error")).to_contain_text("may not act on faq, owned by bob")
    shots(page, "owner-refused")
    page.goto("/audit")
    expect(page.get_by_test_id("error")).to_contain_text("role owner may not do this")
