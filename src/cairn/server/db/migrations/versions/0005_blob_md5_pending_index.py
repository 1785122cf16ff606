"""blob md5 pending index: the blobs still waiting for their md5 (services/blob_md5 sweep)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 17:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PENDING = sa.text("md5 IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_blobs_md5_pending",
        "blobs",
        ["sha256"],
        unique=False,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_blobs_md5_pending", table_name="blobs")
