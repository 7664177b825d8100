"""Consent to the privacy policy: which version each account accepted, when, and how.

Revision ID: 20261203_privacy_consent
Revises: 20261203_rate_limit_storage
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

import engine.db

revision = '20261203_privacy_consent'
down_revision = '20261203_rate_limit_storage'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('privacy_consent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=20), nullable=False),
    sa.Column('way', sa.String(length=20), nullable=False),
    sa.Column('accepted_at', engine.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_privacy_consent_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_consent'))
    )
    with op.batch_alter_table('privacy_consent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_privacy_consent_user_id'), ['user_id'], unique=False)
    # Citizens registered before this accepted the registration notice, which had no privacy policy: version '0'
    # stands for it, so they are asked to accept the policy in force at their next visit.
    op.execute("INSERT INTO privacy_consent (user_id, version, way, accepted_at) "
               "SELECT id, '0', 'registration', created_at FROM user_account WHERE role = 'citizen'")


def downgrade() -> None:
    with op.batch_alter_table('privacy_consent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_privacy_consent_user_id'))

    op.drop_table('privacy_consent')
