"""StreamClient: farms' live streams over one WebSocket, reconnecting and resuming by itself.

One background task (`farmbridge.client.run`) owns the socket: it runs a `Connection`
per session and, when one ends, picks the delay from the close code and reconnects.
Messages go through a bounded queue that `messages()` drains; a full queue pauses the
reading, so a slow consumer slows the socket instead of growing memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import Final

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidURI, WebSocketException

from farmbridge.client import decode
from farmbridge.client.backoff import Backoff
from farmbridge.client.connection import Connection, Ended
from farmbridge.client.errors import ClientAuthError, ClientClosedError, ClientError
from farmbridge.client.messages import Message, StateChanged
from farmbridge.client.state import ConnectionState, Counters
from farmbridge.client.subscriptions import Subscriptions
from farmbridge.domain.clock import SYSTEM_CLOCK, Clock
from farmbridge.protocol.const import CloseCode, Mode, Topic

log = logging.getLogger(__name__)

TokenSource = str | Callable[[], Awaitable[str]]
"""A token, or an async callable that returns a fresh one (called again when one is refused)."""

StateCallback = Callable[[StateChanged], None]

OPEN_TIMEOUT_S: Final = 10.0
CLOSE_TIMEOUT_S: Final = 1.0
MAX_INBOUND_FRAME_BYTES: Final = 16 * 1024 * 1024
"""Server frames (snapshots, replay chunks) may exceed the 64 KiB limit on client frames."""


def stream_url(base_url: str) -> str:
    """The /ws URL of a bridge from its base URL: `http://host:8000` -> `ws://host:8000/ws`."""
    url = base_url.rstrip("/")
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if url.startswith(http):
            url = ws + url.removeprefix(http)
    return url if url.endswith("/ws") else url + "/ws"


class StreamClient:
    """Subscribes to farms and yields their snapshots and changes, exactly once, in order.

    Use it as an async context manager, subscribe, then iterate `messages()` (one consumer).
    """

    def __init__(
        self,
        *,
        url: str,
        token: TokenSource,
        topics: Iterable[Topic | str] | None = None,
        mode: Mode | str = Mode.ALL,
        backoff_base_s: float = 0.25,
        backoff_max_s: float = 30.0,
        heartbeat_grace: float = 2.5,
        queue_size: int = 10_000,
        on_state: StateCallback | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        """
        Args:
            url: the bridge's WebSocket URL, `ws://HOST:PORT/ws` (see `stream_url`).
            token: a user token, or an async callable returning a fresh one; the callable
                is called again after a 4001/4003 close or a `token_expired` error, while
                a refused string token ends the client with `ClientAuthError`.
            topics: the topics of every subscription; None for all four.
            mode: `all` (every change) or `latest` (the server may collapse readings).
            backoff_base_s: the ceiling of the first reconnect delay.
            backoff_max_s: the ceiling of any reconnect delay (a server's retry-after aside).
            heartbeat_grace: a server silent for this many of its heartbeat intervals
                (`welcome.heartbeat_s`) is taken for gone, and the client reconnects.
            queue_size: messages held for `messages()` before reading pauses.
            on_state: called with each state change, as it happens.
            clock: stamps each message's arrival (`received_at_ms`).

        Raises ValueError for an unknown topic or mode.
        """
        self._url = url
        self._clock = clock
        self._token_source = token
        self._token: str | None = token if isinstance(token, str) else None
        self._subs = Subscriptions(
            topics=None if topics is None else sorted(Topic(t).value for t in topics),
            mode=Mode(mode),
        )
        self._backoff = Backoff(base_s=backoff_base_s, max_s=backoff_max_s)
        self._heartbeat_grace = heartbeat_grace
        self._on_state = on_state
        # None, queued after the last message, ends `messages()`.
        self._queue: asyncio.Queue[Message | None] = asyncio.Queue(maxsize=queue_size)
        self._state = ConnectionState.CONNECTING
        self._counters = Counters()
        self._conn: Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._finished = False
        self._failure: BaseException | None = None
        self._ever_connected = False
        self._retry_after_s: float | None = None  # an `overloaded` error's, for the next delay

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def last_seq(self) -> dict[int, int]:
        """The seq of the last change (or snapshot) yielded, per farm (a copy)."""
        return dict(self._subs.last_seq)

    @property
    def epoch(self) -> dict[int, str]:
        """Each farm's history epoch, from its last `subscribed` (a copy)."""
        return dict(self._subs.epoch)

    @property
    def reconnects(self) -> int:
        """Connections authenticated after the first one."""
        return self._counters.reconnects

    @property
    def duplicates_dropped(self) -> int:
        """Changes dropped because their seq was not above the farm's `last_seq`."""
        return self._subs.duplicates_dropped

    @property
    def frames(self) -> int:
        return self._counters.frames

    @property
    def bytes_received(self) -> int:
        return self._counters.bytes_received

    def start(self) -> None:
        """Starts the background task (the context manager and `messages()` do it)."""
        if self._closing:
            raise RuntimeError("the client is closed")
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="farmbridge.client.run")

    def subscribe(self, farm_id: int, *, since: int | None = None) -> None:
        """Watches a farm: a snapshot first, or with `since` the changes after that seq.

        Remembered: sent now when connected, and again (resuming) after every reconnect.
        """
        self._subs.add(farm_id, since)
        if self._conn is not None:
            self._conn.subscribe(farm_id)

    def unsubscribe(self, farm_id: int) -> None:
        """Stops watching a farm; its changes still queued are not yielded."""
        if self._subs.remove(farm_id) and self._conn is not None:
            self._conn.unsubscribe(farm_id)

    async def messages(self) -> AsyncGenerator[Message, None]:
        """Yields messages until the client closes.

        Raises ClientAuthError when the token is refused for good, ClientClosedError
        when the server closes for a fault of this client's.
        """
        self.start()
        while not self._closing:
            if self._finished and self._queue.empty():
                break
            item = await self._queue.get()
            if item is None:
                break
            if self._subs.consume(item):
                yield item
        if self._failure is not None and not self._closing:
            raise self._failure

    async def close(self) -> None:
        """Closes the connection (1000) and stops; `messages()` ends. Safe to call twice."""
        self._closing = True
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})
        self._finish()

    async def __aenter__(self) -> StreamClient:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _run(self) -> None:
        try:
            while True:
                ended = await self._session()
                if self._closing:
                    return
                delay_s = self._plan(ended)
                if delay_s is None:
                    return
                what = f"close {ended.code}" if ended.code is not None else "lost"
                detail = f"{what} {ended.reason}".strip()
                await self._set_state(
                    ConnectionState.RECONNECTING, f"{detail}; retrying in {delay_s:.2f} s"
                )
                await asyncio.sleep(delay_s)
        except ClientError as exc:
            self._failure = exc
        except Exception as exc:  # a bug: the caller hears of it rather than hangs
            log.exception("stream client failed")
            self._failure = exc
        finally:
            self._finish()

    async def _session(self) -> Ended:
        """One connection, from opening to its end."""
        try:
            token = await self._fresh_token()
        except Exception as exc:  # the caller's callable; retried with backoff
            log.warning("token callable failed: %r", exc)
            return Ended(None, f"token callable failed: {exc!r}")
        renew = None if isinstance(self._token_source, str) else self._renew_token
        conn: Connection | None = None
        try:
            async with connect(
                self._url,
                ping_interval=None,  # the protocol has its own heartbeat
                open_timeout=OPEN_TIMEOUT_S,
                close_timeout=CLOSE_TIMEOUT_S,
                max_size=MAX_INBOUND_FRAME_BYTES,
            ) as ws:
                conn = self._conn = Connection(
                    ws,
                    subs=self._subs,
                    queue=self._queue,
                    counters=self._counters,
                    backoff=self._backoff,
                    heartbeat_grace=self._heartbeat_grace,
                    renew=renew,
                    on_authenticated=self._authenticated,
                    clock=self._clock,
                )
                return await conn.run(token)
        except ConnectionClosed as exc:
            if exc.rcvd is None:
                return Ended(None, "connection lost")
            return Ended(exc.rcvd.code, exc.rcvd.reason)
        except InvalidURI as exc:
            raise ClientError(f"bad stream URL: {exc}") from exc
        except (OSError, TimeoutError, WebSocketException) as exc:
            return Ended(None, f"cannot connect: {exc}")
        finally:
            self._conn = None
            self._retry_after_s = conn.retry_after_s if conn is not None else None

    def _plan(self, ended: Ended) -> float | None:
        """The delay before reconnecting; None to stop; raises when retrying cannot help."""
        code, reason = ended
        if code == CloseCode.NORMAL:
            return None
        if code in (CloseCode.SERVICE_RESTART, CloseCode.AUTH_TIMEOUT):
            return self._backoff.restart_delay_s()
        if code in (CloseCode.MESSAGE_TOO_BIG, CloseCode.ABUSE):
            raise ClientClosedError(f"server closed {code}: {reason}", code=code, reason=reason)
        if code in (CloseCode.UNAUTHENTICATED, CloseCode.TOKEN_EXPIRED):
            if isinstance(self._token_source, str):
                raise ClientAuthError(f"token refused ({code}): {reason}", code=code, reason=reason)
            self._token = None
        retry_after_s = self._retry_after_s
        if code == CloseCode.TRY_AGAIN_LATER:
            ms = decode.retry_after_ms(reason)
            if ms is not None:
                retry_after_s = ms / 1000
        return self._backoff.next_delay_s(retry_after_s=retry_after_s)

    async def _fresh_token(self) -> str:
        if self._token is None:
            assert not isinstance(self._token_source, str)
            self._token = str(await self._token_source())
        return self._token

    async def _renew_token(self) -> str:
        self._token = None
        return await self._fresh_token()

    async def _authenticated(self, user: str) -> None:
        if self._ever_connected:
            self._counters.reconnects += 1
        self._ever_connected = True
        await self._set_state(ConnectionState.CONNECTED, f"as {user}")

    async def _set_state(self, state: ConnectionState, detail: str) -> None:
        if self._state_now(state, detail):
            await self._queue.put(StateChanged(state, detail))

    def _state_now(self, state: ConnectionState, detail: str) -> bool:
        """Records a state change and tells `on_state`; False when nothing changed."""
        if state == self._state:
            return False
        self._state = state
        if self._on_state is not None:
            try:
                self._on_state(StateChanged(state, detail))
            except Exception:  # the caller's callback must not stop the client
                log.exception("on_state callback failed")
        return True

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        detail = str(self._failure) if self._failure is not None else ""
        if self._state_now(ConnectionState.CLOSED, detail) and not self._queue.full():
            self._queue.put_nowait(StateChanged(ConnectionState.CLOSED, detail))
        if not self._queue.full():
            self._queue.put_nowait(None)
