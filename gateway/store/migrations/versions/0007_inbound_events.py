"""Inbound webhook events: the event id of each raw inbound record, unique per backend

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('inbound_messages', sa.Column('event_id', sa.String(length=255), nullable=True))
    # NULLs are distinct in a unique index on SQLite and PostgreSQL: MLLP rows never collide
    op.create_index('uq_inbound_messages_event', 'inbound_messages', ['backend', 'event_id'],
                    unique=True)


def downgrade() -> None:
    op.drop_index('uq_inbound_messages_event', table_name='inbound_messages')
    with op.batch_alter_table('inbound_messages') as batch:
        batch.drop_column('event_id')
