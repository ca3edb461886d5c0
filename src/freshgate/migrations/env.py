"""Alembic environment: runs on the connection handed over by freshgate.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import freshgate.models_all  # noqa: F401 - registers every table on SQLModel.metadata

config = context.config
target_metadata = SQLModel.metadata


def run() -> None:
    """Run migrations online on the given connection, or on a fresh engine from the URL."""
    connection = config.attributes.get("connection")
    if connection is None:
        from freshgate.db import make_engine

        engine = make_engine(config.get_main_option("sqlalchemy.url"))
        with engine.begin() as conn:
            _run(conn)
        return
    _run(connection)


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


run()
