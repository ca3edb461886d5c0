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

# One pytest process hosts hundreds of apps: none of them may gc.freeze() the whole test process's heap
# once its index is ready (server.gc_freeze; tests/test_heap.py turns it on where it is the subject).
os.environ.setdefault("FRESHGATE_SERVER__GC_FREEZE", "false")
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


_KEY_DIR: list[Path] = []


def temp_key_file() -> str:
    """A key file path outside the repository (the first-start key must never land in the work tree)."""
    if not _KEY_DIR:
        import tempfile

        _KEY_DIR.append(Path(tempfile.mkdtemp(prefix="freshgate-test-keys-")))
    return str(_KEY_DIR[0] / f"key-{uuid.uuid4().hex[:8]}")


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
    if "auth" not in overrides:
        s.auth.key_file = temp_key_file()
        s.auth.allowed_hosts = ["testserver"]  # TestClient's Host header
    return s


def make_key(engine, role: str = "operator", owner: str | None = None, label: str | None = None) -> str:
    """A raw API key of a role, created directly in the database (the owner must exist for owner keys)."""
    from sqlmodel import Session

    from freshgate.auth.service import KeyService

    with Session(engine) as session:
        _, raw = KeyService(session).create(label or f"test {role} {owner or ''}".strip(), role, owner)
        session.commit()
    return raw


def bearer(raw: str) -> dict[str, str]:
    """The Authorization header of a key."""
    return {"Authorization": f"Bearer {raw}"}


def ensure_owner(engine, owner_id: str) -> None:
    """Create an owner if missing (owner keys act for an existing owner)."""
    from freshgate.registry.service import RegistryService

    from freshgate import db

    with db.session_scope(engine) as session:
        RegistryService(session).ensure_owner(owner_id, owner_id, f"{owner_id}@example.com", actor="test")


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
def operator_key(runtime) -> str:
    """A raw operator key on the test database."""
    return make_key(runtime.engine, "operator", label="test operator")


@pytest.fixture
def client(runtime, operator_key) -> TestClient:
    """An API client on the test runtime, authenticated as an operator (the app's lifespan runs here)."""
    with TestClient(create_app(runtime=runtime), headers=bearer(operator_key)) as c:
        yield c


@pytest.fixture
def client_as(client, runtime):
    """`client_as(role, owner=None)`: a client of the same running app with a new key of that role
    (role None = no credential). Owner keys need an existing owner (created if missing)."""

    def make(role: str | None, owner: str | None = None) -> TestClient:
        if role is None:
            return TestClient(client.app)
        if owner:
            ensure_owner(runtime.engine, owner)
        return TestClient(client.app, headers=bearer(make_key(runtime.engine, role, owner)))

    return make


@pytest.fixture
def agent_client(client_as) -> TestClient:
    """A client with an agent key."""
    return client_as("agent")


@pytest.fixture
def anon_client(client_as) -> TestClient:
    """A client without any credential."""
    return client_as(None)


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
