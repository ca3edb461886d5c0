"""owed work and feed pruning: owed_work (what a committed change still owes), feed_consumer
(followers' watermarks), feed_mark (how far the change log was pruned)

Revision ID: 0012_owed_work
Revises: 0010
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0012_owed_work'
down_revision = '0011_console_rollup'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('owed_work',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('document_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('owed_work', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_owed_work_document_id'), ['document_id'], unique=False)
    op.create_table('feed_consumer',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('watermark', sa.BigInteger(), nullable=False),
    sa.Column('seen_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('feed_mark',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('feed_mark')
    op.drop_table('feed_consumer')
    with op.batch_alter_table('owed_work', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_owed_work_document_id'))
    op.drop_table('owed_work')
