"""Process administration: assignment rules (lane or group name → staff role and jurisdiction field).

Revision ID: 20261125_process_admin
Revises: 20261125_statistics_speed
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

import engine.db

revision = '20261125_process_admin'
down_revision = '20261125_statistics_speed'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('assignment_rule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=50), nullable=False),
    sa.Column('jurisdiction_field', sa.String(length=50), nullable=True),
    sa.Column('updated_by', sa.String(length=100), nullable=False),
    sa.Column('updated_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignment_rule')),
    sa.UniqueConstraint('name', name=op.f('uq_assignment_rule_name'))
    )


def downgrade() -> None:
    op.drop_table('assignment_rule')
