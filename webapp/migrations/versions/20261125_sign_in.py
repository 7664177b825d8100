"""Sign-in: lockout and contact fields on accounts, one-time SMS codes, claim times on tasks.

Revision ID: 20261125_sign_in
Revises: 20261125_decisions
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

import engine.db

revision = '20261125_sign_in'
down_revision = '20261125_decisions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sms_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=11), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('code_hash', sa.String(length=200), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('consumed_at', engine.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_code'))
    )
    with op.batch_alter_table('sms_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sms_code_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sms_code_phone'), ['phone'], unique=False)

    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_at', engine.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_human_task_claimed_by'), ['claimed_by'], unique=False)
        batch_op.create_index(batch_op.f('ix_human_task_completed_by'), ['completed_by'], unique=False)

    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('locked_until', engine.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_login_at', engine.db.UTCDateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('last_login_at')
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_logins')
        batch_op.drop_column('active')
        batch_op.drop_column('email')

    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_human_task_completed_by'))
        batch_op.drop_index(batch_op.f('ix_human_task_claimed_by'))
        batch_op.drop_column('claimed_at')

    with op.batch_alter_table('sms_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sms_code_phone'))
        batch_op.drop_index(batch_op.f('ix_sms_code_created_at'))

    op.drop_table('sms_code')
