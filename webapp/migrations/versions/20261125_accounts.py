"""Citizen accounts: recorded emails (password-reset links), the email_message table.

Revision ID: 20261125_accounts
Revises: 20261125_citizen
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

import engine.db

revision = '20261125_accounts'
down_revision = '20261125_citizen'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('email_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('to_address', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('provider', sa.String(length=30), nullable=False),
    sa.Column('created_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_message'))
    )
    with op.batch_alter_table('email_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_message_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_email_message_to_address'), ['to_address'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('email_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_message_to_address'))
        batch_op.drop_index(batch_op.f('ix_email_message_created_at'))

    op.drop_table('email_message')
