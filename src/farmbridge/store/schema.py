"""The relational schema, as SQLAlchemy Core tables; migrations create and change it."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("token_version", Integer, nullable=False, default=0),
    Column("created_ms", BigInteger, nullable=False),
)

farms = Table(
    "farms",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("title", String(200), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False, default=0),
    Column("epoch", String(32), nullable=False),
    # Bumped whenever the farm's alarm rules or watches change: the writer's cache of them
    # is valid while it matches (store/alarm_cache.py).
    Column("alarm_version", BigInteger, nullable=False, default=0, server_default="0"),
)

memberships = Table(
    "memberships",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("farm_id", Integer, ForeignKey("farms.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(16), nullable=False),
    PrimaryKeyConstraint("user_id", "farm_id"),
)

devices = Table(
    "devices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("farm_id", Integer, ForeignKey("farms.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("title", String(200), nullable=False),
    Column("key_hash", String(128), nullable=False, unique=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("state", String(16), nullable=False, default="unknown"),
    Column("actuator", JSON, nullable=False, default=dict),
    Column("status_ts_ms", BigInteger, nullable=False, default=0),
    Column("status_seq", BigInteger, nullable=False, default=0),
    Column("last_seen_ms", BigInteger, nullable=True),
    # Liveness (domain/liveness.py): the interval set by an admin, else the one learned.
    Column("expected_interval_s", Float, nullable=True),
    Column("learned_interval_s", Float, nullable=True),
    Column("interval_anchor_ms", BigInteger, nullable=True),
    # The profile an admin edits (migration 0012): where it stands, ask before commands.
    Column("zone", String(64), nullable=True),
    Column("confirm_commands", Boolean, nullable=False, default=True, server_default=text("true")),
    UniqueConstraint("farm_id", "name"),
)

sensors = Table(
    "sensors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", Integer, ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
    Column("farm_id", Integer, ForeignKey("farms.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("unit", String(16), nullable=False, default=""),
    Column("min_value", Float, nullable=True),
    Column("max_value", Float, nullable=True),
    Column("last_value", Float, nullable=True),
    Column("last_ts_ms", BigInteger, nullable=True),
    Column("last_seq", BigInteger, nullable=True),
    UniqueConstraint("device_id", "name"),
)

# Every row below carries its farm's sequence number, the order of the live stream.
# On PostgreSQL, migration 0009 makes readings a table partitioned by day of received_ms
# with the primary key (farm_id, seq, received_ms) (store/partitions.py); as declared
# here, it is SQLite's.
readings = Table(
    "readings",
    metadata,
    Column("farm_id", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("sensor_id", Integer, nullable=False),
    Column("device_id", Integer, nullable=False),
    Column("value", Float, nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("farm_id", "seq"),
    Index("ix_readings_sensor_ts", "sensor_id", "ts_ms"),
    sqlite_with_rowid=False,
)

status_changes = Table(
    "status_changes",
    metadata,
    Column("farm_id", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("device_id", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("actuator", JSON, nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("farm_id", "seq"),
    Index("ix_status_device", "device_id", "seq"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("farm_id", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("device_id", Integer, nullable=True),
    Column("level", String(16), nullable=False),
    Column("code", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    UniqueConstraint("farm_id", "seq"),
)

commands = Table(
    "commands",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("farm_id", Integer, nullable=False),
    Column("device_id", Integer, ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
    Column("action", String(64), nullable=False),
    Column("params", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Column("created_by", Integer, nullable=True),
    Column("detail", Text, nullable=False, default=""),
    Column("seq", BigInteger, nullable=False, default=0),
    Index("ix_commands_device", "device_id", "id"),
    Index("ix_commands_state", "state", "expires_ms"),
)

command_updates = Table(
    "command_updates",
    metadata,
    Column("farm_id", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("command_id", Integer, nullable=False),
    Column("device_id", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("action", String(64), nullable=False, server_default=""),
    PrimaryKeyConstraint("farm_id", "seq"),
)

# Devices deleted, as changes of their farm's stream (a resuming client learns of them).
device_removals = Table(
    "device_removals",
    metadata,
    Column("farm_id", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("device_id", Integer, nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("farm_id", "seq"),
)

# Readings rolled up per sensor and period (5 min, 1 h): count, sum, min and max over
# [bucket_ms, bucket_ms + period_ms) of device time. The retention sweeper (store/rollups.py)
# adds every reading with a seq above its farm's `rolled_seq` once, in the transaction
# that moves the mark, so the rollups hold exactly the farm's readings up to that seq.
reading_rollups = Table(
    "reading_rollups",
    metadata,
    Column("sensor_id", Integer, nullable=False),
    Column("period_ms", Integer, nullable=False),
    Column("bucket_ms", BigInteger, nullable=False),
    Column("farm_id", Integer, nullable=False),
    Column("n", BigInteger, nullable=False),
    Column("total", Float, nullable=False),
    Column("lo", Float, nullable=False),
    Column("hi", Float, nullable=False),
    PrimaryKeyConstraint("sensor_id", "period_ms", "bucket_ms"),
    Index("ix_rollups_farm_period", "farm_id", "period_ms", "bucket_ms"),
)

# Per farm: every reading up to `rolled_seq` is in reading_rollups; every change up to
# `purged_seq` may have been deleted by retention, so a resume from before it cannot be
# replayed (the client must reload).
history_marks = Table(
    "history_marks",
    metadata,
    Column(
        "farm_id",
        Integer,
        ForeignKey("farms.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("rolled_seq", BigInteger, nullable=False, default=0),
    Column("purged_seq", BigInteger, nullable=False, default=0),
)

# A device's message ids, so that a retried batch is recognised and not stored twice.
ingest_messages = Table(
    "ingest_messages",
    metadata,
    Column("device_id", Integer, nullable=False),
    Column("message_id", String(64), nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    Column("accepted", Integer, nullable=False),
    Column("first_seq", BigInteger, nullable=True),
    Column("last_seq", BigInteger, nullable=True),
    PrimaryKeyConstraint("device_id", "message_id"),
    Index("ix_ingest_messages_received", "received_ms"),
)

# A LoRaWAN device's profile: decoded field -> sensor name, unit, scale and offset (a JSON
# list of objects), applied to its uplinks.
lorawan_profiles = Table(
    "lorawan_profiles",
    metadata,
    Column(
        "device_id",
        Integer,
        ForeignKey("devices.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("fields", JSON, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

# Display credentials (wall screens): a secret, stored as its keyed hash, that is exchanged
# for short-lived viewer tokens on one farm; revoking deletes the row.
displays = Table(
    "displays",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("farm_id", Integer, ForeignKey("farms.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("secret_hash", String(128), nullable=False, unique=True),
    Column("token_key", String(64), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("expires_ms", BigInteger, nullable=True),
    Index("ix_displays_farm", "farm_id"),
)

# Devices heard of (over MQTT or LoRaWAN) on a known farm but not registered: held for an
# admin to approve or reject, never created silently.
pending_devices = Table(
    "pending_devices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("farm_id", Integer, ForeignKey("farms.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("source", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("first_seen_ms", BigInteger, nullable=False),
    Column("last_seen_ms", BigInteger, nullable=False),
    Column("messages", Integer, nullable=False),
    Column("sample", Text, nullable=False),
    UniqueConstraint("farm_id", "name"),
)

# Notifications to send (webhooks, e-mail), written in the transaction of their cause and
# drained by the egress worker (store/outbox.py).
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("farm_id", Integer, ForeignKey("farms.id", ondelete="CASCADE"), nullable=False),
    Column("topic", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("dispatched_ms", BigInteger, nullable=True),
    Index("ix_outbox_undispatched", "dispatched_ms", "id"),
)

# Alarm rules per farm (domain/alarms.py) and who changed them, when (the audit).
alarm_rules = Table(
    "alarm_rules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("farm_id", Integer, ForeignKey("farms.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("code", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("sensor_id", Integer, nullable=True),
    Column("sensor_name", String(64), nullable=True),
    Column("device_id", Integer, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("clear_threshold", Float, nullable=True),
    Column("for_ms", BigInteger, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("message", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("updated_by", Integer, nullable=True),
    Index("ix_alarm_rules_farm", "farm_id"),
)

alarm_rule_audit = Table(
    "alarm_rule_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("farm_id", Integer, ForeignKey("farms.id", ondelete="CASCADE"), nullable=False),
    Column("rule_id", Integer, nullable=False),
    Column("action", String(16), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("user_id", Integer, nullable=True),
    Column("username", String(64), nullable=False),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Index("ix_alarm_rule_audit_farm", "farm_id", "id"),
)

# Every alarm in its current state; `seq` is the seq of its latest change.
alarms = Table(
    "alarms",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("farm_id", Integer, ForeignKey("farms.id", ondelete="CASCADE"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("rule_id", Integer, nullable=True),
    Column("device_id", Integer, nullable=True),
    Column("sensor_id", Integer, nullable=True),
    Column("kind", String(16), nullable=False),
    Column("code", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("value", Float, nullable=True),
    Column("state", String(16), nullable=False),
    Column("raised_ms", BigInteger, nullable=False),
    Column("cleared_ms", BigInteger, nullable=True),
    Column("ack_by", Integer, nullable=True),
    Column("ack_user", String(64), nullable=True),
    Column("ack_ms", BigInteger, nullable=True),
    Column("ack_comment", Text, nullable=True),
    Index("ix_alarms_farm_state", "farm_id", "state"),
    Index("ix_alarms_farm_seq", "farm_id", "seq"),
    Index("ix_alarms_device_code", "device_id", "code"),
)

# Each step of an alarm's lifecycle with its farm seq, the alarm as it was then: the stream
# and a resume read it like readings or events.
alarm_changes = Table(
    "alarm_changes",
    metadata,
    Column("farm_id", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("alarm_id", Integer, nullable=False),
    Column("change", String(16), nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    Column("snapshot", JSON, nullable=False),
    PrimaryKeyConstraint("farm_id", "seq"),
)

# What a rule remembers of one subject ("s<sensor id>" or "d<device id>") between inputs;
# only watches that differ from idle are stored.
alarm_watches = Table(
    "alarm_watches",
    metadata,
    Column("rule_id", Integer, ForeignKey("alarm_rules.id", ondelete="CASCADE"), nullable=False),
    Column("subject", String(32), nullable=False),
    Column("pending_since_ms", BigInteger, nullable=True),
    Column("active_alarm_id", Integer, nullable=True),
    Column("last_ms", BigInteger, nullable=True),
    Column("value", Float, nullable=True),
    PrimaryKeyConstraint("rule_id", "subject"),
)

# A farm's outgoing webhooks; `secret` keys each body's HMAC signature.
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("farm_id", Integer, ForeignKey("farms.id", ondelete="CASCADE"), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("secret", String(128), nullable=False),
    Column("description", String(200), nullable=False, default=""),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_by", Integer, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_webhooks_farm", "farm_id", "id"),
)

email_recipients = Table(
    "email_recipients",
    metadata,
    Column("farm_id", Integer, ForeignKey("farms.id", ondelete="CASCADE"), nullable=False),
    Column("address", String(254), nullable=False),
    PrimaryKeyConstraint("farm_id", "address"),
)

# The delivery log: one row per outbox row and target, made when the outbox row is
# dispatched (in the same transaction), then tried until delivered or failed. `target`
# is the webhook id as text or the address; unique per outbox row, so no target is
# written twice. Not bound to the webhook by a key: the log outlives a deleted webhook.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("outbox_id", Integer, ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False),
    Column("farm_id", Integer, ForeignKey("farms.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("target", String(254), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_ms", BigInteger, nullable=False),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=False, default=""),
    Column("created_ms", BigInteger, nullable=False),
    Column("delivered_ms", BigInteger, nullable=True),
    UniqueConstraint("outbox_id", "kind", "target"),
    Index("ix_deliveries_due", "state", "next_attempt_ms"),
    Index("ix_deliveries_farm", "farm_id", "id"),
)
