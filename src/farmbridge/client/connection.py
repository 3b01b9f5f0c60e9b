"""One WebSocket session of the client: welcome, auth, subscriptions, then frames to a queue.

The session ends when the socket closes (`ConnectionClosed` rises) or the server falls
silent for `heartbeat_grace` of its heartbeat intervals; the client decides what next.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final, NamedTuple

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from farmbridge.client import decode
from farmbridge.client.backoff import Backoff
from farmbridge.client.errors import ClientAuthError
from farmbridge.client.messages import Message, Resynced, Unsubscribed
from farmbridge.client.state import Counters
from farmbridge.client.subscriptions import Subscriptions
from farmbridge.domain.clock import Clock
from farmbridge.protocol.const import HEARTBEAT_S, CloseCode, ErrorCode

log = logging.getLogger(__name__)

WELCOME_TIMEOUT_S: Final = 10.0

Renew = Callable[[], Awaitable[str]]
"""Fetches a fresh token."""


def _heartbeat_s(welcome: dict[str, Any]) -> float:
    beat = welcome.get("heartbeat_s")
    if isinstance(beat, int | float) and beat > 0:
        return float(beat)
    return HEARTBEAT_S


class Ended(NamedTuple):
    """How a session ended: the close code and reason, or None when none came."""

    code: int | None
    reason: str


class Connection:
    def __init__(
        self,
        ws: ClientConnection,
        *,
        subs: Subscriptions,
        queue: asyncio.Queue[Message | None],
        counters: Counters,
        backoff: Backoff,
        heartbeat_grace: float,
        renew: Renew | None,
        on_authenticated: Callable[[str], Awaitable[None]],
        clock: Clock,
    ) -> None:
        """
        Args:
            ws: the open socket.
            subs: the client's subscriptions, (re)sent once authenticated.
            queue: where messages go, awaited when full.
            counters: the client's counters, kept up to date.
            backoff: the client's backoff: reset on `authenticated`, and its jitter.
            heartbeat_grace: heartbeat intervals of silence after which the server is gone.
            renew: fetches a fresh token after `token_expired`; None for a fixed token.
            on_authenticated: called with the user name when the first `auth` succeeds.
            clock: stamps each message's arrival (`received_at_ms`).
        """
        self._clock = clock
        self._ws = ws
        self._subs = subs
        self._queue = queue
        self._counters = counters
        self._backoff = backoff
        self._heartbeat_grace = heartbeat_grace
        self._renew = renew
        self._on_authenticated = on_authenticated
        self._ids = itertools.count(1)
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.authenticated = False  # and not waiting for a re-auth: subscribes may go
        self._reauth = False  # the token expired on this socket and a new one was sent
        self._pending: dict[int, int] = {}  # subscribe id -> farm, to place an error
        self._timers: list[asyncio.TimerHandle] = []
        self.retry_after_s: float | None = None
        """An `overloaded` error's wait, for the reconnect that follows."""

    def subscribe(self, farm: int) -> None:
        if self.authenticated and farm in self._subs:
            self._send(self._request(farm))

    def unsubscribe(self, farm: int) -> None:
        if self.authenticated:
            self._send({"type": "unsubscribe", "id": next(self._ids), "farm": farm})

    async def run(self, token: str) -> Ended:
        """Serves the session; raises ConnectionClosed when the socket closes."""
        writer = asyncio.create_task(self._write(), name="farmbridge.client.write")
        try:
            return await self._read(token)
        finally:
            self.authenticated = False
            for timer in self._timers:
                timer.cancel()
            writer.cancel()
            await asyncio.wait({writer})

    async def _write(self) -> None:
        try:
            while True:
                await self._ws.send(orjson.dumps(await self._outbox.get()), text=True)
        except ConnectionClosed:
            return  # the reader sees the close too

    def _send(self, message: dict[str, Any]) -> None:
        self._outbox.put_nowait(message)

    def _request(self, farm: int) -> dict[str, Any]:
        ref = next(self._ids)
        self._pending[ref] = farm
        return self._subs.request(farm, ref)

    async def _read(self, token: str) -> Ended:
        silence_s = WELCOME_TIMEOUT_S
        while True:
            try:
                async with asyncio.timeout(silence_s):
                    raw = await self._ws.recv(decode=False)
            except TimeoutError:
                await self._ws.close(CloseCode.GOING_AWAY, "server silent")
                return Ended(None, f"server silent for {silence_s:g} s")
            received_at_ms = self._clock.wall_ms()
            self._counters.frames += 1
            self._counters.bytes_received += len(raw)
            try:
                for msg in decode.frame_messages(raw):
                    if msg.get("type") == "welcome":
                        silence_s = self._heartbeat_grace * _heartbeat_s(msg)
                        self._send({"type": "auth", "token": token, "id": next(self._ids)})
                    else:
                        await self._dispatch(msg, received_at_ms)
            except decode.MalformedMessage as exc:
                log.warning("ignoring a server message: %s", exc)

    async def _dispatch(self, msg: dict[str, Any], received_at_ms: int) -> None:
        """Acts on one server message (but `welcome`); unknown types are ignored."""
        kind = msg.get("type")
        if kind == "batch":
            for change in decode.batch_changes(msg, received_at_ms=received_at_ms):
                await self._queue.put(change)
        elif kind == "ping":
            self._send({"type": "pong"})
        elif kind == "authenticated":
            await self._authenticated(str(msg.get("user", "")))
        elif kind == "subscribed":
            farm = int(msg["farm"])
            ref = msg.get("id")
            if isinstance(ref, int):
                self._pending.pop(ref, None)
            self._subs.subscribed(farm, str(msg["epoch"]))
            if "snapshot" in msg:
                await self._queue.put(decode.snapshot(msg))
        elif kind == "resync_required":
            farm = int(msg["farm"])
            if farm in self._subs:
                self._subs.resync(farm)
                self._send(self._request(farm))
            await self._queue.put(Resynced(farm, str(msg.get("reason", ""))))
        elif kind == "unsubscribed":
            farm, reason = int(msg["farm"]), str(msg.get("reason", ""))
            if reason not in ("requested", "token_expired"):  # token_expired: resumed on re-auth
                self._subs.remove(farm)
            await self._queue.put(Unsubscribed(farm, reason))
        elif kind == "error":
            await self._error(msg)

    async def _authenticated(self, user: str) -> None:
        self.authenticated = True
        if self._reauth:  # the expired token ended every subscription: resume them all
            self._reauth = False
        else:
            self._backoff.reset()
            await self._on_authenticated(user)
        for farm in self._subs:
            self._send(self._request(farm))

    async def _error(self, msg: dict[str, Any]) -> None:
        ref = msg.get("id")
        farm = self._pending.pop(ref, None) if isinstance(ref, int) else None
        error = decode.server_error(msg, farm=farm)
        await self._queue.put(error)
        if error.code == ErrorCode.TOKEN_EXPIRED:
            await self._token_expired(error.message)
        elif error.code in (ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND) and farm is not None:
            self._subs.remove(farm)
        elif error.code == ErrorCode.OVERLOADED and error.retry_after_ms is not None:
            retry_after_s = error.retry_after_ms / 1000
            if farm is None:  # the connection's own: the server closes it (1013)
                self.retry_after_s = retry_after_s
            elif farm in self._subs:  # one subscribe failed: ask again later
                delay_s = retry_after_s + self._backoff.jitter_s()
                loop = asyncio.get_running_loop()
                self._timers.append(loop.call_later(delay_s, self.subscribe, farm))

    async def _token_expired(self, message: str) -> None:
        if self._renew is None:
            raise ClientAuthError(f"token expired: {message}", reason=message)
        self.authenticated, self._reauth = False, True
        try:
            token = await self._renew()
        except Exception as exc:  # the server's auth timeout closes; the next connect retries
            log.warning("token callable failed: %r", exc)
            return
        self._send({"type": "auth", "token": token, "id": next(self._ids)})
