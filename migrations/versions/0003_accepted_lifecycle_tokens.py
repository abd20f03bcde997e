"""accepted lifecycle tokens (single-use installs)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def _tables() -> set[str]:
    return set(sa.inspect(op.get_bind()).get_table_names())


def upgrade():
    if 'accepted_lifecycle_tokens' in _tables():  # built with create_all() already: nothing to do
        return
    op.create_table('accepted_lifecycle_tokens',
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('body_sha256', sa.String(length=64), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('applied', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('token_sha256')
    )
    with op.batch_alter_table('accepted_lifecycle_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_accepted_lifecycle_tokens_expires_at', ['expires_at'], unique=False)


def downgrade():
    if 'accepted_lifecycle_tokens' not in _tables():
        return
    with op.batch_alter_table('accepted_lifecycle_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_accepted_lifecycle_tokens_expires_at')
    op.drop_table('accepted_lifecycle_tokens')
