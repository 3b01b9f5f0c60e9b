"""device liveness (expected and learned reporting interval) and device removals

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("devices", sa.Column("expected_interval_s", sa.Float(), nullable=True))
    op.add_column("devices", sa.Column("learned_interval_s", sa.Float(), nullable=True))
    op.add_column("devices", sa.Column("interval_anchor_ms", sa.BigInteger(), nullable=True))
    op.create_table(
        "device_removals",
        sa.Column("farm_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("farm_id", "seq"),
    )


def downgrade() -> None:
    op.drop_table("device_removals")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("interval_anchor_ms")
        batch.drop_column("learned_interval_s")
        batch.drop_column("expected_interval_s")
