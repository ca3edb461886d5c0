"""conflicts: detected conflicts and verdicts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString
_T = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table('conflict',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pair_key', _S(length=64), nullable=False),
    sa.Column('status', _S(length=10), nullable=False),
    sa.Column('doc_a', _S(length=200), nullable=False),
    sa.Column('version_a', sa.Integer(), nullable=False),
    sa.Column('anchor_a', _S(length=300), nullable=False),
    sa.Column('heading_a', _S(length=500), nullable=False),
    sa.Column('hash_a', _S(length=64), nullable=False),
    sa.Column('text_a', sa.Text(), nullable=False),
    sa.Column('doc_b', _S(length=200), nullable=False),
    sa.Column('version_b', sa.Integer(), nullable=False),
    sa.Column('anchor_b', _S(length=300), nullable=False),
    sa.Column('heading_b', _S(length=500), nullable=False),
    sa.Column('hash_b', _S(length=64), nullable=False),
    sa.Column('text_b', sa.Text(), nullable=False),
    sa.Column('similarity', sa.Float(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('judge', _S(length=100), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('explanation', sa.Text(), nullable=False),
    sa.Column('detected_at', _T(), nullable=False),
    sa.Column('updated_at', _T(), nullable=False),
    sa.Column('verdict_at', _T(), nullable=True),
    sa.Column('verdict_by', _S(length=200), nullable=True),
    sa.Column('verdict_reason', _S(length=2000), nullable=False),
    sa.Column('resolved_at', _T(), nullable=True),
    sa.Column('resolution', _S(length=500), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('conflict', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conflict_pair_key'), ['pair_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_conflict_status'), ['status'], unique=False)
        batch_op.create_index('ix_conflict_side_a', ['doc_a', 'anchor_a'], unique=False)
        batch_op.create_index('ix_conflict_side_b', ['doc_b', 'anchor_b'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('conflict', schema=None) as batch_op:
        batch_op.drop_index('ix_conflict_side_b')
        batch_op.drop_index('ix_conflict_side_a')
        batch_op.drop_index(batch_op.f('ix_conflict_status'))
        batch_op.drop_index(batch_op.f('ix_conflict_pair_key'))
    op.drop_table('conflict')
