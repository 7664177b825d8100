"""Sign-in sessions kept on the server; API tokens tied to the account's epoch; passwords an administrator reset.

Existing tokens take their account's current epoch, so that the upgrade itself revokes nothing. Sessions signed in
before the upgrade have no row and end at their next request (their holders sign in again).

Revision ID: 20261203_sign_in_sessions
Revises: 20261203_dry_run_reports
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

import engine.db

revision = '20261203_sign_in_sessions'
down_revision = '20261203_dry_run_reports'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sign_in_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('address', sa.String(length=45), nullable=False),
    sa.Column('device', sa.String(length=100), nullable=False),
    sa.Column('ended_at', engine.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=30), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_sign_in_session_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_session')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_sign_in_session_key_hash'))
    )
    with op.batch_alter_table('sign_in_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sign_in_session_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_epoch', sa.Integer(), nullable=False, server_default='0'))
    op.execute('UPDATE api_token SET account_epoch = '
               '(SELECT session_epoch FROM user_account WHERE user_account.id = api_token.user_id)')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('password_change_required', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('password_change_required')
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_column('account_epoch')
    with op.batch_alter_table('sign_in_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sign_in_session_user_id'))
    op.drop_table('sign_in_session')
