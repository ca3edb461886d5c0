"""lookup: receipts, unanswered topics

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lookup_receipt',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('query', sa.Text(), nullable=False),
    sa.Column('risk', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('scope', sa.JSON(), nullable=True),
    sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('citations', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('lookup_receipt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lookup_receipt_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_lookup_receipt_decision'), ['decision'], unique=False)

    op.create_table('receipt_document',
    sa.Column('receipt_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('document_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['receipt_id'], ['lookup_receipt.id'], ),
    sa.PrimaryKeyConstraint('receipt_id', 'document_id')
    )
    with op.batch_alter_table('receipt_document', schema=None) as batch_op:
        batch_op.create_index('ix_receipt_document_document_id', ['document_id', 'receipt_id'], unique=False)

    op.create_table('unanswered_topic',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('query', sa.Text(), nullable=False),
    sa.Column('last_query', sa.Text(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('first_seen', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('last_seen', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('embedding', sa.LargeBinary(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('unanswered_topic', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unanswered_topic_last_seen'), ['last_seen'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('unanswered_topic', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unanswered_topic_last_seen'))
    op.drop_table('unanswered_topic')
    with op.batch_alter_table('receipt_document', schema=None) as batch_op:
        batch_op.drop_index('ix_receipt_document_document_id')
    op.drop_table('receipt_document')
    with op.batch_alter_table('lookup_receipt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lookup_receipt_decision'))
        batch_op.drop_index(batch_op.f('ix_lookup_receipt_at'))
    op.drop_table('lookup_receipt')
