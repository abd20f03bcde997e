"""tenant's Forge installation id (the Connect-Forge link)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

INDEX = 'ix_tenants_installation_id'


def _columns() -> set[str]:
    return {c['name'] for c in sa.inspect(op.get_bind()).get_columns('tenants')}


def _indexes() -> set[str]:
    return {i['name'] for i in sa.inspect(op.get_bind()).get_indexes('tenants')}


def upgrade():
    # Plain ADD COLUMN and CREATE INDEX, no batch copy: on SQLite a batch rebuild drops `tenants`, and with
    # foreign keys on that would cascade into every tenant's runs and settings.
    if 'installation_id' not in _columns():
        op.add_column('tenants', sa.Column('installation_id', sa.String(length=255), nullable=True))
    if INDEX not in _indexes():
        op.create_index(INDEX, 'tenants', ['installation_id'], unique=True)


def downgrade():
    if INDEX in _indexes():
        op.drop_index(INDEX, table_name='tenants')
    if 'installation_id' in _columns():
        # SQLite 3.35+ drops an unindexed column in place (ALTER TABLE … DROP COLUMN), PostgreSQL always does.
        op.drop_column('tenants', 'installation_id')
