"""alarm rules, their audit, alarms, their sequenced changes and the rules' watches

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("farms") as batch_op:
        batch_op.add_column(
            sa.Column("alarm_version", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.create_table(
        "alarm_rules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("farm_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("sensor_id", sa.Integer(), nullable=True),
        sa.Column("sensor_name", sa.String(length=64), nullable=True),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("clear_threshold", sa.Float(), nullable=True),
        sa.Column("for_ms", sa.BigInteger(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["farm_id"], ["farms.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alarm_rules_farm", "alarm_rules", ["farm_id"])
    op.create_table(
        "alarm_rule_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("farm_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["farm_id"], ["farms.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alarm_rule_audit_farm", "alarm_rule_audit", ["farm_id", "id"])
    op.create_table(
        "alarms",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("farm_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("sensor_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("raised_ms", sa.BigInteger(), nullable=False),
        sa.Column("cleared_ms", sa.BigInteger(), nullable=True),
        sa.Column("ack_by", sa.Integer(), nullable=True),
        sa.Column("ack_user", sa.String(length=64), nullable=True),
        sa.Column("ack_ms", sa.BigInteger(), nullable=True),
        sa.Column("ack_comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["farm_id"], ["farms.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alarms_farm_state", "alarms", ["farm_id", "state"])
    op.create_index("ix_alarms_farm_seq", "alarms", ["farm_id", "seq"])
    op.create_index("ix_alarms_device_code", "alarms", ["device_id", "code"])
    op.create_table(
        "alarm_changes",
        sa.Column("farm_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("alarm_id", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("received_ms", sa.BigInteger(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("farm_id", "seq"),
    )
    op.create_table(
        "alarm_watches",
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("pending_since_ms", sa.BigInteger(), nullable=True),
        sa.Column("active_alarm_id", sa.Integer(), nullable=True),
        sa.Column("last_ms", sa.BigInteger(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["rule_id"], ["alarm_rules.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("rule_id", "subject"),
    )


def downgrade() -> None:
    op.drop_table("alarm_watches")
    op.drop_table("alarm_changes")
    op.drop_index("ix_alarms_device_code", table_name="alarms")
    op.drop_index("ix_alarms_farm_seq", table_name="alarms")
    op.drop_index("ix_alarms_farm_state", table_name="alarms")
    op.drop_table("alarms")
    op.drop_index("ix_alarm_rule_audit_farm", table_name="alarm_rule_audit")
    op.drop_table("alarm_rule_audit")
    op.drop_index("ix_alarm_rules_farm", table_name="alarm_rules")
    op.drop_table("alarm_rules")
    with op.batch_alter_table("farms") as batch_op:
        batch_op.drop_column("alarm_version")
