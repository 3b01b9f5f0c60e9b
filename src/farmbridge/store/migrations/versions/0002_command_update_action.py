"""command updates carry their command's action, for the live stream

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("command_updates") as batch_op:
        batch_op.add_column(
            sa.Column("action", sa.String(length=64), nullable=False, server_default="")
        )
    op.execute(
        "UPDATE command_updates SET action = "
        "(SELECT action FROM commands WHERE commands.id = command_updates.command_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("command_updates") as batch_op:
        batch_op.drop_column("action")
