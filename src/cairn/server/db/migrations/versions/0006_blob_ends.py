"""blob ends: the digest of a blob's first and last 4 KiB (cairn._ends, POST /blobs/ends)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 20:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Blobs stored before have no ends: unknown ends match any, so nothing is assumed of them.
    op.add_column("blobs", sa.Column("ends", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("blobs") as batch:
        batch.drop_column("ends")
