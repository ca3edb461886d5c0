"""Imports every domain's tables so SQLModel.metadata knows them (for Alembic and tests)."""

from freshgate.registry import models as _registry  # noqa: F401
