"""Rate limits and sign-in locks move to the rate-limit storage (memory, or Redis in production).

The `rate_limit` table and the per-account failure count and lock go: counts in them are short-lived, so nothing is
carried over (a lock in force at the upgrade is lifted; its owner could have lifted it by recovery anyway).

Revision ID: 20261203_rate_limit_storage
Revises: 20261203_sign_in_sessions
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

import engine.db

revision = '20261203_rate_limit_storage'
down_revision = '20261203_sign_in_sessions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('rate_limit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_limit_expires_at'))
    op.drop_table('rate_limit')

    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_logins')


def downgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('locked_until', engine.db.UTCDateTime(timezone=True), nullable=True))

    op.create_table('rate_limit',
    sa.Column('bucket', sa.String(length=64), nullable=False),
    sa.Column('window_start', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('expires_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('bucket', 'window_start', name=op.f('pk_rate_limit'))
    )
    with op.batch_alter_table('rate_limit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_limit_expires_at'), ['expires_at'], unique=False)
