"""Fetching one remote source: SSRF refusals on every hop, caps, retries, conditional GET, content types."""

from __future__ import annotations

import asyncio
import ipaddress

import httpx
import pytest

from freshgate.remote.fetch import FetchPolicy, FetchResult, fetch
from tests.remote.server import LocalServer

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


def _get(url: str, policy: FetchPolicy, **kw) -> FetchResult:
    async def go():
        async with httpx.AsyncClient(trust_env=False) as client:
            return await fetch(client, url, policy, **kw)
    return asyncio.run(go())


@pytest.fixture
def server():
    with LocalServer() as srv:
        srv.origin.put("/doc.md", "# Refunds\n\n## Window\n\nRefunds within 30 days.\n", '"v1"')
        yield srv


def test_default_policy_refuses_loopback_and_never_connects(server):
    for url in (server.url("/doc.md"), server.url("/doc.md", host="localhost")):
        res = _get(url, FetchPolicy())
        assert res.status == "failed" and res.refused and "loopback" in res.error
    assert server.origin.hits["/doc.md"] == 0


@pytest.mark.parametrize("target", ["http://10.0.0.1/wiki", "http://169.254.169.254/latest/meta-data/",
                                    "http://[::ffff:10.0.0.1]/x", "http://0.0.0.0/"])
def test_redirect_to_a_private_address_is_refused_even_when_the_origin_is_allowed(server, target):
    res = _get(server.url(f"/redirect?to={target}"), FetchPolicy(allow_networks=LOOPBACK, retries=0))
    assert res.status == "failed" and res.refused
    assert "refused unless in remote.allow_networks" in res.error
    assert res.hops == [server.url(f"/redirect?to={target}")]  # the private hop was never requested


def test_redirect_within_allowed_addresses_is_followed_and_loops_stop(server):
    ok = _get(server.url("/redirect?to=/doc.md"), FetchPolicy(allow_networks=LOOPBACK))
    assert ok.status == "new" and "Refunds within 30 days." in ok.content
    assert ok.final_url == server.url("/doc.md")
    loop = _get(server.url("/loop"), FetchPolicy(allow_networks=LOOPBACK, max_redirects=5))
    assert loop.refused and "more than 5 redirects" in loop.error and server.origin.hits["/loop"] == 6


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://example.com/"])
def test_only_http_and_https_are_fetched(url):
    res = _get(url, FetchPolicy(allow_networks=LOOPBACK))
    assert res.refused and "only http and https" in res.error


def test_host_allow_list(server):
    res = _get(server.url("/doc.md", host="localhost"), FetchPolicy(allow_hosts=("127.0.0.1",), allow_networks=LOOPBACK))
    assert res.refused and "not in remote.allow_hosts" in res.error
    assert _get(server.url("/doc.md"), FetchPolicy(allow_hosts=("127.0.0.1",), allow_networks=LOOPBACK)).status == "new"


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
def test_oversized_responses_are_aborted(server, path):
    res = _get(server.url(path), FetchPolicy(allow_networks=LOOPBACK, max_bytes=1000))
    assert res.status == "failed" and "1000-byte limit" in res.error and res.content is None


def test_timeout_is_retried_then_reported(server):
    res = _get(server.url("/slow"), FetchPolicy(allow_networks=LOOPBACK, timeout=0.3, retries=1, backoff=0.01))
    assert res.status == "failed" and "timed out" in res.error and res.attempts == 2
    assert server.origin.hits["/slow"] == 2


def test_server_errors_are_retried_with_backoff_and_not_found_is_not(server):
    res = _get(server.url("/error"), FetchPolicy(allow_networks=LOOPBACK, retries=2, backoff=0.01))
    assert res.status == "failed" and "HTTP 500" in res.error and server.origin.hits["/error"] == 3
    missing = _get(server.url("/nope"), FetchPolicy(allow_networks=LOOPBACK, retries=2, backoff=0.01))
    assert "HTTP 404" in missing.error and server.origin.hits["/nope"] == 1


def test_conditional_get_returns_not_modified(server):
    first = _get(server.url("/doc.md"), FetchPolicy(allow_networks=LOOPBACK))
    assert first.status == "new" and first.etag == '"v1"' and first.last_modified
    again = _get(server.url("/doc.md"), FetchPolicy(allow_networks=LOOPBACK), etag=first.etag)
    assert again.status == "not_modified" and again.content is None and server.origin.conditional["/doc.md"] == 1


def test_front_matter_is_dropped_html_becomes_text_and_images_are_refused(server):
    server.origin.put("/fm.md", "---\nid: x\nowner: someone\n---\n# Body\n\nText.\n", '"a"')
    server.origin.put("/page.html", "<html><head><title>T</title><script>var x=1</script></head><body>"
                      "<h1>Shipping</h1><p>We ship in <b>2 days</b>.</p><h2>Returns</h2><p>30 days.</p></body></html>",
                      '"b"', "text/html; charset=utf-8")
    fm = _get(server.url("/fm.md"), FetchPolicy(allow_networks=LOOPBACK))
    assert fm.content == "# Body\n\nText.\n"
    page = _get(server.url("/page.html"), FetchPolicy(allow_networks=LOOPBACK))
    assert page.content == "# Shipping\n\nWe ship in 2 days.\n\n## Returns\n\n30 days.\n"
    img = _get(server.url("/image"), FetchPolicy(allow_networks=LOOPBACK))
    assert img.status == "failed" and "unsupported content type image/png" in img.error
