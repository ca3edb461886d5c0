"""auth: API keys (hash only), team members, receipt principal, embedding model fingerprint

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_key',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('owner_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('key_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('last_used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('owner_member',
    sa.Column('team_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('member_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.PrimaryKeyConstraint('team_id', 'member_id')
    )
    with op.batch_alter_table('owner_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_owner_member_member_id'), ['member_id'], unique=False)
    op.create_table('embedding_model',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('recorded_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('lookup_receipt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('principal', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.create_index(batch_op.f('ix_lookup_receipt_principal'), ['principal'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('lookup_receipt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lookup_receipt_principal'))
        batch_op.drop_column('principal')
    op.drop_table('embedding_model')
    with op.batch_alter_table('owner_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_owner_member_member_id'))
    op.drop_table('owner_member')
    op.drop_table('api_key')
