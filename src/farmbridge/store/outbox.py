"""The durable outbox of notifications: what must leave the bridge (webhooks, e-mail).

A row is written in the same transaction as the change it tells of, so a commit and its
notification are one: a crash can lose neither alone. The egress worker drains it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from farmbridge.store.schema import outbox


def enqueue(
    conn: Connection, farm_id: int, topic: str, payload: dict[str, Any], now_ms: int
) -> None:
    """Queues one notification about `topic` (for example "alarm") on the open transaction."""
    conn.execute(
        outbox.insert().values(farm_id=farm_id, topic=topic, payload=payload, created_ms=now_ms)
    )
