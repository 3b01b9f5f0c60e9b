"""The settings of the /ws endpoint, gathered once from config by the app.

The defaults are declared once: the protocol's limits in protocol/const.py, the server's
own below; config.Settings takes its FARMBRIDGE_WS_* defaults from the same names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from farmbridge.protocol.const import (
    AUTH_TIMEOUT_S,
    HEARTBEAT_S,
    MAX_CONNECTIONS,
    MAX_CONNECTIONS_PER_USER,
    MAX_FRAME_BYTES,
    MAX_MESSAGES_PER_S,
    MAX_SUBSCRIPTIONS,
    MAX_VIOLATIONS,
    MESSAGE_BURST,
    MESSAGE_BURST_S,
    QUEUE_MAX_BYTES,
    QUEUE_MAX_MESSAGES,
)

SEND_TIMEOUT_S: Final = 30.0
"""A send that waits this long for a writable socket marks a stalled consumer (4009)."""
MAX_SLOW_STRIKES: Final = 3
"""Queue overflows (each a resync) before a slow consumer is closed (4009)."""
OVERLOAD_RETRY_S: Final = 5.0
"""The wait advised with `overloaded`."""
REPLAY_CHUNK_CHANGES: Final = 500
"""Changes per batch of a resume's replay."""


def burst_of(messages_per_s: float) -> int:
    """The burst a client gets with a message rate (MESSAGE_BURST_S seconds of it)."""
    return max(1, int(messages_per_s * MESSAGE_BURST_S))


@dataclass(frozen=True, slots=True)
class WsLimits:
    heartbeat_s: float = HEARTBEAT_S
    auth_timeout_s: float = AUTH_TIMEOUT_S
    max_subscriptions: int = MAX_SUBSCRIPTIONS
    messages_per_s: float = MAX_MESSAGES_PER_S
    message_burst: int = MESSAGE_BURST
    max_violations: int = MAX_VIOLATIONS
    max_connections: int = MAX_CONNECTIONS
    max_connections_per_user: int = MAX_CONNECTIONS_PER_USER
    queue_max_messages: int = QUEUE_MAX_MESSAGES
    queue_max_bytes: int = QUEUE_MAX_BYTES
    max_slow_strikes: int = MAX_SLOW_STRIKES
    overload_retry_s: float = OVERLOAD_RETRY_S
    replay_chunk: int = REPLAY_CHUNK_CHANGES
    allowed_origins: tuple[str, ...] = ()
    max_frame_bytes: int = MAX_FRAME_BYTES
    send_timeout_s: float = SEND_TIMEOUT_S
