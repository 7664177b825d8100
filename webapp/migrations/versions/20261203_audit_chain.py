"""Audit events: whom each is about, a hash chain sealing them, and (PostgreSQL) a trigger keeping them append-only.

Events written before this revision are chained here, in the order they were written, so that `flask audit verify`
checks them too.

Revision ID: 20261203_audit_chain
Revises: 20261203_privacy_consent
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from engine import audit

revision = '20261203_audit_chain'
down_revision = '20261203_privacy_consent'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_event') as batch_op:
        batch_op.add_column(sa.Column('subject', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('seq', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('row_hash', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_audit_event_seq'), ['seq'])
        batch_op.create_index(batch_op.f('ix_audit_event_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_actor'), ['actor'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_subject'), ['subject'], unique=False)
    bind = op.get_bind()
    # Account events name their account in the detail: make them findable by person.
    if bind.dialect.name == 'postgresql':
        op.execute("UPDATE audit_event SET subject = 'user:' || (detail::jsonb ->> 'user_id') "
                   "WHERE detail::jsonb ->> 'user_id' IS NOT NULL")
        op.execute("UPDATE audit_event SET subject = 'person:' || (detail::jsonb ->> 'person_id') "
                   "WHERE subject IS NULL AND detail::jsonb ->> 'person_id' IS NOT NULL")
    else:
        op.execute("UPDATE audit_event SET subject = 'user:' || json_extract(detail, '$.user_id') "
                   "WHERE json_extract(detail, '$.user_id') IS NOT NULL")
        op.execute("UPDATE audit_event SET subject = 'person:' || json_extract(detail, '$.person_id') "
                   "WHERE subject IS NULL AND json_extract(detail, '$.person_id') IS NOT NULL")
    audit.lock_chain(bind)
    audit.seal(bind)
    if bind.dialect.name == 'postgresql':
        op.execute(audit.POSTGRES_GUARD)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_guard()")
    with op.batch_alter_table('audit_event') as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_event_subject'))
        batch_op.drop_index(batch_op.f('ix_audit_event_actor'))
        batch_op.drop_index(batch_op.f('ix_audit_event_at'))
        batch_op.drop_constraint(batch_op.f('uq_audit_event_seq'), type_='unique')
        batch_op.drop_column('row_hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('seq')
        batch_op.drop_column('subject')
