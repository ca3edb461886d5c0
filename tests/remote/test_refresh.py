"""Remote refresh against a real local HTTP server: new versions, 304s, unreachable after N failures."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import Session

from freshgate.app import run_sync
from freshgate.freshness.jobs import sweep
from freshgate.registry.service import RegistryService
from freshgate.remote.jobs import refresh
from tests.conftest import write_doc
from tests.remote.server import LocalServer

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def server():
    with LocalServer() as srv:
        srv.origin.put("/refunds.md", "# Refunds\n\n## Window\n\nRefunds within 30 days.\n", '"v1"')
        yield srv


def _register(runtime, tmp_path, url):
    runtime.registry_ctx.clock = lambda: T0
    runtime.settings.remote.allow_networks = ["127.0.0.0/8"]
    runtime.settings.remote.retries, runtime.settings.remote.backoff = 1, 0.01
    write_doc(tmp_path / "kb", "refunds.md", f"id: refunds\ntitle: Refunds\nowner: ana\nreview_every: 90d\n"
                                            f"last_verified: 2026-11-20\nurl: {url}",
              body="# Refunds\n\n## Window\n\nRefunds within 14 days.\n")
    assert run_sync(runtime, [tmp_path / "kb"]).failed == []


def _doc(runtime):
    with Session(runtime.engine) as s:
        svc = RegistryService(s, runtime.registry_ctx)
        doc = svc.get("refunds")
        return doc, svc.freshness([doc], T0 + timedelta(hours=1))[doc.id], svc.versions(doc.id)


def test_new_remote_content_becomes_a_changed_version_then_304_changes_nothing(runtime, tmp_path, server):
    _register(runtime, tmp_path, server.url("/refunds.md"))
    summary = refresh(runtime, T0)
    assert summary == {"documents": 1, "updated": 1}
    doc, fr, versions = _doc(runtime)
    assert fr.state == "changed"  # the owner must re-verify what the remote source now says
    assert versions[0].origin == "remote" and versions[0].created_by == "remote-refresh"
    assert versions[0].content == "# Refunds\n\n## Window\n\nRefunds within 30 days.\n"
    assert doc.http_etag == '"v1"' and doc.last_fetched_at is not None and doc.fetch_failures == 0
    revision = doc.revision

    assert refresh(runtime, T0 + timedelta(minutes=15)) == {"documents": 1, "not_modified": 1}
    doc, _, versions_after = _doc(runtime)
    assert server.origin.conditional["/refunds.md"] == 1
    assert len(versions_after) == len(versions) and doc.revision == revision  # owners' If-Match stays valid

    server.origin.put("/refunds.md", "# Refunds\n\n## Window\n\nRefunds within 60 days.\n", '"v2"')
    assert refresh(runtime, T0 + timedelta(minutes=30)) == {"documents": 1, "updated": 1}
    doc, _, versions = _doc(runtime)
    assert doc.http_etag == '"v2"' and "60 days" in versions[0].content and doc.version == 3


def test_unreachable_after_n_failures_and_cleared_by_a_success(runtime, tmp_path, server):
    _register(runtime, tmp_path, server.url("/refunds.md"))
    refresh(runtime, T0)
    with Session(runtime.engine) as s:
        RegistryService(s, runtime.registry_ctx).verify("refunds", actor="ana")
        s.commit()
    sweep(runtime, T0)
    server.origin.down.add("/refunds.md")
    states = []
    for i in range(1, 4):
        out = refresh(runtime, T0 + timedelta(minutes=15 * i))
        assert out["failed"] == 1 and "HTTP 500" in out["errors"]["refunds"]
        doc, fr, _ = _doc(runtime)
        states.append((doc.fetch_failures, fr.state))
        sweep(runtime, T0 + timedelta(minutes=15 * i))
    assert states == [(1, "fresh"), (2, "fresh"), (3, "unreachable")]  # unreachable_after = 3
    server.origin.down.clear()
    assert refresh(runtime, T0 + timedelta(hours=2)) == {"documents": 1, "not_modified": 1}
    doc, fr, _ = _doc(runtime)
    assert doc.fetch_failures == 0 and fr.state == "fresh"
    summary = sweep(runtime, T0 + timedelta(hours=2))
    assert summary["by_transition"] == {"unreachable->fresh": 1}


def test_default_settings_refuse_a_loopback_url_and_count_it_as_a_failure(runtime, tmp_path, server):
    _register(runtime, tmp_path, server.url("/refunds.md"))
    runtime.settings.remote.allow_networks = []
    out = refresh(runtime, T0)
    assert out["refused"] == 1 and "loopback" in out["errors"]["refunds"]
    doc, _, versions = _doc(runtime)
    assert server.origin.hits["/refunds.md"] == 0
    assert doc.fetch_failures == 1 and len(versions) == 1 and "14 days" in versions[0].content


def test_remote_markdown_with_front_matter_stores_only_the_body(runtime, tmp_path, server):
    server.origin.put("/refunds.md", "---\ntitle: Refunds\nowner: someone-else\n---\n# Refunds\n\nNew rule.\n", '"fm"')
    _register(runtime, tmp_path, server.url("/refunds.md"))
    refresh(runtime, T0)
    doc, _, versions = _doc(runtime)
    assert versions[0].content == "# Refunds\n\nNew rule.\n" and doc.owner_id == "ana"
