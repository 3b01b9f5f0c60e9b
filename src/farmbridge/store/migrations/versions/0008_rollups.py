"""reading rollups (5 min, 1 h) and per-farm marks of what is rolled up and purged

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reading_rollups",
        sa.Column("sensor_id", sa.Integer(), nullable=False),
        sa.Column("period_ms", sa.Integer(), nullable=False),
        sa.Column("bucket_ms", sa.BigInteger(), nullable=False),
        sa.Column("farm_id", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("lo", sa.Float(), nullable=False),
        sa.Column("hi", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("sensor_id", "period_ms", "bucket_ms"),
    )
    op.create_index(
        "ix_rollups_farm_period", "reading_rollups", ["farm_id", "period_ms", "bucket_ms"]
    )
    op.create_table(
        "history_marks",
        sa.Column("farm_id", sa.Integer(), nullable=False),
        sa.Column("rolled_seq", sa.BigInteger(), nullable=False),
        sa.Column("purged_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["farm_id"], ["farms.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("farm_id"),
    )


def downgrade() -> None:
    op.drop_table("history_marks")
    op.drop_index("ix_rollups_farm_period", table_name="reading_rollups")
    op.drop_table("reading_rollups")
