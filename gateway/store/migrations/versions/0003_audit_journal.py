"""Audit journal: how far each journal segment has been drained into audit_events

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_journal_segments',
    sa.Column('segment', sa.String(length=255), nullable=False),
    sa.Column('drained_to', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('segment')
    )


def downgrade() -> None:
    op.drop_table('audit_journal_segments')
