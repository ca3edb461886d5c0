"""Shared fixtures: every database test runs on a SQLite file and on real PostgreSQL.

PostgreSQL: one database per test session, one schema per test (search_path), so tests
are isolated and fast. In CI (CI=true) an unreachable PostgreSQL fails the run instead of
skipping: the Postgres tests must run there.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from freshgate.app import Runtime, build_runtime, create_app
from freshgate.config import Settings

PG_ADMIN_URL = os.environ.get("FRESHGATE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)


def _pg_available() -> str | None:
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), connect_timeout=3):
            return None
    except Exception as exc:  # noqa: BLE001
        return str(exc)


@pytest.fixture(scope="session")
def pg_database() -> str:
    """A fresh PostgreSQL database for this test session; its URL."""
    problem = _pg_available()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but unreachable: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    import psycopg

    name = f"freshgate_test_{os.getpid()}"
    admin = PG_ADMIN_URL.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> str:
    """A database URL, once for a SQLite file and once for a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'freshgate.db'}"
    base = request.getfixturevalue("pg_database")
    import psycopg

    schema = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(base.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    request.addfinalizer(lambda: _drop_schema(base, schema))
    return f"{base}?options=-csearch_path%3D{schema}"


def _drop_schema(base: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(base.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def make_settings(database_url: str, **overrides) -> Settings:
    """Settings for tests: the given database, no scheduler, no model unless asked."""
    s = Settings(database_url=database_url, **overrides)
    s.server.scheduler = False
    s.lookup.warm_up = False  # the model loads on the first lookup, not at every app start
    # Fixtures name owners without contacts ("owner: dana"); tests/feed/test_unknown_owner.py checks the rule.
    if not database_url.startswith("sqlite"):
        s.feed.snapshot_dir = ""  # no index snapshots per PostgreSQL test schema in ~/.cache
    if "freshness" not in overrides:
        s.freshness.owner_contact_required = False
    return s


@pytest.fixture
def settings(database_url) -> Settings:
    """Test settings on the parametrised database."""
    return make_settings(database_url)


@pytest.fixture
def runtime(settings) -> Runtime:
    """A migrated runtime on the test database."""
    rt = build_runtime(settings)
    yield rt
    rt.close()


@pytest.fixture
def client(runtime) -> TestClient:
    """An API client on the test runtime."""
    with TestClient(create_app(runtime=runtime)) as c:
        yield c


@pytest.fixture
def kb(tmp_path) -> Path:
    """A private copy of the example knowledge base (sources/ and sop_cards/)."""
    import shutil

    root = tmp_path / "kb"
    shutil.copytree(REPO / "sources", root / "sources")
    shutil.copytree(REPO / "sop_cards", root / "sop_cards")
    return root


def write_doc(directory: Path, name: str, front: str, body: str = "# Title\n\n## Section\n\nSome text.\n") -> Path:
    """Write a registry Markdown file with the given front matter lines."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"---\n{front.strip()}\n---\n{body}", encoding="utf-8")
    return path
