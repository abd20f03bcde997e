"""xray pacer shared by every process

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 17:35:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def _tables() -> set[str]:
    return set(sa.inspect(op.get_bind()).get_table_names())


def upgrade():
    existing = _tables()  # a database built with create_all() already has them: nothing to do
    if 'xray_pacer_slots' not in existing:
        op.create_table('xray_pacer_slots',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('tenant_hash', sa.String(length=32), nullable=False),
        sa.Column('at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('xray_pacer_slots', schema=None) as batch_op:
            batch_op.create_index('ix_xray_pacer_slots_tenant_at', ['tenant_hash', 'at'], unique=False)

    if 'xray_pacer_holds' not in existing:
        op.create_table('xray_pacer_holds',
        sa.Column('tenant_hash', sa.String(length=32), nullable=False),
        sa.Column('hold_until', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('tenant_hash')
        )


def downgrade():
    existing = _tables()
    if 'xray_pacer_holds' in existing:
        op.drop_table('xray_pacer_holds')
    if 'xray_pacer_slots' in existing:
        with op.batch_alter_table('xray_pacer_slots', schema=None) as batch_op:
            batch_op.drop_index('ix_xray_pacer_slots_tenant_at')
        op.drop_table('xray_pacer_slots')
