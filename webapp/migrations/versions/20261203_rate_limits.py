"""Rate limits shared by every web worker: a count per hashed bucket and fixed window.

Revision ID: 20261203_rate_limits
Revises: 20261203_people
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

import engine.db

revision = '20261203_rate_limits'
down_revision = '20261203_people'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rate_limit',
    sa.Column('bucket', sa.String(length=64), nullable=False),
    sa.Column('window_start', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('expires_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('bucket', 'window_start', name=op.f('pk_rate_limit'))
    )
    with op.batch_alter_table('rate_limit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_limit_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rate_limit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_limit_expires_at'))

    op.drop_table('rate_limit')
