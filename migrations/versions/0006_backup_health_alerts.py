"""backup health and alerts: alert settings, incidents, and what a run records across attempts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 07:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

RUN_COLUMNS = (
    ('first_started_at', sa.DateTime(timezone=True)),
    ('reason', sa.String(length=32)),
    ('detail', sa.Text()),
    ('projects', sa.JSON()),
)


def _inspector():
    return sa.inspect(op.get_bind())


def upgrade():
    # Idempotent: a database built with create_all() already has everything.
    existing = set(_inspector().get_table_names())
    if 'alert_settings' not in existing:
        op.create_table('alert_settings',
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('emails', sa.JSON(), nullable=False),
        sa.Column('webhook_url_enc', sa.Text(), nullable=True),
        sa.Column('notify_on', sa.JSON(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('tenant_id')
        )
    if 'alert_incidents' not in existing:
        op.create_table('alert_incidents',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('run_id', sa.String(length=32), nullable=True),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('recovery_notified_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('alert_incidents', schema=None) as batch_op:
            batch_op.create_index('uq_alert_incidents_one_open', ['tenant_id'], unique=True,
                                  sqlite_where=sa.text('resolved_at IS NULL'),
                                  postgresql_where=sa.text('resolved_at IS NULL'))
            batch_op.create_index('ix_alert_incidents_tenant_opened', ['tenant_id', 'opened_at'], unique=False)

    columns = {c['name'] for c in _inspector().get_columns('backup_runs')}
    missing = [(name, kind) for name, kind in RUN_COLUMNS if name not in columns]
    if missing:
        with op.batch_alter_table('backup_runs', schema=None) as batch_op:
            for name, kind in missing:
                batch_op.add_column(sa.Column(name, kind, nullable=True))


def downgrade():
    columns = {c['name'] for c in _inspector().get_columns('backup_runs')}
    present = [name for name, _kind in RUN_COLUMNS if name in columns]
    if present:
        with op.batch_alter_table('backup_runs', schema=None) as batch_op:
            for name in present:
                batch_op.drop_column(name)
    existing = set(_inspector().get_table_names())
    if 'alert_incidents' in existing:
        with op.batch_alter_table('alert_incidents', schema=None) as batch_op:
            batch_op.drop_index('ix_alert_incidents_tenant_opened')
            batch_op.drop_index('uq_alert_incidents_one_open', sqlite_where=sa.text('resolved_at IS NULL'),
                                postgresql_where=sa.text('resolved_at IS NULL'))
        op.drop_table('alert_incidents')
    if 'alert_settings' in existing:
        op.drop_table('alert_settings')
