"""Transactional outbox: writes owed to backend EHRs, their delivery log and dead letters

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbox',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('backend', sa.String(length=64), nullable=False),
    sa.Column('interaction', sa.String(length=16), nullable=False),
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('profile', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('last_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('finished', sa.DateTime(), nullable=True),
    sa.Column('lease_holder', sa.String(length=128), nullable=True),
    sa.Column('lease_until', sa.DateTime(), nullable=True),
    sa.Column('backend_id', sa.String(length=128), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('closed_by', sa.String(length=128), nullable=True),
    sa.Column('note', sa.String(length=1000), nullable=True),
    sa.PrimaryKeyConstraint('pk')
    )
    op.create_index('ix_outbox_backend_status', 'outbox', ['backend', 'status', 'pk'], unique=False)
    op.create_index('ix_outbox_status_finished', 'outbox', ['status', 'finished'], unique=False)
    op.create_index('ix_outbox_resource', 'outbox', ['resource_type', 'resource_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_outbox_resource', table_name='outbox')
    op.drop_index('ix_outbox_status_finished', table_name='outbox')
    op.drop_index('ix_outbox_backend_status', table_name='outbox')
    op.drop_table('outbox')
