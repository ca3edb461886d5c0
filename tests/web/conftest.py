"""Console fixtures: a small registry with a stale document and a real conflict, and form helpers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from freshgate.app import run_sync
from freshgate.embeddings.embedder import HashingEmbedder
from tests.conflicts.conftest import FAQ, REFUNDS, SHIPPING, add_doc
from tests.conftest import write_doc

STALE = """id: returns
title: Returns process
owner: alice
criticality: high
review_every: 90d
last_verified: -200d
verified_by: alice"""
RETURNS = "# Returns process\n\n## Printing the label\n\nCustomers print the prepaid label from the order page.\n"


def prepare(rt) -> None:
    """Hashing embedder, rules judge, built index (fast and deterministic)."""
    rt.settings.conflicts.judge = "rules"
    rt.settings.lookup.relevance_threshold = 0.2
    lk = rt.extras["lookup"]
    lk.use_embedder(HashingEmbedder())
    lk.warm_up()


def write_kb(d: Path) -> Path:
    """refunds (alice) and faq (bob) disagree on the refund window; returns (alice) is stale; shipping (carol)."""
    add_doc(d, "refunds", "alice", REFUNDS)
    add_doc(d, "faq", "bob", FAQ)
    add_doc(d, "shipping", "carol", SHIPPING)
    write_doc(d, "returns.md", STALE, RETURNS)
    return d


@pytest.fixture
def kb_rt(runtime, tmp_path):
    """The test runtime with the console's small registry synced and the conflict detected."""
    prepare(runtime)
    assert run_sync(runtime, [write_kb(tmp_path / "docs")]).failed == []
    return runtime


CSRF = re.compile(r'name="csrf" value="([^"]+)"')
HTML = {"accept": "text/html,application/xhtml+xml"}


def csrf(client, path: str = "/") -> str:
    """The CSRF token of a page's forms (sets the browser's CSRF cookie)."""
    page = client.get(path, headers=HTML)
    assert page.status_code == 200, page.text[:500]
    m = CSRF.search(page.text)
    assert m, f"no form with a CSRF token on {path}"
    return m.group(1)


def submit(client, path: str, data: dict, page: str = "/") -> object:
    """POST a console form the way a browser does (CSRF token from `page`), not following the redirect."""
    return client.post(path, data={"csrf": csrf(client, page), **data}, headers=HTML, follow_redirects=False)


def sign_in(client, raw_key: str) -> None:
    """Sign a console client in with an API key (a session cookie, as a browser gets)."""
    r = client.post("/sign-in", data={"csrf": csrf(client, "/sign-in"), "api_key": raw_key, "next": "/"},
                    headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and "freshgate_session" in r.headers.get("set-cookie", ""), r.text[:300]


@pytest.fixture
def web(kb_rt):
    """A browser-like client (no API key header) signed in to the console as an operator."""
    from fastapi.testclient import TestClient

    from freshgate.app import create_app
    from tests.conftest import make_key

    with TestClient(create_app(runtime=kb_rt)) as c:
        sign_in(c, make_key(kb_rt.engine, "operator", label="ops-console"))
        yield c


@pytest.fixture
def owner_web(kb_rt):
    """A console client signed in with alice's owner key."""
    from fastapi.testclient import TestClient

    from freshgate.app import create_app
    from tests.conftest import make_key

    with TestClient(create_app(runtime=kb_rt)) as c:
        sign_in(c, make_key(kb_rt.engine, "owner", owner="alice"))
        yield c


def conflict_id(client) -> int:
    """The one conflict of the small registry."""
    [c] = client.get("/v1/conflicts").json()
    return c["id"]


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the session's browser journeys."""
    from playwright.sync_api import expect

    from tests.web.browser import launch

    expect.set_options(timeout=30_000)  # the machine may be busy: wait for what a person would see, not a deadline
    pw, browser = launch()
    yield browser
    browser.close()
    pw.stop()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """A real SQLite file for a browser journey."""
    return f"sqlite:///{tmp_path / 'console.db'}"


@pytest.fixture
def served(request, tmp_path):
    """The console's small registry served by uvicorn on a free port over a SQLite file: (base url, runtime)."""
    from freshgate.app import build_runtime, create_app
    from tests.conftest import make_settings
    from tests.web.browser import live_server

    url = getattr(request, "param", None) or f"sqlite:///{tmp_path / 'console.db'}"
    if url == "postgres":
        url = request.getfixturevalue("database_url_pg")
    rt = build_runtime(make_settings(url))
    prepare(rt)
    assert run_sync(rt, [write_kb(tmp_path / "docs")]).failed == []
    from tests.conftest import make_key

    keys = {"operator": make_key(rt.engine, "operator", label="ops-browser"), "agent": make_key(rt.engine, "agent"),
            "alice": make_key(rt.engine, "owner", owner="alice")}
    with live_server(create_app(runtime=rt)) as base:
        yield base, rt, keys
    rt.close()


@pytest.fixture
def shots(tmp_path):
    """Save a page's screenshot into this test's output folder."""
    from tests.web.browser import Shots

    return Shots(tmp_path / "screens")


def browser_sign_in(p, raw_key: str) -> None:
    """Sign in through the sign-in form, as a person does."""
    p.goto("/sign-in")
    p.get_by_label("API key").fill(raw_key)
    p.get_by_role("button", name="Sign in").click()
    p.get_by_test_id("flash").wait_for()


@pytest.fixture
def anon_page(chromium, served):
    """A fresh browser page (own cookies), not signed in."""
    base = served[0]
    ctx = chromium.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    p = ctx.new_page()
    p.set_default_timeout(30_000)
    yield p
    ctx.close()


@pytest.fixture
def page(anon_page, served):
    """A browser page signed in as an operator."""
    browser_sign_in(anon_page, served[2]["operator"])
    return anon_page


@pytest.fixture
def database_url_pg(request) -> str:
    """A PostgreSQL schema of its own (for the one Postgres browser journey)."""
    import uuid

    import psycopg

    base = request.getfixturevalue("pg_database")
    schema = "t_" + uuid.uuid4().hex[:12]
    plain = base.replace("+psycopg", "")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")

    def drop():
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    request.addfinalizer(drop)
    return f"{base}?options=-csearch_path%3D{schema}"
