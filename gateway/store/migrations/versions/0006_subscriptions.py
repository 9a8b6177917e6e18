"""Subscriptions: the notification queue, delivery health per subscription, the registry counter

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('subscription_notifications',
    sa.Column('pk', _PK, autoincrement=True, nullable=False),
    sa.Column('subscription_id', sa.String(length=64), nullable=False),
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('interaction', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('lease_holder', sa.String(length=128), nullable=True),
    sa.Column('lease_until', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=255), nullable=True),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.Column('updated', sa.DateTime(), nullable=False),
    sa.Column('delivered', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('pk')
    )
    op.create_index('ix_subscription_notifications_due', 'subscription_notifications',
                    ['status', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_subscription_notifications_subscription_id'),
                    'subscription_notifications', ['subscription_id'], unique=False)
    op.create_table('subscription_health',
    sa.Column('subscription_id', sa.String(length=64), nullable=False),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('last_delivered', sa.DateTime(), nullable=True),
    sa.Column('last_failed', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=255), nullable=True),
    sa.PrimaryKeyConstraint('subscription_id')
    )
    registry = op.create_table('subscription_registry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.bulk_insert(registry, [{'id': 1, 'version': 0}])


def downgrade() -> None:
    op.drop_table('subscription_registry')
    op.drop_table('subscription_health')
    op.drop_index(op.f('ix_subscription_notifications_subscription_id'),
                  table_name='subscription_notifications')
    op.drop_index('ix_subscription_notifications_due', table_name='subscription_notifications')
    op.drop_table('subscription_notifications')
