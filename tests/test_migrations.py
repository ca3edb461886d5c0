"""The Alembic head builds exactly the schema the SQLModel tables describe (on both databases)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import freshgate.models_all  # noqa: F401 - every table on SQLModel.metadata
from freshgate import db


def test_migrated_schema_matches_the_models(runtime):
    with runtime.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
        diffs = compare_metadata(ctx, SQLModel.metadata)
    assert diffs == [], "models changed without a migration (or a migration differs from its models):\n" + \
        "\n".join(map(str, diffs))


def test_migrations_are_idempotent_and_reach_every_table(runtime):
    db.migrate(runtime.engine)  # a second upgrade to head is a no-op
    tables = set(inspect(runtime.engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
    assert "alembic_version" in tables
