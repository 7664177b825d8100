"""Dry-run reports of process versions, one per definition content, written by a background run.

Revision ID: 20261203_dry_run_reports
Revises: 20261203_rate_limits
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

import engine.db

revision = '20261203_dry_run_reports'
down_revision = '20261203_rate_limits'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dry_run_report',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('started_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', engine.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('report', sa.JSON(), nullable=True),
    sa.Column('problem', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_dry_run_report'))
    )


def downgrade() -> None:
    op.drop_table('dry_run_report')
