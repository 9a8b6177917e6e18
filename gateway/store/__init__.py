"""Persistence: SQLAlchemy 2.x models, the Database handle, repositories, Alembic migrations.

May import: sqlalchemy, alembic, stdlib. Never flask, translators or services.
"""
