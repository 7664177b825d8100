"""Service tasks claimed under a lease and queued once; SMS recorded under an idempotency key before sending.

`service_outbox` gets `queued_at` (a copy was handed to the queue) and `leased_until` (a performer holds the row).
`sms_message` gets the key every attempt of one send shares (unique), the delivery status and the provider's message
id; messages sent before this revision were all accepted, and each gets a key of its own.

Revision ID: 20261203_outbox_lease
Revises: 20261203_audit_chain
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

import engine.db

revision = '20261203_outbox_lease'
down_revision = '20261203_audit_chain'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('service_outbox') as batch_op:
        batch_op.add_column(sa.Column('queued_at', engine.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('leased_until', engine.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('sms_message') as batch_op:
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=160), nullable=True))
        batch_op.add_column(sa.Column('status', sa.String(length=20), server_default='sent', nullable=False))
        batch_op.add_column(sa.Column('provider_message_id', sa.String(length=100), nullable=True))
    op.execute("UPDATE sms_message SET idempotency_key = 'legacy-' || id")
    with op.batch_alter_table('sms_message') as batch_op:
        batch_op.alter_column('idempotency_key', existing_type=sa.String(length=160), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_sms_message_idempotency_key'), ['idempotency_key'])


def downgrade() -> None:
    with op.batch_alter_table('sms_message') as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_sms_message_idempotency_key'), type_='unique')
        batch_op.drop_column('provider_message_id')
        batch_op.drop_column('status')
        batch_op.drop_column('idempotency_key')
    with op.batch_alter_table('service_outbox') as batch_op:
        batch_op.drop_column('leased_until')
        batch_op.drop_column('queued_at')
