"""Citizen journey: persons by ID number, drafts, declared children, materials, staff comments; case reporting fields.

Revision ID: 20261125_citizen
Revises: 20261125_session_epoch
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

import engine.db

revision = '20261125_citizen'
down_revision = '20261125_session_epoch'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('person',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('id_number', sa.String(length=18), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('sex', sa.String(length=1), nullable=False),
    sa.Column('ethnicity', sa.String(length=2), nullable=False),
    sa.Column('phone', sa.String(length=11), nullable=False),
    sa.Column('employer', sa.String(length=100), nullable=False),
    sa.Column('employer_phone', sa.String(length=20), nullable=False),
    sa.Column('marital_status', sa.String(length=2), nullable=False),
    sa.Column('hukou_division', sa.String(length=12), nullable=False),
    sa.Column('residence_division', sa.String(length=12), nullable=False),
    sa.Column('updated_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person')),
    sa.UniqueConstraint('id_number', name=op.f('uq_person_id_number'))
    )
    op.create_table('application',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('applicant_id', sa.Integer(), nullable=False),
    sa.Column('case_type', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('created_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['applicant_id'], ['user_account.id'], name=op.f('fk_application_applicant_id_user_account')),
    sa.ForeignKeyConstraint(['case_id'], ['birth_case.id'], name=op.f('fk_application_case_id_birth_case')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_application')),
    sa.UniqueConstraint('case_id', name=op.f('uq_application_case_id')),
    sa.UniqueConstraint('token', name=op.f('uq_application_token'))
    )
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_application_applicant_id'), ['applicant_id'], unique=False)

    op.create_table('case_child',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('sex', sa.String(length=1), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('document_number', sa.String(length=30), nullable=False),
    sa.Column('relation', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['birth_case.id'], name=op.f('fk_case_child_case_id_birth_case')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_child'))
    )
    with op.batch_alter_table('case_child', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_child_case_id'), ['case_id'], unique=False)

    op.create_table('material',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('stored_name', sa.String(length=80), nullable=False),
    sa.Column('thumbnail_name', sa.String(length=80), nullable=True),
    sa.Column('content_type', sa.String(length=50), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('original_name', sa.String(length=200), nullable=False),
    sa.Column('uploaded_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['application.id'], name=op.f('fk_material_application_id_application')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_material')),
    sa.UniqueConstraint('token', name=op.f('uq_material_token'))
    )
    with op.batch_alter_table('material', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_material_application_id'), ['application_id'], unique=False)

    op.create_table('case_comment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['user_account.id'], name=op.f('fk_case_comment_author_id_user_account')),
    sa.ForeignKeyConstraint(['case_id'], ['birth_case.id'], name=op.f('fk_case_comment_case_id_birth_case')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_comment'))
    )
    with op.batch_alter_table('case_comment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_comment_case_id'), ['case_id'], unique=False)

    with op.batch_alter_table('birth_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('completed_at', engine.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('parity', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('woman_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('man_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('mother_age', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('father_age', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('mother_ethnicity', sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column('father_ethnicity', sa.String(length=2), nullable=True))
        batch_op.create_index(batch_op.f('ix_birth_case_man_id'), ['man_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_birth_case_woman_id'), ['woman_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_birth_case_woman_id_person'), 'person', ['woman_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_birth_case_man_id_person'), 'person', ['man_id'], ['id'])

    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('id_number', sa.String(length=18), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_user_account_id_number'), ['id_number'])



def downgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_user_account_id_number'), type_='unique')
        batch_op.drop_column('id_number')

    with op.batch_alter_table('birth_case', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_birth_case_man_id_person'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_birth_case_woman_id_person'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_birth_case_woman_id'))
        batch_op.drop_index(batch_op.f('ix_birth_case_man_id'))
        batch_op.drop_column('father_ethnicity')
        batch_op.drop_column('mother_ethnicity')
        batch_op.drop_column('father_age')
        batch_op.drop_column('mother_age')
        batch_op.drop_column('man_id')
        batch_op.drop_column('woman_id')
        batch_op.drop_column('parity')
        batch_op.drop_column('completed_at')

    with op.batch_alter_table('case_comment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_comment_case_id'))

    op.drop_table('case_comment')
    with op.batch_alter_table('material', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_material_application_id'))

    op.drop_table('material')
    with op.batch_alter_table('case_child', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_child_case_id'))

    op.drop_table('case_child')
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_application_applicant_id'))

    op.drop_table('application')
    op.drop_table('person')
