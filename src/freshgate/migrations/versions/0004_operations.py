"""operations: state transitions, fetches, deliveries, job runs

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('state_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('owner_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('from_state', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('to_state', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('state_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_state_event_document_id'), ['document_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_state_event_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_state_event_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_state_event_to_state'), ['to_state'], unique=False)

    op.create_table('document_state',
    sa.Column('document_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('since', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('document_id')
    )
    with op.batch_alter_table('document_state', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_state_state'), ['state'], unique=False)

    op.create_table('job_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('slot', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('finished_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=True),
    sa.Column('runner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('job_id', 'slot', name='uq_job_run_job_slot')
    )
    with op.batch_alter_table('job_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_run_job_id'), ['job_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('job_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_run_job_id'))
    op.drop_table('job_run')
    with op.batch_alter_table('document_state', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_document_state_state'))
    op.drop_table('document_state')
    with op.batch_alter_table('state_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_state_event_to_state'))
        batch_op.drop_index(batch_op.f('ix_state_event_at'))
        batch_op.drop_index(batch_op.f('ix_state_event_owner_id'))
        batch_op.drop_index(batch_op.f('ix_state_event_document_id'))
    op.drop_table('state_event')
