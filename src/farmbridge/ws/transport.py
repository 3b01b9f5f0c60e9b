"""The only reach into uvicorn's protocol object behind an ASGI `send`.

ASGI has no way to write past flow control or to close a socket whose peer stopped
reading; uvicorn's sans-I/O WebSocket protocol (wsproto/websockets) behind `send` has.
Everything here degrades to nothing with another server: frames then go through the
connection's writer task, and a stalled socket closes when the app returns.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from starlette.types import Send

CLOSE_GRACE_S: Final = 5.0
"""How long a forced close waits for the close frame to leave before aborting."""


def force_close(send: Send, code: int, reason: str) -> None:
    """Queues a close frame past flow control, then aborts the socket after CLOSE_GRACE_S.

    For a peer that stopped reading: an ASGI close would wait, like every send, until
    the socket is writable again.
    """
    proto = getattr(send, "__self__", None)
    conn = getattr(proto, "conn", None)
    transport = getattr(proto, "transport", None)
    if conn is None or transport is None or getattr(proto, "close_sent", True):
        return
    conn.send_close(code, reason)
    transport.write(b"".join(conn.data_to_send()))
    proto.close_sent = True  # type: ignore[union-attr]
    asyncio.get_running_loop().call_later(CLOSE_GRACE_S, transport.abort)


class DirectWriter:
    """Writes a text frame straight to uvicorn's transport when the socket is writable.

    A flush reaches thousands of idle connections; waking each one's writer task costs
    more than the send itself, so the hub's delivery writes in place when nothing is
    queued or in flight. With another server (no sans-I/O protocol behind `send`) it is
    never built, and every frame goes through the writer task.
    """

    __slots__ = ("_conn", "_proto", "_transport", "_writable")

    def __init__(self, proto: Any) -> None:
        self._proto = proto
        self._conn = proto.conn
        self._transport = proto.transport
        self._writable: asyncio.Event = proto.writable

    @classmethod
    def of(cls, send: Send) -> DirectWriter | None:
        proto = getattr(send, "__self__", None)
        needed = ("conn", "transport", "writable", "close_sent", "disconnected")
        if proto is None or not all(hasattr(proto, a) for a in needed):
            return None
        return cls(proto)

    def ready(self) -> bool:
        proto = self._proto
        return (
            self._writable.is_set()
            and not proto.close_sent
            and not proto.disconnected
            and not self._transport.is_closing()
        )

    def write(self, frame: str) -> None:
        self._conn.send_text(frame.encode())
        self._transport.write(b"".join(self._conn.data_to_send()))
