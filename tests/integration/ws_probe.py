"""A bare protocol-level WebSocket client for tests: send messages, expect answers, see closes."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


class Probe:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._pending: deque[dict[str, Any]] = deque()
        self.frames = 0

    @classmethod
    async def open(cls, base_url: str, **kw: Any) -> Probe:
        url = base_url.replace("http://", "ws://") + "/ws"
        ws = await connect(url, ping_interval=None, open_timeout=10, **kw)
        return cls(ws)

    async def send(self, msg: dict[str, Any] | str) -> None:
        await self.ws.send(msg if isinstance(msg, str) else orjson.dumps(msg).decode())

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next message (frames holding arrays are split); answers pings on the way."""
        deadline = time.monotonic() + timeout
        while True:
            if self._pending:
                msg = self._pending.popleft()
                if msg["type"] == "ping":
                    await self.send({"type": "pong"})
                    continue
                return msg
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no message in time")
            raw = await asyncio.wait_for(self.ws.recv(), remaining)
            self.frames += 1
            data = orjson.loads(raw)
            self._pending.extend(data if isinstance(data, list) else [data])

    async def expect(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        """Skips other data until a message of `kind`; an unexpected error fails at once."""
        deadline = time.monotonic() + timeout
        while True:
            msg = await self.recv(max(0.01, deadline - time.monotonic()))
            if msg["type"] == kind:
                return msg
            assert msg["type"] != "error", f"unexpected error while waiting for {kind}: {msg}"

    async def auth(self, token: str) -> dict[str, Any]:
        await self.expect("welcome")
        await self.send({"type": "auth", "token": token, "id": "a"})
        return await self.expect("authenticated")

    async def readings(self, count: int, timeout: float = 10.0) -> list[list[Any]]:
        """Collects reading rows from batches until `count` have arrived."""
        rows: list[list[Any]] = []
        deadline = time.monotonic() + timeout
        while len(rows) < count:
            msg = await self.expect("batch", max(0.01, deadline - time.monotonic()))
            rows.extend(msg.get("r", []))
        return rows

    async def close_code(self, timeout: float = 10.0) -> int | None:
        """Reads until the server closes; returns its close code."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                await asyncio.wait_for(self.ws.recv(), max(0.01, deadline - time.monotonic()))
        except ConnectionClosed as exc:
            await self.close()  # a reset leaves the transport open until closed here
            return exc.rcvd.code if exc.rcvd else None
        raise TimeoutError("server did not close")

    async def close(self) -> None:
        await self.ws.close()
        # After a TCP reset the closing handshake cannot run and the transport may stay
        # open (a ResourceWarning, an error under the suite's warning filter): abort it.
        self.ws.transport.abort()
