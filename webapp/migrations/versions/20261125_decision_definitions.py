"""Decision (DMN) definitions beside processes, and the decision versions each process is bound to.

Revision ID: 20261125_decisions
Revises: 20261125_initial
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "20261125_decisions"
down_revision = "20261125_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Server defaults fill the rows deployed before decisions existed: all processes, bound to no decision.
    with op.batch_alter_table("process_definition", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=10), nullable=False, server_default="bpmn"))
        batch_op.add_column(sa.Column("decisions", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("process_definition", schema=None) as batch_op:
        batch_op.drop_column("decisions")
        batch_op.drop_column("kind")
