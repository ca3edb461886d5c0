"""Every serving process sees every committed change (issue 10, item 1), with real processes:
(a) `freshgate serve` on a SQLite file while separate `freshgate sync` processes add, edit, retire
and add-without-embedding; (b) two serve replicas and the CLI on one PostgreSQL database."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import write_doc
from tests.feed.procs import cli, operator_key, servers

FRONT = "id: {id}\ntitle: {title}\nowner: dana\nreview_every: 90d\nlast_verified: -5d\nverified_by: dana{extra}"
DEADLINE = 20.0  # a timeout for a broken feed, not a performance bar (bench/propagation_lag.py measures)


def doc(root: Path, doc_id: str, sections: dict[str, str], extra: str = "") -> None:
    """Write a source whose sections are `heading: text`."""
    body = f"# {doc_id}\n\n" + "".join(f"## {h}\n\n{t}\n\n" for h, t in sections.items())
    write_doc(root, f"{doc_id}.md", FRONT.format(id=doc_id, title=doc_id.title(), extra=extra), body)


KEY: dict[str, str] = {}  # the operator key's header of the running test (the API needs a credential)


def lookup(base: str, query: str) -> dict:
    r = httpx.post(base + "/v1/lookup", json={"query": query}, headers=KEY, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def cites(answer: dict) -> set[str]:
    return {c["cite"] for c in answer["citations"]}


def until(base: str, query: str, ok, *, never=None) -> tuple[dict, float]:
    """Ask until `ok(answer)`; every answer on the way must not satisfy `never`. (answer, seconds)."""
    t0 = time.monotonic()
    while True:
        a = lookup(base, query)
        if never is not None:
            assert not never(a), f"{query!r} answered {a['decision']} citing {sorted(cites(a))}"
        if ok(a):
            return a, time.monotonic() - t0
        assert time.monotonic() - t0 < DEADLINE, f"{query!r} still answers {a['decision']} {sorted(cites(a))}"
        time.sleep(0.05)


def sync(url: str, root: Path, *args: str) -> None:
    r = cli(url, "sync", str(root), *args)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'shared.db'}"


def test_serve_follows_syncs_of_another_process(sqlite_url, tmp_path):
    root = tmp_path / "kb" / "sources"
    doc(root, "harbour", {"Mooring": "mooring bollard hawser tides", "Kraken": "kraken ritual obsolete chant"})
    sync(sqlite_url, root)
    KEY.clear()
    KEY.update(operator_key(sqlite_url))
    with servers(sqlite_url, tmp_path) as (base,):
        assert "harbour#kraken" in cites(lookup(base, "kraken ritual chant"))
        # Add a document in another process.
        doc(root, "zoo", {"Quokka": "quokka zebra enclosure feeding"})
        sync(sqlite_url, root)
        _a, added = until(base, "quokka zebra enclosure", lambda a: "zoo#quokka" in cites(a))
        # Edit: one section removed, one added. The removed one is never cited again, not even in the lag.
        doc(root, "harbour", {"Mooring": "mooring bollard hawser tides", "Lighthouse": "lighthouse lantern beacon"})
        sync(sqlite_url, root)
        gone = lambda a: "harbour#kraken" in cites(a)  # noqa: E731
        assert not gone(lookup(base, "kraken ritual chant"))  # right after the commit
        _a, edited = until(base, "lighthouse lantern beacon", lambda a: "harbour#lighthouse" in cites(a), never=gone)
        # Retire through the file: lookups see the new status.
        doc(root, "zoo", {"Quokka": "quokka zebra enclosure feeding"}, extra="\nstatus: retired")
        sync(sqlite_url, root)
        until(base, "quokka zebra enclosure",
              lambda a: a["decision"] != "proceed" and all(c["state"] == "retired" for c in a["citations"]))
        # A sync that stores no embeddings: the server embeds the sections it learns about and serves them.
        doc(root, "orchard", {"Pruning": "pruning apple orchard shears"})
        sync(sqlite_url, root, "--no-embed")
        until(base, "pruning apple orchard", lambda a: "orchard#pruning" in cites(a))
        health = httpx.get(base + "/healthz", timeout=10).json()["feed"]
        assert health["index_watermark"] == health["db_watermark"] and health["lag_changes"] == 0
    print(f"propagation: add {added:.2f}s, edit {edited:.2f}s")


@pytest.fixture
def pg_url(pg_database) -> str:
    """A fresh schema of the session's PostgreSQL database (this test is PostgreSQL only: no SQLite variant
    to skip)."""
    import uuid

    import psycopg

    schema = "p_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_database.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{pg_database}?options=-csearch_path%3D{schema}"
    with psycopg.connect(pg_database.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_two_replicas_and_the_cli_agree_on_postgres(pg_url, tmp_path):
    database_url = pg_url
    root = tmp_path / "kb" / "sources"
    doc(root, "harbour", {"Mooring": "mooring bollard hawser tides", "Kraken": "kraken ritual obsolete chant"})
    doc(root, "zoo", {"Quokka": "quokka zebra enclosure feeding"})
    sync(database_url, root)
    headers = operator_key(database_url)
    KEY.clear()
    KEY.update(headers)
    with servers(database_url, tmp_path, 2) as (a, b):
        # Through replica A: replace harbour's content (the kraken section is deleted) ...
        r = httpx.put(a + "/v1/documents/harbour/content", timeout=30, headers=headers,
                      json={"content": "# harbour\n\n## Mooring\n\nmooring bollard hawser tides\n\n"
                                       "## Lighthouse\n\nlighthouse lantern beacon\n"})
        assert r.status_code == 200, r.text
        gone = lambda ans: "harbour#kraken" in cites(ans)  # noqa: E731
        assert not gone(lookup(b, "kraken ritual chant"))  # B never cites the deleted section
        until(b, "lighthouse lantern beacon", lambda ans: "harbour#lighthouse" in cites(ans), never=gone)
        # ... and retire zoo through A: B sees it retired.
        r = httpx.post(a + "/v1/documents/zoo/retire", json={}, headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        until(b, "quokka zebra enclosure", lambda ans: all(c["state"] == "retired" for c in ans["citations"])
              and ans["decision"] != "proceed")
        # Through the CLI: a new document reaches both replicas.
        doc(root, "orchard", {"Pruning": "pruning apple orchard shears"})
        sync(database_url, root)
        for base in (a, b):
            until(base, "pruning apple orchard", lambda ans: "orchard#pruning" in cites(ans))
        ha, hb = (httpx.get(x + "/healthz", timeout=10).json()["feed"] for x in (a, b))
        assert ha["listen"] and hb["listen"]
