"""PostgreSQL: readings partitioned by day of received_ms (SQLite: nothing changes)

The table is rebuilt as a partitioned one with the same columns, the primary key
(farm_id, seq, received_ms) (a partition key must be in it; a seq stays unique per farm
because the farm row's update hands it out), a DEFAULT partition and one per UTC day from
the oldest row's day (at most MAX_BACK_DAYS back: older rows go to DEFAULT, where the
batched delete takes them) to a week ahead. The rows are copied over in one statement,
the old table dropped and the sensor index made on the new one.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import time
from typing import Final

from alembic import op

from farmbridge.store import partitions

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

MAX_BACK_DAYS: Final = 400
_COLUMNS: Final = "farm_id, seq, sensor_id, device_id, value, ts_ms, received_ms"
_COLUMN_DDL: Final = (
    "farm_id INTEGER NOT NULL, seq BIGINT NOT NULL, sensor_id INTEGER NOT NULL, "
    "device_id INTEGER NOT NULL, value DOUBLE PRECISION NOT NULL, ts_ms BIGINT NOT NULL, "
    "received_ms BIGINT NOT NULL"
)


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    conn = op.get_bind()
    op.execute("ALTER TABLE readings RENAME TO readings_plain")
    op.execute("ALTER INDEX readings_pkey RENAME TO readings_plain_pkey")
    op.execute("DROP INDEX ix_readings_sensor_ts")
    op.execute(
        f"CREATE TABLE readings ({_COLUMN_DDL}, "
        "CONSTRAINT readings_pkey PRIMARY KEY (farm_id, seq, received_ms)) "
        "PARTITION BY RANGE (received_ms)"
    )
    op.execute(f"CREATE TABLE {partitions.DEFAULT_PARTITION} PARTITION OF readings DEFAULT")
    now_ms = int(time.time() * 1000)
    span = conn.exec_driver_sql(
        "SELECT min(received_ms), max(received_ms) FROM readings_plain"
    ).one()
    today = partitions.day_start(now_ms)
    first = today if span[0] is None else partitions.day_start(int(span[0]))
    first = max(min(first, today), today - MAX_BACK_DAYS * partitions.DAY_MS)
    last = today + partitions.PARTITIONS_AHEAD_DAYS * partitions.DAY_MS
    if span[1] is not None:
        last = max(last, partitions.day_start(int(span[1])))
    for lo in range(first, last + 1, partitions.DAY_MS):
        op.execute(partitions.create_sql(lo))
    op.execute(f"INSERT INTO readings ({_COLUMNS}) SELECT {_COLUMNS} FROM readings_plain")  # noqa: S608 - names
    op.execute("DROP TABLE readings_plain")
    op.execute("CREATE INDEX ix_readings_sensor_ts ON readings (sensor_id, ts_ms)")


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE readings RENAME TO readings_parted")
    op.execute("ALTER INDEX readings_pkey RENAME TO readings_parted_pkey")
    op.execute("DROP INDEX ix_readings_sensor_ts")
    op.execute(f"CREATE TABLE readings ({_COLUMN_DDL}, PRIMARY KEY (farm_id, seq))")
    op.execute(f"INSERT INTO readings ({_COLUMNS}) SELECT {_COLUMNS} FROM readings_parted")  # noqa: S608 - names
    op.execute("DROP TABLE readings_parted")
    op.execute("CREATE INDEX ix_readings_sensor_ts ON readings (sensor_id, ts_ms)")
