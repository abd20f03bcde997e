"""process heartbeats and shared metric counters

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def _tables() -> set[str]:
    return set(sa.inspect(op.get_bind()).get_table_names())


def upgrade():
    existing = _tables()  # a database built with create_all() already has them: nothing to do
    if 'process_heartbeats' not in existing:
        op.create_table('process_heartbeats',
        sa.Column('id', sa.String(length=160), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('host', sa.String(length=128), nullable=False),
        sa.Column('pid', sa.Integer(), nullable=False),
        sa.Column('key_ids', sa.String(length=512), nullable=False),
        sa.Column('workers', sa.Integer(), nullable=False),
        sa.Column('schedules', sa.Boolean(), nullable=False),
        sa.Column('interval_seconds', sa.Float(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('beat_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('process_heartbeats', schema=None) as batch_op:
            batch_op.create_index('ix_process_heartbeats_beat_at', ['beat_at'], unique=False)

    if 'metric_counters' not in existing:
        op.create_table('metric_counters',
        sa.Column('name', sa.String(length=96), nullable=False),
        sa.Column('labels', sa.String(length=160), nullable=False),
        sa.Column('value', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('name', 'labels')
        )


def downgrade():
    existing = _tables()
    if 'metric_counters' in existing:
        op.drop_table('metric_counters')
    if 'process_heartbeats' in existing:
        with op.batch_alter_table('process_heartbeats', schema=None) as batch_op:
            batch_op.drop_index('ix_process_heartbeats_beat_at')
        op.drop_table('process_heartbeats')
