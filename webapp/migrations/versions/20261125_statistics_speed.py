"""Statistics speed: working days stamped on completed cases, a (hukou_division, submitted_at) index (covering
the counted columns on PostgreSQL), and the tally kept at county, city and province grain.

The tally is a snapshot rebuilt by `flask stats refresh`, so it is recreated empty here; that command also stamps
the working days on cases completed before this revision.

Revision ID: 20261125_statistics_speed
Revises: 20261125_statistics
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = '20261125_statistics_speed'
down_revision = '20261125_statistics'
branch_labels = None
depends_on = None


def _create_tally(division_column: str, grain: bool) -> None:
    columns = [sa.Column('grain', sa.SmallInteger(), nullable=False)] if grain else []
    keys = ['grain'] if grain else []
    op.create_table('case_tally',
    *columns,
    sa.Column('dimension', sa.String(length=20), nullable=False),
    sa.Column(division_column, sa.String(length=6), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('case_type', sa.String(length=20), nullable=False),
    sa.Column('value', sa.String(length=30), nullable=False),
    sa.Column('cases', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint(*keys, 'dimension', division_column, 'month', 'case_type', 'value',
                            name=op.f('pk_case_tally'))
    )


def upgrade() -> None:
    with op.batch_alter_table('birth_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('processing_days', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('on_time_within', sa.SmallInteger(), nullable=True))
        batch_op.drop_index(batch_op.f('ix_birth_case_hukou_division'))
        batch_op.create_index('ix_birth_case_hukou_submitted', ['hukou_division', 'submitted_at'], unique=False,
                              postgresql_include=['case_type', 'status', 'completed_at', 'processing_days',
                                                  'on_time_within', 'mother_age', 'father_age', 'mother_ethnicity',
                                                  'father_ethnicity'])
    op.drop_table('case_tally')
    _create_tally('division', grain=True)
    op.execute(sa.text('DELETE FROM case_tally_snapshot'))


def downgrade() -> None:
    op.drop_table('case_tally')
    _create_tally('county', grain=False)
    op.execute(sa.text('DELETE FROM case_tally_snapshot'))
    with op.batch_alter_table('birth_case', schema=None) as batch_op:
        batch_op.drop_index('ix_birth_case_hukou_submitted')
        batch_op.create_index(batch_op.f('ix_birth_case_hukou_division'), ['hukou_division'], unique=False)
        batch_op.drop_column('on_time_within')
        batch_op.drop_column('processing_days')
