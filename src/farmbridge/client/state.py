"""The client's connection state (a ReadyState, as centrifuge-js names it) and its counters."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ConnectionState(StrEnum):
    CONNECTING = "connecting"
    """The first connection is being opened and authenticated."""
    CONNECTED = "connected"
    """Open and authenticated: subscriptions are live."""
    RECONNECTING = "reconnecting"
    """The connection was lost or refused; waiting out a backoff delay, or retrying."""
    CLOSED = "closed"
    """For good: closed by the caller, by the server (1000), or by an error it cannot mend."""


@dataclass(slots=True)
class Counters:
    reconnects: int = 0
    """Connections authenticated after the first one."""
    frames: int = 0
    bytes_received: int = 0
