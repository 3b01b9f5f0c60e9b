"""A device's profile: the zone it stands in, and whether the dashboard asks before commands

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("devices", sa.Column("zone", sa.String(length=64), nullable=True))
    # Existing devices ask before a command too: the safe side for a pump already wired.
    op.add_column(
        "devices",
        sa.Column("confirm_commands", sa.Boolean(), nullable=False, server_default=sa.text("true")),
    )


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("confirm_commands")
        batch.drop_column("zone")
