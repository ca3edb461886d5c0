"""console rollup: decisions per closed UTC day (outcome, first stop reason, served stale); topic hand-offs

topic_assignment: the owner an unanswered topic was handed to from the console, by whom and when.

Filled lazily from lookup_receipt by `reports.rollup` (on the overview's first need), not here:
a migration that scanned a million receipts would hold every replica's start-up.

Revision ID: 0011_console_rollup
Revises: 0010
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0011_console_rollup'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('decision_day',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('receipts', sa.Integer(), nullable=False),
    sa.Column('rolled_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('day')
    )
    op.create_table('decision_daily',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('served_stale', sa.Boolean(), nullable=False),
    sa.Column('receipts', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'decision', 'reason', 'served_stale')
    )
    op.create_table('topic_assignment',
    sa.Column('topic_id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('assigned_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('assigned_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('topic_id')
    )
    with op.batch_alter_table('topic_assignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_topic_assignment_owner_id'), ['owner_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('topic_assignment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_topic_assignment_owner_id'))
    op.drop_table('topic_assignment')
    op.drop_table('decision_daily')
    op.drop_table('decision_day')
