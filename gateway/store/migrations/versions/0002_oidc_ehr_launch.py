"""OpenID Connect and EHR launch: staff users' Practitioner identity, id_token nonce, launch contexts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('launch_contexts',
    sa.Column('launch_hash', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('patient', sa.String(length=64), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.Column('expires', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('launch_hash')
    )
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('practitioner_id', sa.String(length=64), nullable=True))
    with op.batch_alter_table('auth_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nonce', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('auth_codes', schema=None) as batch_op:
        batch_op.drop_column('nonce')
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_column('practitioner_id')
    op.drop_table('launch_contexts')
