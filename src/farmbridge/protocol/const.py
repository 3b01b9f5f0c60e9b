"""Protocol constants: version, message types, topics, error and close codes, and limits.

web-admin/src/lib/ws/messages.ts mirrors them (tests/unit/test_protocol_mirror.py checks it).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Final

PROTOCOL_VERSION: Final = 2
SUPPORTED_PROTOCOLS: Final = frozenset({1, PROTOCOL_VERSION})
"""The versions an `auth` message's `protocol` field may choose (docs/protocol.md, Versioning)."""

MAX_ID: Final = 2**63 - 1
"""The largest id or seq the store holds (SQLite's signed 64-bit INTEGER)."""
MAX_TOKEN_CHARS: Final = 4096

CLIENT_MESSAGE_TYPES: Final = frozenset(
    {"auth", "subscribe", "unsubscribe", "ping", "pong", "subscribe_stats", "unsubscribe_stats"}
)
SERVER_MESSAGE_TYPES: Final = frozenset(
    {
        "welcome",
        "authenticated",
        "subscribed",
        "batch",
        "resync_required",
        "unsubscribed",
        "error",
        "ping",
        "pong",
        "stats",
        "stats_unsubscribed",
    }
)


class Topic(StrEnum):
    READINGS = "readings"
    DEVICE_STATUS = "device_status"
    EVENTS = "events"
    COMMANDS = "commands"
    ALARMS = "alarms"
    """Since protocol 2."""
    DEVICE_REMOVALS = "device_removals"
    """Since protocol 2; implied by `device_status` (a removal ends a device's status)."""


ALL_TOPICS: Final = frozenset(Topic)
TOPICS_OF_VERSION: Final = {
    1: ALL_TOPICS - {Topic.ALARMS, Topic.DEVICE_REMOVALS},
    2: ALL_TOPICS,
}
"""The topics a client of each protocol version may have (and has by default)."""
IMPLIED_TOPICS: Final = {Topic.DEVICE_STATUS: Topic.DEVICE_REMOVALS}
"""A topic a client names brings this one with it, where its version serves it."""


class Mode(StrEnum):
    ALL = "all"
    """Every message, in order."""
    LATEST = "latest"
    """Readings queued for a slow client collapse to the newest per sensor."""


class ErrorCode(StrEnum):
    INVALID_JSON = "invalid_json"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_TYPE = "unknown_type"
    RATE_LIMITED = "rate_limited"
    UNAUTHENTICATED = "unauthenticated"
    AUTH_TIMEOUT = "auth_timeout"
    TOKEN_EXPIRED = "token_expired"  # noqa: S105 - an error code
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    OVERLOADED = "overloaded"
    INTERNAL_ERROR = "internal_error"


class ResyncReason(StrEnum):
    TOO_FAR_BEHIND = "too_far_behind"
    EPOCH_CHANGED = "epoch_changed"
    SLOW_CONSUMER = "slow_consumer"


class UnsubscribeReason(StrEnum):
    """Why the server ended a subscription (the `reason` of `unsubscribed`)."""

    REQUESTED = "requested"
    FORBIDDEN = "forbidden"
    TOKEN_EXPIRED = "token_expired"  # noqa: S105 - a reason
    UNAUTHENTICATED = "unauthenticated"
    FARM_DELETED = "farm_deleted"
    """The farm was deleted: there is nothing left to subscribe to."""


class CloseCode(IntEnum):
    """WebSocket close codes the server uses; 4xxx are this protocol's own."""

    NORMAL = 1000
    GOING_AWAY = 1001
    MESSAGE_TOO_BIG = 1009
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    UNAUTHENTICATED = 4001
    AUTH_TIMEOUT = 4002
    TOKEN_EXPIRED = 4003
    TOO_MANY_CONNECTIONS = 4008
    SLOW_CONSUMER = 4009
    HEARTBEAT_TIMEOUT = 4010
    ABUSE = 4029


# Limits. Each is the one declaration of a default: config.Settings (FARMBRIDGE_WS_*) and
# ws.limits.WsLimits take it from here; each is announced in `welcome` or documented in
# docs/protocol.md.
MAX_FRAME_BYTES: Final = 64 * 1024
AUTH_TIMEOUT_S: Final = 5.0
HEARTBEAT_S: Final = 15.0
MAX_SUBSCRIPTIONS: Final = 32
MAX_MESSAGES_PER_S: Final = 20.0
MESSAGE_BURST_S: Final = 2.0
"""A client may send this many seconds' worth of its message rate at once."""
MESSAGE_BURST: Final = int(MAX_MESSAGES_PER_S * MESSAGE_BURST_S)
MAX_VIOLATIONS: Final = 10
MAX_CONNECTIONS: Final = 20_000
MAX_CONNECTIONS_PER_USER: Final = 50
QUEUE_MAX_MESSAGES: Final = 2_000
QUEUE_MAX_BYTES: Final = 4 * 1024 * 1024
MAX_REPLAY_CHANGES: Final = 100_000
STATS_INTERVAL_S: Final = 10.0
"""How often a `stats` watcher gets the slot just closed (the slot's length)."""
STATS_WINDOW_S: Final = 300.0
"""How far back the window sent on `subscribe_stats` reaches."""
