"""Migrations cannot race: replicas starting together on a fresh database all come up (issue 10, item 3)."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from sqlalchemy import inspect

from freshgate import db
from tests.conftest import PG_ADMIN_URL
from tests.feed.procs import env_for, servers

MIGRATE = ("import sys, time; from freshgate import db; t = float(sys.argv[2]);"
           "time.sleep(max(0, t - time.time())); db.migrate(db.make_engine(sys.argv[1])); print('migrated')")


def _migrate_together(url: str, n: int = 3) -> list[subprocess.CompletedProcess]:
    import time

    start = str(time.time() + 3)  # every process imports first, then all migrate at the same instant
    procs = [subprocess.Popen([sys.executable, "-c", MIGRATE, url, start], env=env_for(url), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(n)]
    return [subprocess.CompletedProcess(p.args, p.wait(120), *p.communicate()) for p in procs]


def test_three_processes_migrate_a_fresh_database_at_once(database_url):
    results = _migrate_together(database_url)
    for r in results:
        assert r.returncode == 0 and "migrated" in r.stdout, r.stderr[-3000:]
    engine = db.make_engine(database_url)
    try:
        assert {"document", "alembic_version"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_three_processes_migrate_a_fresh_postgres_database(pg_database):
    import psycopg

    name = "fg_mig_" + uuid.uuid4().hex[:10]
    admin = PG_ADMIN_URL.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        for r in _migrate_together(url):
            assert r.returncode == 0 and "migrated" in r.stdout, r.stderr[-3000:]
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("n", [3])
def test_replicas_started_together_on_a_fresh_database_all_become_ready(database_url, tmp_path, n):
    with servers(database_url, tmp_path, n) as bases:
        assert len(bases) == n  # `servers` waited for every /healthz to say ready
