"""Alembic migrations of the Cairn schema."""
