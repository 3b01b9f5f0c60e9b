"""One WebSocket connection: its state, its reader, its writer and its heartbeat.

The writer owns the socket's send side and drains a bounded queue, so the hub never
waits for a socket; a slow client only backs up its own queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Coroutine, Sequence
from typing import Any

from starlette.types import Receive, Send

from farmbridge import metrics
from farmbridge.domain.errors import DomainError, Forbidden, NotFound, RateLimited, Unauthenticated
from farmbridge.hub.channel import Part, Subscription
from farmbridge.hub.queue import SendQueue
from farmbridge.protocol import server_messages as out
from farmbridge.protocol.client_messages import (
    Auth,
    ClientMessage,
    Ping,
    Pong,
    ProtocolViolation,
    Subscribe,
    Unsubscribe,
    parse,
)
from farmbridge.protocol.const import ALL_TOPICS, CloseCode, ErrorCode, ResyncReason
from farmbridge.service.access import AccessService, Principal
from farmbridge.service.connections import ConnectionInfo, ConnectionRegistry
from farmbridge.service.ratelimit import RateLimiter
from farmbridge.service.stream import Resync, StreamService
from farmbridge.ws.limits import WsLimits

log = logging.getLogger(__name__)


_ids = itertools.count(1)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


CLOSE_GRACE_S = 5.0
LATENCY_SAMPLE = 8


def force_close(send: Send, code: int, reason: str) -> None:
    """Queues a close frame past flow control, then aborts the socket after a grace period.

    ASGI offers no way to close a socket whose peer stopped reading (every send waits
    until it is writable), so this reaches uvicorn's protocol object behind `send`; with
    another server it does nothing and the socket closes when the app returns.
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


