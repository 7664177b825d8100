"""Statistics: the pre-aggregated case tally (county, month, type, dimension, value) and when it was rebuilt.

Revision ID: 20261125_statistics
Revises: 20261125_accounts
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

import engine.db

revision = '20261125_statistics'
down_revision = '20261125_accounts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_tally',
    sa.Column('dimension', sa.String(length=20), nullable=False),
    sa.Column('county', sa.String(length=6), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('case_type', sa.String(length=20), nullable=False),
    sa.Column('value', sa.String(length=30), nullable=False),
    sa.Column('cases', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('dimension', 'county', 'month', 'case_type', 'value', name=op.f('pk_case_tally'))
    )
    op.create_table('case_tally_snapshot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('refreshed_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('limit_days', sa.SmallInteger(), nullable=False),
    sa.Column('cases', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_tally_snapshot'))
    )


def downgrade() -> None:
    op.drop_table('case_tally_snapshot')
    op.drop_table('case_tally')
