"""reliance: lookups and stops per document and UTC day (backfilled from receipts)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('reliance_daily',
    sa.Column('document_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('lookups', sa.Integer(), nullable=False),
    sa.Column('stops', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('document_id', 'day')
    )
    with op.batch_alter_table('reliance_daily', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reliance_daily_day'), ['day'], unique=False)
    # Receipts written before this table existed. SQLite stores UTC text; PostgreSQL timestamptz.
    day = "date(r.at)" if op.get_bind().dialect.name == "sqlite" else "CAST(r.at AT TIME ZONE 'UTC' AS date)"
    op.execute(
        f"INSERT INTO reliance_daily (document_id, day, lookups, stops)"
        f" SELECT rd.document_id, {day}, COUNT(*), SUM(CASE WHEN r.decision = 'stop_and_ask' THEN 1 ELSE 0 END)"
        f" FROM receipt_document rd JOIN lookup_receipt r ON r.id = rd.receipt_id GROUP BY rd.document_id, {day}")


def downgrade() -> None:
    with op.batch_alter_table('reliance_daily', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reliance_daily_day'))
    op.drop_table('reliance_daily')
