"""incremental backups: a run's kind, parent, changes and stored bytes; the fullEveryDays setting

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

def _run_columns() -> list:
    return [
        sa.Column('kind', sa.String(length=16), nullable=True),
        sa.Column('parent_id', sa.String(length=32), nullable=True),
        sa.Column('changed', sa.JSON(), nullable=True),
        sa.Column('stored_bytes', sa.BigInteger(), nullable=True),
        sa.Column('full_requested', sa.Boolean(), nullable=False, server_default=sa.false()),
    ]


def _columns(table: str) -> set[str]:
    return {c['name'] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade():
    # A database built with create_all() already has them: add only what is missing.
    existing = _columns('backup_runs')
    with op.batch_alter_table('backup_runs', schema=None) as batch_op:
        for column in _run_columns():
            if column.name not in existing:
                batch_op.add_column(column)
    # Every snapshot taken before this revision is a full one.
    op.execute("UPDATE backup_runs SET kind = 'full' WHERE kind IS NULL AND status = 'succeeded'")
    if 'full_every_days' not in _columns('backup_settings'):
        with op.batch_alter_table('backup_settings', schema=None) as batch_op:
            batch_op.add_column(sa.Column('full_every_days', sa.Integer(), nullable=True, server_default='7'))


def downgrade():
    if 'full_every_days' in _columns('backup_settings'):
        with op.batch_alter_table('backup_settings', schema=None) as batch_op:
            batch_op.drop_column('full_every_days')
    existing = _columns('backup_runs')
    with op.batch_alter_table('backup_runs', schema=None) as batch_op:
        for column in reversed(_run_columns()):
            if column.name in existing:
                batch_op.drop_column(column.name)
