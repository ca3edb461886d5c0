"""The operator dashboard renders the registry's real state."""

from freshgate.app import run_sync


def test_dashboard_lists_documents_with_states_and_filters(runtime, client, kb):
    run_sync(runtime, [kb / "sources", kb / "sop_cards"])
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Refund policy" in page.text
    assert 'class="badge expired"' in page.text and 'class="badge orphaned"' in page.text
    only_expired = client.get("/", params={"state": "expired"}).text
    assert "winter-promotion" in only_expired and "refund-policy" not in only_expired


def test_document_page_shows_reasons_owner_and_audit(runtime, client, kb):
    run_sync(runtime, [kb / "sources", kb / "sop_cards"])
    client.post("/v1/documents/warranty-policy/verify", json={"note": "checked"})
    page = client.get("/documents/warranty-policy").text
    assert "team-support" in page and "verify" in page and "register" in page
    missing = client.get("/documents/no-such-doc")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
