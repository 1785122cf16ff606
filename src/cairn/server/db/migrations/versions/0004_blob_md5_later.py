"""blob md5 taken later: null until the server has hashed a large blob (services/blob_md5)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.alter_column("md5", existing_type=sa.String(length=32), nullable=True)


def downgrade() -> None:
    # An md5 not taken yet cannot be taken here (there is no blob store): refuse rather than
    # leave the earlier schema a made-up one.
    waiting = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM blobs WHERE md5 IS NULL"))
    count = waiting.scalar()
    if count:
        raise RuntimeError(
            f"{count} blob(s) wait for their md5: run this version's server until it has "
            "taken them all (no blob left with a null md5), then downgrade"
        )
    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.alter_column("md5", existing_type=sa.String(length=32), nullable=False)
