"""The Python client against a real HTTP server: lookups, owner actions, problem+json errors."""

import asyncio

import pytest

from freshgate.app import create_app
from freshgate.client import AsyncFreshgate, Freshgate, FreshgateAPIError
from tests.lookup.conftest import hashing_kb  # noqa: F401 - fixture
from tests.conftest import make_key
from tests.lookup.live import serve


@pytest.fixture
def base_url(hashing_kb, runtime):
    with serve(create_app(runtime=runtime)) as url:
        yield url


@pytest.fixture
def key(runtime, monkeypatch):
    """An operator key, also in $FRESHGATE_API_KEY (where the client finds a key nobody passed)."""
    raw = make_key(runtime.engine, "operator", label="client test")
    monkeypatch.setenv("FRESHGATE_API_KEY", raw)
    return raw


def test_sync_client_lookup_and_owner_actions(base_url, key):
    with Freshgate(base_url, api_key="fg_000000000000_wrongwrongwrongwrongwrong") as bad:
        with pytest.raises(FreshgateAPIError) as err:
            bad.document("billing-faq")
        assert err.value.status == 401 and err.value.code == "unauthenticated"
    with Freshgate(base_url, api_key=key) as fg:
        a = fg.lookup("refund window for monthly plans", tags=["refunds"])
        assert a["decision"] in ("proceed", "caution", "stop_and_ask") and a["receipt_id"]
        assert a["citations"] and all("refunds" in fg.document(c["document_id"])["tags"] for c in a["citations"])
        doc = fg.document("payment-failures-dunning")
        assert doc["state"] == "stale"
        renewed = fg.verify("payment-failures-dunning", if_match=doc["revision"])
        assert renewed["state"] == "fresh"
        with pytest.raises(FreshgateAPIError) as err:  # the old revision is stale now
            fg.verify("payment-failures-dunning", if_match=doc["revision"])
        assert err.value.status == 412 and err.value.code == "precondition_failed"
        assert fg.update("billing-faq", "# FAQ\n\n## New\n\nNew text.\n", on_behalf_of="priya.nair")["state"] == "changed"
        assert fg.transfer("billing-faq", "team-billing")["owner"] == "team-billing"
        assert fg.retire("winter-promotion", successor="pricing")["status"] == "retired"
        assert fg.receipts()[0]["id"] == a["receipt_id"]
        audit = {e["action"]: e["actor"] for e in fg._http.get("/v1/documents/billing-faq/audit").json()}
        assert audit["update"] == "priya.nair (by client test)" and audit["transfer"] == "client test"
        with pytest.raises(FreshgateAPIError) as err:
            fg.document("no-such-doc")
        assert err.value.status == 404 and err.value.problem["type"] == "/problems/not_found"


def test_async_client(base_url, key):
    async def go():
        async with AsyncFreshgate(base_url) as fg:  # the key comes from $FRESHGATE_API_KEY
            answers = await asyncio.gather(*(fg.lookup("refund window for monthly plans") for _ in range(4)))
            doc = await fg.document("refund-policy")
            with pytest.raises(FreshgateAPIError) as err:
                await fg.lookup("")
            return answers, doc, err.value

    answers, doc, err = asyncio.run(go())
    assert len({a["receipt_id"] for a in answers}) == 4 and doc["id"] == "refund-policy"
    assert err.status == 422 and err.problem["errors"][0]["field"] == "query"
