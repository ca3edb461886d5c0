"""re-embed sections: what is embedded is now the heading path and the body (issue 14)

Stored embeddings were made from "title + section text". Clearing them makes the next start-up
(index build) embed every section again from its heading path and body, so old and new vectors
are never mixed in one index. No schema change.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE section SET embedding = NULL")


def downgrade() -> None:
    op.execute("UPDATE section SET embedding = NULL")  # the old texts are re-embedded the same way
