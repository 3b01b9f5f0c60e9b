"""An asyncio client for the bridge's live stream (docs/protocol.md), over `websockets`.

    async with StreamClient(url=stream_url("http://127.0.0.1:8000"), token=token) as client:
        client.subscribe(farm_id)
        async for message in client.messages():
            ...

It imports only `farmbridge.protocol` and `farmbridge.domain` of this package, so tests,
the simulator, load tools and `farmbridge watch` can use it without a server in-process.
"""

from farmbridge.client.backoff import Backoff, full_jitter_s
from farmbridge.client.display import describe
from farmbridge.client.errors import ClientAuthError, ClientClosedError, ClientError
from farmbridge.client.messages import (
    Change,
    ChangeKind,
    CommandChange,
    EventChange,
    Message,
    ReadingChange,
    Resynced,
    ServerError,
    Snapshot,
    SnapshotDevice,
    SnapshotSensor,
    StateChanged,
    StatusChange,
    Unsubscribed,
)
from farmbridge.client.state import ConnectionState
from farmbridge.client.stream import StreamClient, TokenSource, stream_url

__all__ = [
    "Backoff",
    "Change",
    "ChangeKind",
    "ClientAuthError",
    "ClientClosedError",
    "ClientError",
    "CommandChange",
    "ConnectionState",
    "EventChange",
    "Message",
    "ReadingChange",
    "Resynced",
    "ServerError",
    "Snapshot",
    "SnapshotDevice",
    "SnapshotSensor",
    "StateChanged",
    "StatusChange",
    "StreamClient",
    "TokenSource",
    "Unsubscribed",
    "describe",
    "full_jitter_s",
    "stream_url",
]