class Connection:
    def __init__(
        self,
        *,
        send: Send,
        access: AccessService,
        stream: StreamService,
        registry: ConnectionRegistry,
        limits: WsLimits,
        remote: str,
        cookie_token: str | None = None,
    ) -> None:
        self.id = f"c{next(_ids)}"
        self._send = send
        self._direct = DirectWriter.of(send)
        self._access = access
        self._stream = stream
        self._registry = registry
        self._limits = limits
        self.remote = remote
        self._cookie_token = cookie_token
        self.principal: Principal | None = None
        self.subs: dict[int, Subscription] = {}
        self.queue = SendQueue(
            max_messages=limits.queue_max_messages, max_bytes=limits.queue_max_bytes
        )
        self._limiter = RateLimiter(rate_per_s=limits.messages_per_s, burst=limits.message_burst)
        self.connected_ms = _now_ms()
        self.messages_in = 0
        self.messages_out = 0
        self.bytes_out = 0
        self._violations = 0
        self._slow_strikes = 0
        self._last_heard = time.monotonic()
        self._sending_since = 0.0
        self._close: tuple[int, str] | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._auth_deadline: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # Registry view.

    @property
    def user_id(self) -> int | None:
        return self.principal.user.id if self.principal else None

    def info(self) -> ConnectionInfo:
        return ConnectionInfo(
            id=self.id,
            user=self.principal.user.username if self.principal else None,
            remote=self.remote,
            farms=sorted(self.subs),
            connected_ms=self.connected_ms,
            messages_in=self.messages_in,
            messages_out=self.messages_out,
            bytes_out=self.bytes_out,
            queue_depth=len(self.queue),
            queue_bytes=self.queue.queued_bytes,
            mode={f: s.mode.value for f, s in self.subs.items()},
        )

    def access_changed(self) -> None:
        self._spawn(self._recheck_access(), "recheck")

    def close_soon(self, code: int, reason: str) -> None:
        """Sends what is queued, then closes; later data is no longer queued."""
        if self._close is None:
            self._close = (code, reason)
            self.queue.ready.set()

    # The hub's side (Sink).

    def deliver(self, sub: Subscription, parts: Sequence[Part]) -> None:
        if sub.held is not None:
            for _, changes in parts:
                sub.held.extend(changes)
            return
        if self._close is not None:
            return
        direct = (
            self._direct is not None
            and not len(self.queue)
            and not self._sending_since
            and self._direct.ready()
        )
        if not self.queue.put_data(sub, parts, wake=not direct):
            self._slow_consumer()
            return
        if direct:
            assert self._direct is not None
            now = _now_ms()
            frame = self.queue.take_frame(now)
            if frame is not None:
                self._direct.write(frame)
                self._sent(frame, now)
            if len(self.queue):  # a flush larger than one frame: the writer sends the rest
                self.queue.ready.set()

    def _slow_consumer(self) -> None:
        self.queue.drop_data()
        self._slow_strikes += 1
        metrics.WS_SLOW_CONSUMERS.inc()
        for farm_id, sub in list(self.subs.items()):
            self._stream.unsubscribe(sub)
            del self.subs[farm_id]
            seq, epoch = self._stream.head(farm_id)
            self.queue.put_control(
                out.resync_required(farm_id, ResyncReason.SLOW_CONSUMER, seq, epoch)
            )
        if self._slow_strikes >= self._limits.max_slow_strikes:
            self.close_soon(CloseCode.SLOW_CONSUMER, "too slow to keep up")

    # Running.

    async def run(self, receive: Receive) -> None:
        """Serves the connection until either side closes it."""
        self.queue.put_control(
            out.welcome(self.id, self._limits.heartbeat_s, self._limits.max_frame_bytes)
        )
        loop = asyncio.get_running_loop()
        if self._cookie_token is not None:
            await self._authenticate(self._cookie_token, None)
        if self.principal is None:
            self._auth_deadline = loop.call_later(self._limits.auth_timeout_s, self._auth_timeout)
        reader = asyncio.create_task(self._read(receive), name=f"farmbridge.ws.{self.id}.read")
        writer = asyncio.create_task(self._write(), name=f"farmbridge.ws.{self.id}.write")
        beat = asyncio.create_task(self._heartbeat(), name=f"farmbridge.ws.{self.id}.heartbeat")
        try:
            await asyncio.wait({reader, writer, beat}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, writer, beat, *self._tasks):
                task.cancel()
            for task in (reader, writer, beat):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._teardown()

    def _teardown(self) -> None:
        for sub in self.subs.values():
            self._stream.unsubscribe(sub)
        self.subs.clear()
        for handle in (self._expiry, self._auth_deadline):
            if handle is not None:
                handle.cancel()

    async def _write(self) -> None:
        while True:
            await self.queue.ready.wait()
            now = _now_ms()
            frame = self.queue.take_frame(now)
            if frame is not None:
                oldest = self.queue.oldest_stored_ms
                # No wait_for here: a task per send would cost more than the send itself;
                # the heartbeat watches for sends that do not finish.
                self._sending_since = time.monotonic()
                await self._send({"type": "websocket.send", "text": frame})
                self._sending_since = 0.0
                self._sent(frame, now, oldest)
            if self._close is not None and not len(self.queue):
                code, reason = self._close
                await self._send({"type": "websocket.close", "code": code, "reason": reason})
                return

    def _sent(self, frame: str, now: int, oldest: int | None = None) -> None:
        self.messages_out += 1
        self.bytes_out += len(frame)
        if oldest is None:
            oldest = self.queue.oldest_stored_ms
        # One frame in LATENCY_SAMPLE is enough for the histogram's shape and keeps its
        # lock off the per-send path.
        if oldest and not self.messages_out % LATENCY_SAMPLE:
            metrics.WS_DELIVERY_SECONDS.observe(max(0.0, (now - oldest) / 1000))

    def _stalled(self) -> bool:
        """True when a send has waited for a writable socket longer than the send timeout."""
        since = self._sending_since
        return bool(since) and time.monotonic() - since > self._limits.send_timeout_s

    async def _read(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message["type"] != "websocket.receive":
                continue
            self._last_heard = time.monotonic()
            self.messages_in += 1
            raw = message.get("text")
            if raw is None:
                raw = message.get("bytes") or b""
            try:
                self._limiter.take(0)
                await self._dispatch(parse(raw))
            except ProtocolViolation as exc:
                self._violation(exc.code, exc.message, exc.ref)
            except RateLimited as exc:
                self._violation(
                    ErrorCode.RATE_LIMITED,
                    f"more than {self._limits.messages_per_s:g} messages per second",
                    None,
                    retry_after_ms=int(exc.retry_after_s * 1000) + 1,
                )

    def _violation(
        self, code: ErrorCode, message: str, ref: int | str | None, **extra: Any
    ) -> None:
        self._violations += 1
        metrics.WS_ERRORS.labels(code.value).inc()
        self.queue.put_control(out.error(code, message, ref, **extra))
        if self._violations > self._limits.max_violations:
            self.close_soon(CloseCode.ABUSE, "too many invalid or excess messages")

    async def _heartbeat(self) -> None:
        interval = self._limits.heartbeat_s
        check = min(interval, self._limits.send_timeout_s / 2)
        next_ping = time.monotonic() + interval
        while True:
            await asyncio.sleep(check)
            if self._stalled():
                # The socket has taken nothing for a long time: a stalled consumer.
                metrics.WS_SLOW_CONSUMERS.inc()
                force_close(self._send, CloseCode.SLOW_CONSUMER, "stalled")
                return
            now = time.monotonic()
            if now < next_ping:
                continue
            next_ping = now + interval
            if now - self._last_heard > 2 * interval:
                metrics.WS_HEARTBEAT_TIMEOUTS.inc()
                self.close_soon(CloseCode.HEARTBEAT_TIMEOUT, "no answer to heartbeats")
                continue
            self.queue.put_control(out.ping())

    # Handlers.

    async def _dispatch(self, msg: ClientMessage) -> None:
        if isinstance(msg, Auth):
            await self._authenticate(msg.token, msg.id)
        elif isinstance(msg, Ping):
            self.queue.put_control(out.pong(msg.id))
        elif isinstance(msg, Pong):
            return
        elif self.principal is None:
            self._fail_auth(ErrorCode.UNAUTHENTICATED, "authenticate first", msg.id)
        elif isinstance(msg, Subscribe):
            await self._subscribe(msg)
        elif isinstance(msg, Unsubscribe):
            sub = self.subs.pop(msg.farm, None)
            if sub is None:
                self.queue.put_control(
                    out.error(ErrorCode.NOT_FOUND, f"not subscribed to farm {msg.farm}", msg.id)
                )
                return
            self._stream.unsubscribe(sub)
            self.queue.put_control(out.unsubscribed(msg.id, msg.farm, "requested"))

    async def _authenticate(self, token: str, ref: int | str | None) -> None:
        try:
            principal = await self._access.principal(token)
        except Unauthenticated as exc:
            code = (
                ErrorCode.TOKEN_EXPIRED if "expired" in exc.message else ErrorCode.UNAUTHENTICATED
            )
            self._fail_auth(code, exc.message, ref)
            return
        if self.principal is not None and principal.user.id != self.principal.user.id:
            self._fail_auth(ErrorCode.UNAUTHENTICATED, "a connection cannot change its user", ref)
            return
        first = self.principal is None
        self.principal = principal
        if first:
            count = self._registry.authenticated(self, principal.user.id)
            if count > self._limits.max_connections_per_user:
                self.queue.put_control(
                    out.error(
                        ErrorCode.TOO_MANY_CONNECTIONS,
                        f"at most {self._limits.max_connections_per_user} connections per user",
                        ref,
                    )
                )
                self.close_soon(CloseCode.TOO_MANY_CONNECTIONS, "too many connections")
                return
        if self._auth_deadline is not None:
            self._auth_deadline.cancel()
            self._auth_deadline = None
        self._arm_expiry(principal.token_expires_s)
        self.queue.put_control(
            out.authenticated(ref, principal.user.username, principal.token_expires_s)
        )

    def _fail_auth(self, code: ErrorCode, message: str, ref: int | str | None) -> None:
        metrics.WS_ERRORS.labels(code.value).inc()
        self.queue.put_control(out.error(code, message, ref))
        close = (
            CloseCode.TOKEN_EXPIRED
            if code is ErrorCode.TOKEN_EXPIRED
            else CloseCode.UNAUTHENTICATED
        )
        self.close_soon(close, message)

    def _arm_expiry(self, expires_s: int) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        delay = max(0.0, expires_s - time.time())
        self._expiry = asyncio.get_running_loop().call_later(delay, self._token_expired)

    def _token_expired(self) -> None:
        # Subscriptions end, but the socket stays: the client may send a fresh token.
        self._end_subscriptions("token_expired")
        self.principal = None
        self.queue.put_control(
            out.error(ErrorCode.TOKEN_EXPIRED, "token expired; send a new auth message")
        )
        self._auth_deadline = asyncio.get_running_loop().call_later(
            self._limits.auth_timeout_s, self._reauth_timeout
        )

    def _reauth_timeout(self) -> None:
        if self.principal is None:
            self.close_soon(CloseCode.TOKEN_EXPIRED, "token expired")

    def _auth_timeout(self) -> None:
        if self.principal is None:
            self.queue.put_control(out.error(ErrorCode.AUTH_TIMEOUT, "no auth message in time"))
            self.close_soon(CloseCode.AUTH_TIMEOUT, "authentication timeout")

    def _end_subscriptions(self, reason: str) -> None:
        for farm_id, sub in list(self.subs.items()):
            self._stream.unsubscribe(sub)
            del self.subs[farm_id]
            self.queue.put_control(out.unsubscribed(None, farm_id, reason))

    async def _subscribe(self, msg: Subscribe) -> None:
        assert self.principal is not None
        if msg.farm not in self.subs and len(self.subs) >= self._limits.max_subscriptions:
            self.queue.put_control(
                out.error(
                    ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                    f"at most {self._limits.max_subscriptions} subscriptions per connection",
                    msg.id,
                )
            )
            return
        old = self.subs.pop(msg.farm, None)
        if old is not None:
            self._stream.unsubscribe(old)
        topics = frozenset(msg.topics) if msg.topics else ALL_TOPICS
        try:
            result = await self._stream.subscribe(
                self.principal,
                self,
                msg.farm,
                topics=topics,
                mode=msg.mode,
                since=msg.since,
                epoch=msg.epoch,
            )
        except (Forbidden, NotFound) as exc:
            code = ErrorCode.FORBIDDEN if isinstance(exc, Forbidden) else ErrorCode.NOT_FOUND
            metrics.WS_ERRORS.labels(code.value).inc()
            self.queue.put_control(out.error(code, exc.message, msg.id))
            return
        except DomainError as exc:
            log.warning("subscribe to farm %s failed: %s", msg.farm, exc.message)
            self.queue.put_control(
                out.error(
                    ErrorCode.OVERLOADED,
                    "could not load the farm; retry later",
                    msg.id,
                    retry_after_ms=int(self._limits.overload_retry_s * 1000),
                )
            )
            return
        if self._close is not None:
            if not isinstance(result, Resync):
                self._stream.unsubscribe(result.sub)
            return
        if isinstance(result, Resync):
            self.queue.put_control(
                out.resync_required(msg.farm, result.reason, result.seq, result.epoch)
            )
            return
        self.subs[msg.farm] = result.sub
        self.queue.put_control(
            out.subscribed(
                msg.id,
                msg.farm,
                result.channel.epoch,
                result.seq,
                topics,
                msg.mode,
                snapshot_json=result.snapshot_json,
                resume_from=result.resume_from,
            )
        )
        chunk = self._limits.replay_chunk
        sent_tail = out.sent_tail(_now_ms())
        for i in range(0, len(result.replay), chunk):
            prefix = out.batch_prefix(msg.farm, result.replay[i : i + chunk], topics)
            if prefix is not None:
                self.queue.put_control(prefix + sent_tail)

    async def _recheck_access(self) -> None:
        if self.principal is None:
            return
        token_user = self.principal.user.id
        try:
            # Reload the user: a bumped token version or a deleted account ends the session.
            fresh = await self._access.reload(self.principal)
        except Unauthenticated as exc:
            self._end_subscriptions("unauthenticated")
            self._fail_auth(ErrorCode.UNAUTHENTICATED, exc.message, None)
            return
        if fresh.user.id != token_user:
            return
        self.principal = fresh
        for farm_id, sub in list(self.subs.items()):
            if fresh.role_on(farm_id) is None:
                self._stream.unsubscribe(sub)
                del self.subs[farm_id]
                self.queue.put_control(out.unsubscribed(None, farm_id, "forbidden"))

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.create_task(coro, name=f"farmbridge.ws.{self.id}.{what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
