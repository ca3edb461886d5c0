"""actions: the tool permission table (backfilled from SOP cards' tool names), action receipts, uncovered actions

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""
import json

from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tool_rule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('card_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('card_version', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('pattern', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('is_glob', sa.Boolean(), nullable=False),
    sa.Column('conditions', sa.JSON(), nullable=False),
    sa.Column('lane', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('lane_from_card', sa.Boolean(), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('log_location', sa.Text(), nullable=True),
    sa.Column('rollback', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('tool_rule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tool_rule_card_id'), ['card_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tool_rule_is_glob'), ['is_glob'], unique=False)
        batch_op.create_index(batch_op.f('ix_tool_rule_pattern'), ['pattern'], unique=False)
    op.create_table('action_receipt',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('tool', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('intent', sa.Text(), nullable=True),
    sa.Column('risk', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('lane', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=True),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('documents', sa.JSON(), nullable=False),
    sa.Column('principal', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('action_receipt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_action_receipt_principal'), ['principal'], unique=False)
        batch_op.create_index(batch_op.f('ix_action_receipt_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_action_receipt_decision'), ['decision'], unique=False)
        batch_op.create_index(batch_op.f('ix_action_receipt_tool'), ['tool'], unique=False)
    op.create_table('action_receipt_document',
    sa.Column('receipt_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('document_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['receipt_id'], ['action_receipt.id'], ),
    sa.PrimaryKeyConstraint('receipt_id', 'document_id')
    )
    with op.batch_alter_table('action_receipt_document', schema=None) as batch_op:
        batch_op.create_index('ix_action_receipt_document_document_id', ['document_id', 'receipt_id'], unique=False)
    op.create_table('uncovered_action',
    sa.Column('tool', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('first_seen', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('last_seen', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('last_reason', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('last_receipt', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.PrimaryKeyConstraint('tool')
    )
    with op.batch_alter_table('uncovered_action', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_uncovered_action_last_seen'), ['last_seen'], unique=False)
    _backfill()


def _backfill() -> None:
    """SOP cards registered before this revision only have tool names: each becomes a rule in the card's lane."""
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, version, lane, tools FROM document WHERE kind = 'sop'")).all()
    out = []
    for card_id, version, lane, tools in rows:
        tools = json.loads(tools) if isinstance(tools, str) else (tools or [])
        for pos, name in enumerate(dict.fromkeys(t for t in tools if isinstance(t, str))):
            pattern = name.strip().lower()
            out.append({"card_id": card_id, "card_version": version, "position": pos, "pattern": pattern,
                        "is_glob": any(c in pattern for c in "*?["), "conditions": [], "lane": lane or "approval",
                        "lane_from_card": True, "owner": None, "log_location": None, "rollback": None})
    if out:
        table = sa.table('tool_rule', *(sa.column(k) for k in out[0] if k != "conditions"),
                         sa.column('conditions', sa.JSON()))
        op.bulk_insert(table, out)


def downgrade() -> None:
    op.drop_table('uncovered_action')
    op.drop_table('action_receipt_document')
    op.drop_table('action_receipt')
    op.drop_table('tool_rule')
