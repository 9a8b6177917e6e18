"""Duplicate-patient review queue: possible duplicate pairs and staff decisions

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08

The blocking keys the matcher looks candidates up by are idx_token rows (param '_match'),
written with the search index: Patients stored before this revision get theirs from
`fhir-gateway db reindex`.
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('patient_match_reviews',
    sa.Column('pk', _PK, autoincrement=True, nullable=False),
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('candidate_id', sa.String(length=64), nullable=False),
    sa.Column('pair_low', sa.String(length=64), nullable=False),
    sa.Column('pair_high', sa.String(length=64), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('grade', sa.String(length=16), nullable=False),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.Column('updated', sa.DateTime(), nullable=False),
    sa.Column('resolved_by', sa.String(length=255), nullable=True),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('pk')
    )
    op.create_index('ix_match_reviews_pair', 'patient_match_reviews', ['pair_low', 'pair_high'])
    op.create_index('ix_match_reviews_status', 'patient_match_reviews', ['status', 'pk'])


def downgrade() -> None:
    op.drop_index('ix_match_reviews_status', table_name='patient_match_reviews')
    op.drop_index('ix_match_reviews_pair', table_name='patient_match_reviews')
    op.drop_table('patient_match_reviews')
