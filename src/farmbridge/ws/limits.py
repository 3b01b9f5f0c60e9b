"""The settings of the /ws endpoint, gathered once from config by the app."""

from __future__ import annotations

from dataclasses import dataclass

from farmbridge.protocol.const import (
    AUTH_TIMEOUT_S,
    MAX_FRAME_BYTES,
    MAX_MESSAGES_PER_S,
    MAX_SUBSCRIPTIONS,
    MAX_VIOLATIONS,
    MESSAGE_BURST,
)


@dataclass(frozen=True, slots=True)
class WsLimits:
    heartbeat_s: float = 15.0
    auth_timeout_s: float = AUTH_TIMEOUT_S
    max_subscriptions: int = MAX_SUBSCRIPTIONS
    messages_per_s: float = MAX_MESSAGES_PER_S
    message_burst: int = MESSAGE_BURST
    max_violations: int = MAX_VIOLATIONS
    max_connections: int = 20_000
    max_connections_per_user: int = 50
    queue_max_messages: int = 2_000
    queue_max_bytes: int = 4 * 1024 * 1024
    max_slow_strikes: int = 3
    overload_retry_s: float = 5.0
    replay_chunk: int = 500
    allowed_origins: tuple[str, ...] = ()
    max_frame_bytes: int = MAX_FRAME_BYTES
    send_timeout_s: float = 30.0
