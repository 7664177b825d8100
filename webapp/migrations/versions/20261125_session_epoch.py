"""Session epoch on accounts: deactivating an account ends its sessions for good.

Revision ID: 20261125_session_epoch
Revises: 20261125_api_tokens
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "20261125_session_epoch"
down_revision = "20261125_api_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("session_epoch")
