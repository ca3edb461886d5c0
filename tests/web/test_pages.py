"""Server-rendered console pages show the registry's real state (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

from freshgate.app import run_sync
from tests.conftest import write_doc
from tests.web.conftest import HTML, conflict_id, csrf, submit


def _lookup(client, query):
    r = client.post("/v1/lookup", json={"query": query})
    assert r.status_code == 200, r.text
    return r.json()


def test_overview_counts_decisions_conflicts_queue_and_gaps(kb_rt, client, web):
    _lookup(client, "refund window for monthly plans")
    _lookup(client, "xylophone quokka")
    stale = _lookup(client, "customers print the prepaid label from the order page")
    assert "stale" in [c["state"] for c in stale["citations"]]
    page = web.get("/", headers=HTML)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    text = page.text
    assert 'data-testid="open-conflicts">1<' in text
    assert re.search(r'data-testid="queue-total">\d+<', text)
    assert "<svg" in text  # the 8-week chart
    assert "stop_and_ask" in text and "conflict" in text  # decisions and the stop reason
    assert "xylophone quokka" in text  # top unanswered topic
    assert 'href="/review?owner=alice"' in text and 'href="/review?owner=bob"' in text  # queue per owner
    assert "No job has run yet" in text
    assert 'data-testid="served-stale-7">1<' in text and 'data-testid="served-stale-30">1<' in text


def test_review_queue_verify_removes_the_stale_item(kb_rt, client, web):
    page = web.get("/review", headers=HTML).text
    before = int(re.search(r'data-testid="queue-size">(\d+) item', page).group(1))
    assert 'data-testid="row-returns"' in page and "Verify returns" in page
    r = submit(web, "/documents/returns/verify", {"back": "/review"}, page="/review")
    assert r.status_code == 303 and r.headers["location"].startswith("/review?done=verify&on=returns")
    after_page = web.get(r.headers["location"], headers=HTML).text
    assert "Verified returns: it is fresh again." in after_page
    assert 'data-testid="row-returns"' not in after_page
    assert int(re.search(r'data-testid="queue-size">(\d+) item', after_page).group(1)) == before - 1
    assert client.get("/v1/documents/returns").json()["state"] == "fresh"
    audit = client.get("/v1/documents/returns/audit").json()
    assert audit[0]["action"] == "verify" and audit[0]["actor"]


def test_forms_without_a_csrf_token_change_nothing(kb_rt, client, web):
    web.get("/review", headers=HTML)
    r = web.post("/documents/returns/verify", data={"csrf": "forged"}, headers=HTML)
    assert r.status_code == 403 and "reload the page" in r.text and "<html" in r.text
    assert client.get("/v1/documents/returns").json()["state"] == "stale"


def test_review_queue_filters_and_inline_conflict_forms(kb_rt, client, web):
    only_bob = web.get("/review", params={"owner": "bob"}, headers=HTML).text
    assert 'data-testid="row-faq"' in only_bob and 'data-testid="row-returns"' not in only_bob
    assert f'/conflicts/{conflict_id(client)}/dismiss' in only_bob
    stale_only = web.get("/review", params={"state": "stale"}, headers=HTML).text
    assert 'data-testid="row-returns"' in stale_only and 'data-testid="row-faq"' not in stale_only


def test_conflict_detail_side_by_side_and_verdicts(kb_rt, client, web):
    cid = conflict_id(client)
    stopped = _lookup(client, "refund window for monthly plans")
    assert stopped["decision"] == "stop_and_ask"
    page = web.get(f"/conflicts/{cid}", headers=HTML).text
    assert "<mark>30 days</mark>" in page and "<mark>14 days</mark>" in page
    assert "alice" in page and "bob" in page
    assert f'/receipts/{stopped["receipt_id"]}' in page  # the lookup that stopped on it
    no_reason = submit(web, f"/conflicts/{cid}/dismiss", {"reason": " "}, page=f"/conflicts/{cid}")
    assert no_reason.status_code == 422 and "needs a reason" in no_reason.text
    r = submit(web, f"/conflicts/{cid}/dismiss", {"reason": "different plans"}, page=f"/conflicts/{cid}")
    assert r.status_code == 303
    page = web.get(f"/conflicts/{cid}", headers=HTML).text
    assert 'class="badge dismissed"' in page and "“different plans”" in page
    assert "conflict_dismissed" in page  # the history names who did it
    assert _lookup(client, "refund window for monthly plans")["decision"] != "stop_and_ask"
    listed = web.get("/conflicts", params={"status": "dismissed"}, headers=HTML).text
    assert f'href="/conflicts/{cid}"' in listed
    assert f'href="/conflicts/{cid}"' not in web.get("/conflicts", params={"status": "open"}, headers=HTML).text


def test_document_page_banner_diff_receipts_and_stale_form(kb_rt, client, web):
    _lookup(client, "refund window for monthly plans")
    page = web.get("/documents/refunds", headers=HTML).text
    assert 'data-testid="state-banner"' in page and "In 1 open conflict(s)" in page
    assert "refund window for monthly plans" in page  # the receipt that relied on it
    rev = client.get("/v1/documents/refunds").json()["revision"]
    token = csrf(web, "/documents/refunds")
    body = client.get("/v1/documents/refunds").json()["content"].replace("30 days", "21 days")
    r = web.post("/documents/refunds/content", data={"csrf": token, "revision": rev, "content": body},
                    headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    page = web.get("/documents/refunds", params={"a": 1, "b": 2}, headers=HTML).text
    assert '<span class="del">-Refunds for monthly plans are available within 30 days' in page
    assert '<span class="add">+Refunds for monthly plans are available within 21 days' in page
    # A form made from the old revision: "someone changed this", nothing saved.
    r = web.post("/documents/refunds/verify", data={"csrf": token, "revision": rev}, headers=HTML,
                    follow_redirects=False)
    assert r.status_code == 303 and "done=stale" in r.headers["location"]
    again = web.get(r.headers["location"], headers=HTML).text
    assert "Someone changed refunds while you had it open; nothing was saved." in again
    assert client.get("/v1/documents/refunds").json()["state"] == "changed"


def test_documents_search_facets_and_pages(kb_rt, client, web, tmp_path, monkeypatch):
    many = tmp_path / "many"
    for n in range(60):
        write_doc(many, f"bulk-{n:02d}.md", f"id: bulk-{n:02d}\ntitle: Bulk {n}\nowner: carol\nreview_every: 90d\n"
                  f"last_verified: -1d\ntags: [bulk]")
    assert run_sync(kb_rt, [many]).failed == []
    first = web.get("/documents", headers=HTML).text
    assert "Page 1 of 2" in first and 'rel="next"' in first
    second = web.get("/documents", params={"page": 2}, headers=HTML).text
    assert "Page 2 of 2" in second and "shipping" in second
    from freshgate.web import catalog

    monkeypatch.setattr(catalog, "DEEP", 1)  # deep pages take their ids from the memoised list: same page
    rows = re.compile(r'<tr>.*?</tr>', re.S)
    deep = web.get("/documents", params={"page": 2}, headers=HTML).text
    assert "Page 2 of 2" in deep and len(rows.findall(second)) > 5 and rows.findall(deep) == rows.findall(second)
    found = web.get("/documents", params={"q": "RETURNS"}, headers=HTML).text
    assert 'href="/documents/returns"' in found and "1 match" in found
    stale = web.get("/documents", params={"state": "stale"}, headers=HTML).text
    assert 'href="/documents/returns"' in stale and 'href="/documents/bulk-00"' not in stale
    tagged = web.get("/documents", params={"tag": "bulk", "owner": "carol"}, headers=HTML).text
    assert "60 match" in tagged and ">bulk</a> 60" in tagged


def test_receipts_receipt_and_unanswered(kb_rt, client, web):
    stop = _lookup(client, "refund window for monthly plans")
    _lookup(client, "how long do we keep shipping parcels in the warehouse venlo")
    _lookup(client, "xylophone quokka")
    stops = web.get("/receipts", params={"decision": "stop_and_ask"}, headers=HTML).text
    assert f'/receipts/{stop["receipt_id"]}' in stops
    by_doc = web.get("/receipts", params={"document": "shipping"}, headers=HTML).text
    assert f'/receipts/{stop["receipt_id"]}' not in by_doc
    one = web.get(f"/receipts/{stop['receipt_id']}", headers=HTML).text
    assert "<code>conflict</code>" in one and 'href="/documents/refunds"' in one
    gaps = web.get("/unanswered", headers=HTML).text
    assert "xylophone quokka" in gaps and "Draft a source" in gaps


def test_owners_deactivate_and_audit_filter(kb_rt, client, web):
    assert "Deactivate carol" in web.get("/owners", headers=HTML).text
    r = submit(web, "/owners/carol/deactivate", {}, page="/owners")
    assert r.status_code == 303
    assert client.get("/v1/documents/shipping").json()["state"] == "orphaned"
    assert "Activate carol" in web.get("/owners", headers=HTML).text
    log = web.get("/audit", params={"action": "owner_deactivated"}, headers=HTML).text
    assert "owner carol" in log and "<td>register</td>" not in log


def test_browsers_get_html_errors_and_api_clients_problem_json(kb_rt, client, web):
    page = web.get("/documents/no-such-doc", headers=HTML)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "no document with id" in page.text and 'href="/"' in page.text
    api = client.get("/v1/documents/no-such-doc")
    assert api.status_code == 404 and api.headers["content-type"].startswith("application/problem+json")
    nowhere = web.get("/no/such/page", headers=HTML)
    assert nowhere.status_code == 404 and "There is no page at this address." in nowhere.text
    assert web.get("/no/such/page").json()["status"] == 404
    bad = web.get("/documents", params={"page": "x"}, headers=HTML)
    assert bad.status_code == 422 and "<li><strong>page</strong>" in bad.text


def test_api_docs_use_only_packaged_assets(kb_rt, client, web):
    for path in ("/docs", "/redoc"):
        html = client.get(path).text
        urls = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)
        assert urls and all(u.startswith("/") for u in urls), urls
        for u in urls:
            if u.startswith("/static/"):
                assert client.get(u).status_code == 200, u
    assert "SwaggerUIBundle" in web.get("/docs").text
    assert web.get("/static/vendor/htmx.min.js").status_code == 200


def test_retire_with_successor_and_transfer_from_the_queue(kb_rt, client, web):
    bad = submit(web, "/documents/returns/retire", {"successor": "nope", "back": "/review"}, page="/review")
    assert bad.status_code == 422 and "successor &#39;nope&#39; does not exist" in bad.text
    r = submit(web, "/documents/returns/retire", {"successor": "shipping", "reason": "merged", "back": "/review"},
               page="/review")
    assert r.status_code == 303 and "done=retire" in r.headers["location"]
    doc = client.get("/v1/documents/returns").json()
    assert doc["status"] == "retired" and doc["successor"] == "shipping"
    assert 'data-testid="row-returns"' not in web.get("/review", headers=HTML).text
    r = submit(web, "/documents/faq/transfer", {"owner": "carol", "back": "/review"}, page="/review")
    assert r.status_code == 303
    assert client.get("/v1/documents/faq").json()["owner"] == "carol"
    page = web.get("/review", params={"owner": "carol"}, headers=HTML).text
    assert 'data-testid="row-faq"' in page


def test_inline_editor_is_a_fragment_for_htmx_and_the_document_form_without_it(kb_rt, client, web, owner_web):
    queue = web.get("/review", headers=HTML).text
    assert 'hx-get="/documents/returns/edit?back=/review"' in queue and 'href="/documents/returns#edit"' in queue
    plain = web.get("/documents/returns/edit", headers=HTML, follow_redirects=False)
    assert plain.status_code == 303 and plain.headers["location"] == "/documents/returns#edit"
    frag = web.get("/documents/returns/edit", params={"back": "/review?owner=alice"},
                   headers={**HTML, "HX-Request": "true"})
    assert frag.status_code == 200 and "<html" not in frag.text
    revision = client.get("/v1/documents/returns").json()["revision"]
    assert f'name="revision" value="{revision}"' in frag.text and "prepaid label" in frag.text
    assert 'name="back" value="/review?owner=alice"' in frag.text
    token = re.search(r'name="csrf" value="([^"]+)"', frag.text).group(1)
    r = web.post("/documents/returns/content", headers=HTML, follow_redirects=False, data={
        "csrf": token, "revision": str(revision), "back": "/review?owner=alice", "content": "# Returns\n\nNew text.\n"})
    assert r.status_code == 303 and r.headers["location"].startswith("/review?owner=alice&done=update")
    assert client.get("/v1/documents/returns").json()["version"] == 2
    refused = owner_web.get("/documents/faq/edit", headers={**HTML, "HX-Request": "true"})  # alice, bob's document
    assert refused.status_code == 403 and "may not act on faq" in refused.text
