"""restores: the restore queue, each restore's items, the tenant's id map

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

ACTIVE = "status IN ('queued', 'running')"


def _tables() -> set[str]:
    return set(sa.inspect(op.get_bind()).get_table_names())


def upgrade():
    existing = _tables()  # a database built with create_all() already has them: nothing to do
    if 'restores' not in existing:
        op.create_table('restores',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('run_id', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('dry_run', sa.Boolean(), nullable=False),
        sa.Column('targets', sa.JSON(), nullable=False),
        sa.Column('issue_keys', sa.JSON(), nullable=True),
        sa.Column('requested_by', sa.String(length=128), nullable=True),
        sa.Column('queued_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('worker_id', sa.String(length=128), nullable=True),
        sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('plan', sa.JSON(), nullable=True),
        sa.Column('counts', sa.JSON(), nullable=True),
        sa.Column('progress', sa.JSON(), nullable=True),
        sa.Column('requests', sa.Integer(), nullable=True),
        sa.Column('message', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['run_id'], ['backup_runs.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('restores', schema=None) as batch_op:
            batch_op.create_index('ix_restores_status_queued', ['status', 'queued_at'], unique=False)
            batch_op.create_index('ix_restores_tenant_queued', ['tenant_id', 'queued_at'], unique=False)
            batch_op.create_index('uq_restores_one_active', ['tenant_id'], unique=True,
                                  sqlite_where=sa.text(ACTIVE), postgresql_where=sa.text(ACTIVE))

    if 'restore_items' not in existing:
        op.create_table('restore_items',
        sa.Column('restore_id', sa.String(length=32), nullable=False),
        sa.Column('entity', sa.String(length=32), nullable=False),
        sa.Column('source_id', sa.String(length=64), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('source_key', sa.String(length=255), nullable=True),
        sa.Column('source_project', sa.String(length=255), nullable=True),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=True),
        sa.Column('target_id', sa.String(length=64), nullable=True),
        sa.Column('target_key', sa.String(length=255), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['restore_id'], ['restores.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('restore_id', 'entity', 'source_id')
        )
        with op.batch_alter_table('restore_items', schema=None) as batch_op:
            batch_op.create_index('ix_restore_items_order', ['restore_id', 'seq'], unique=False)

    if 'restore_id_map' not in existing:
        op.create_table('restore_id_map',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('entity', sa.String(length=32), nullable=False),
        sa.Column('source_id', sa.String(length=64), nullable=False),
        sa.Column('target_project_id', sa.String(length=64), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('target_id', sa.String(length=64), nullable=True),
        sa.Column('target_key', sa.String(length=255), nullable=True),
        sa.Column('fingerprint', sa.String(length=64), nullable=True),
        sa.Column('job_ref', sa.String(length=128), nullable=True),
        sa.Column('intent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('restore_id', sa.String(length=32), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('tenant_id', 'entity', 'source_id', 'target_project_id', name='uq_restore_id_map_item')
        )
        with op.batch_alter_table('restore_id_map', schema=None) as batch_op:
            batch_op.create_index('ix_restore_id_map_state', ['tenant_id', 'entity', 'target_project_id', 'state'],
                                  unique=False)


def downgrade():
    existing = _tables()
    if 'restore_id_map' in existing:
        with op.batch_alter_table('restore_id_map', schema=None) as batch_op:
            batch_op.drop_index('ix_restore_id_map_state')
        op.drop_table('restore_id_map')
    if 'restore_items' in existing:
        with op.batch_alter_table('restore_items', schema=None) as batch_op:
            batch_op.drop_index('ix_restore_items_order')
        op.drop_table('restore_items')
    if 'restores' in existing:
        with op.batch_alter_table('restores', schema=None) as batch_op:
            batch_op.drop_index('uq_restores_one_active', sqlite_where=sa.text(ACTIVE), postgresql_where=sa.text(ACTIVE))
            batch_op.drop_index('ix_restores_tenant_queued')
            batch_op.drop_index('ix_restores_status_queued')
        op.drop_table('restores')
