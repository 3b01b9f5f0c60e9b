"""One WebSocket connection's asyncio shell: the read, write and timer loops around a Session.

The session (ws/session.py) holds every rule; the shell feeds it the socket's frames, the
clock's ticks and the services' answers, and carries out the actions it returns. The
writer owns the socket's send side and drains a bounded queue, so the hub never waits for
a socket; a slow client only backs up its own queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
from collections.abc import Coroutine, Sequence
from typing import Any, Final

from starlette.types import Receive, Send

from farmbridge import metrics
from farmbridge.domain.clock import Clock
from farmbridge.domain.errors import DomainError, Unauthenticated
from farmbridge.hub.channel import Part, Subscription
from farmbridge.hub.queue import SendQueue
from farmbridge.protocol import server_messages as out
from farmbridge.protocol.const import CloseCode
from farmbridge.service.access import AccessService
from farmbridge.service.connections import ConnectionInfo, ConnectionRegistry
from farmbridge.service.live_stats import LiveStats
from farmbridge.service.stream import StreamService, Subscribed
from farmbridge.ws.actions import (
    Action,
    AskPrincipal,
    CloseWith,
    EndSubscription,
    OpenSubscription,
    RecheckAccess,
    RegisterUser,
    SendFrame,
    SendPing,
    SendResync,
    UnwatchStats,
    WatchStats,
)
from farmbridge.ws.limits import WsLimits
from farmbridge.ws.session import Session
from farmbridge.ws.transport import DirectWriter, force_close

log = logging.getLogger(__name__)

_ids = itertools.count(1)

LATENCY_SAMPLE: Final = 8
"""One frame in this many is timed for the delivery histogram."""


class Connection:
    """A live connection: the registry's view of it, the hub's sink, and its three loops."""

    def __init__(
        self,
        *,
        send: Send,
        access: AccessService,
        stream: StreamService,
        registry: ConnectionRegistry,
        limits: WsLimits,
        clock: Clock,
        remote: str,
        cookie_token: str | None = None,
        stats: LiveStats | None = None,
    ) -> None:
        self.id = f"c{next(_ids)}"
        self._send = send
        self._direct = DirectWriter.of(send)
        self._access = access
        self._stream = stream
        self._registry = registry
        self._limits = limits
        self._clock = clock
        self.remote = remote
        self._cookie_token = cookie_token
        self.session = Session(connection_id=self.id, limits=limits, clock=clock)
        self.queue = SendQueue(
            max_messages=limits.queue_max_messages, max_bytes=limits.queue_max_bytes
        )
        self.connected_ms = clock.wall_ms()
        self.messages_in = 0
        self.messages_out = 0
        self.bytes_out = 0
        self._sending_since = 0.0
        self._handling = False  # the reader is busy with a message; the next ones wait
        self._ping_text: str | None = None  # the heartbeat's ping, queued, not yet written
        self._close: tuple[int, str] | None = None
        self._timers_moved = asyncio.Event()
        self._wake_at = math.inf
        self._tasks: set[asyncio.Task[None]] = set()
        # The live figures (service/live_stats.py); `_figures` is what the send path records to.
        self._stats = stats or LiveStats(registry=registry, clock=clock)
        self._figures = self._stats.window

    # Registry view.

    @property
    def user_id(self) -> int | None:
        return self.session.user_id

    def info(self) -> ConnectionInfo:
        principal, subs = self.session.principal, self.session.subs
        return ConnectionInfo(
            id=self.id,
            user=principal.user.username if principal else None,
            remote=self.remote,
            farms=sorted(subs),
            connected_ms=self.connected_ms,
            messages_in=self.messages_in,
            messages_out=self.messages_out,
            bytes_out=self.bytes_out,
            queue_depth=len(self.queue),
            queue_bytes=self.queue.queued_bytes,
            mode={f: s.mode.value for f, s in subs.items()},
        )

    def access_changed(self) -> None:
        self._apply(self.session.access_changed())

    def close_soon(self, code: int, reason: str) -> None:
        """Sends what is queued, then closes; later data is no longer queued."""
        self._apply(self.session.closed_by_server(code, reason))

    def farm_deleted(self, farm_id: int) -> None:
        self._apply(self.session.farm_deleted(farm_id))

    # The hub's side (Sink).

    def deliver(self, sub: Subscription, parts: Sequence[Part]) -> None:
        # A subscription whose resume is still being read never gets here: the hub holds
        # its changes itself (hub/channel.py) until the stream service hands over.
        if self._close is not None:
            return
        direct = (
            self._direct is not None
            and not len(self.queue)
            and not self._sending_since
            and self._direct.ready()
        )
        if not self.queue.put_data(sub, parts, wake=not direct):
            self._figures.slow_consumer()
            self.queue.drop_data()
            self._apply(self.session.slow_consumer())
            return
        if direct:
            assert self._direct is not None
            now = self._clock.wall_ms()
            frame = self.queue.take_frame(now)
            if frame is not None:
                self._direct.write(frame)
                self._sent(frame, now)
                self._written(frame)
            if len(self.queue):  # a flush larger than one frame: the writer sends the rest
                self.queue.ready.set()

    # The live figures' side (StatsWatcher).

    def push_stats(self, text: str) -> None:
        if self._close is None:
            self.queue.put_control(text)

    # Running.

    async def run(self, receive: Receive) -> None:
        """Serves the connection until either side closes it."""
        await self._carry_out(self.session.start(self._cookie_token))
        tasks = {
            asyncio.create_task(self._read(receive), name=f"farmbridge.ws.{self.id}.read"),
            asyncio.create_task(self._write(), name=f"farmbridge.ws.{self.id}.write"),
            asyncio.create_task(self._timers(), name=f"farmbridge.ws.{self.id}.timers"),
        }
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (*tasks, *self._tasks):
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._apply(self.session.end())

    async def _read(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message["type"] != "websocket.receive":
                continue
            self.messages_in += 1
            raw = message.get("text")
            if raw is None:
                raw = message.get("bytes") or b""
            # One message at a time: the next is read once this one's answers are in.
            self._handling = True
            try:
                await self._carry_out(self.session.receive(raw))
            except Exception:
                # A bug, not the client's fault: answer it and go on, never drop the socket.
                log.exception("connection %s: unexpected error handling a message", self.id)
                self._apply(self.session.internal_error(None))
            finally:
                self._handling = False

    async def _write(self) -> None:
        while True:
            await self.queue.ready.wait()
            now = self._clock.wall_ms()
            frame = self.queue.take_frame(now)
            if frame is not None:
                oldest = self.queue.oldest_stored_ms
                # No wait_for here: a task per send would cost more than the send itself;
                # the timer loop watches for sends that do not finish.
                self._sending_since = self._clock.monotonic()
                await self._send({"type": "websocket.send", "text": frame})
                self._sending_since = 0.0
                self._sent(frame, now, oldest)
                self._written(frame)
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
        if oldest:
            self._figures.delivered(now - oldest)

    def _written(self, frame: str) -> None:
        """Tells the session when the frame holding its ping went out."""
        if self._ping_text is not None and self._ping_text in frame:
            self._ping_text = None
            self._apply(self.session.ping_written())

    async def _timers(self) -> None:
        """Ticks the session when its next deadline is due, and closes a stalled socket."""
        check_s = min(self._limits.heartbeat_s, self._limits.send_timeout_s / 2)
        while True:
            now = self._clock.monotonic()
            self._wake_at = min(self.session.next_deadline(), now + check_s)
            self._timers_moved.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._wake_at - now):
                    await self._timers_moved.wait()
            late_s = self._clock.monotonic() - self._wake_at
            if late_s > 0:
                # A busy loop woke us late: the client's frames of that time may still wait
                # unread, so that time is not the client's silence.
                self._apply(self.session.deaf_for(late_s))
            if self._stalled():
                # The socket has taken nothing for a long time: a stalled consumer.
                metrics.WS_SLOW_CONSUMERS.inc()
                self._figures.slow_consumer()
                force_close(self._send, CloseCode.SLOW_CONSUMER, "stalled")
                return
            if self._handling:
                # Frames the client sent meanwhile wait unread behind the reader's message.
                self._apply(self.session.heard())
            self._apply(self.session.tick())

    def _stalled(self) -> bool:
        """True when a send has waited for a writable socket longer than the send timeout."""
        since = self._sending_since
        return bool(since) and self._clock.monotonic() - since > self._limits.send_timeout_s

    # Carrying out the session's actions.

    async def _carry_out(self, actions: list[Action]) -> None:
        """Carries out actions in order, awaiting the services' answers to questions."""
        for action in actions:
            if isinstance(action, AskPrincipal):
                await self._carry_out(await self._ask_principal(action))
            elif isinstance(action, OpenSubscription):
                await self._carry_out(await self._open(action))
            else:
                self._do(action)
        self._rearm()

    def _apply(self, actions: list[Action]) -> None:
        """Carries out actions that need no waiting (all but those of a client message)."""
        for action in actions:
            self._do(action)
        self._rearm()

    def _do(self, action: Action) -> None:
        if isinstance(action, SendFrame):
            self.queue.put_control(action.text)
        elif isinstance(action, SendPing):
            self._ping_text = action.text
            self.queue.put_control(action.text)
        elif isinstance(action, EndSubscription):
            self._stream.unsubscribe(action.sub)
        elif isinstance(action, SendResync):
            seq, epoch = self._stream.head(action.farm)
            self.queue.put_control(out.resync_required(action.farm, action.reason, seq, epoch))
        elif isinstance(action, CloseWith):
            self._close = (action.code, action.reason)
            self.queue.ready.set()
        elif isinstance(action, RegisterUser):
            count = self._registry.authenticated(self, action.user_id)
            self._apply(self.session.registered(count))
        elif isinstance(action, RecheckAccess):
            self._spawn(self._recheck(action), "recheck")
        elif isinstance(action, WatchStats):
            self.queue.put_control(self._stats.watch(self, action.ref))
        elif isinstance(action, UnwatchStats):
            self._stats.unwatch(self)
        else:
            raise AssertionError(f"{action!r} is answered by the reader only")

    def _rearm(self) -> None:
        """Wakes the timer loop when the session's next deadline moved before its wake-up."""
        if self.session.next_deadline() < self._wake_at:
            self._timers_moved.set()

    async def _ask_principal(self, ask: AskPrincipal) -> list[Action]:
        try:
            principal = await self._access.principal(ask.token)
        except Unauthenticated as exc:
            return self.session.auth_failed(ask, exc)
        except Exception:
            log.exception("connection %s: unexpected error checking a token", self.id)
            return self.session.internal_error(ask.ref)
        return self.session.auth_succeeded(ask, principal)

    async def _open(self, ask: OpenSubscription) -> list[Action]:
        try:
            result = await self._stream.subscribe(
                ask.principal,
                self,
                ask.farm,
                topics=ask.topics,
                mode=ask.mode,
                since=ask.since,
                epoch=ask.epoch,
            )
        except DomainError as exc:
            return self.session.subscribe_failed(ask, exc)
        except Exception:
            log.exception(
                "connection %s: unexpected error subscribing to farm %s", self.id, ask.farm
            )
            return self.session.internal_error(ask.ref)
        if isinstance(result, Subscribed) and result.resume_from is not None:
            self._figures.resumed()
        return self.session.subscribe_done(ask, result)

    async def _recheck(self, ask: RecheckAccess) -> None:
        try:
            # Reload the user: a bumped token version or a deleted account ends the session.
            fresh = await self._access.reload(ask.principal)
        except Unauthenticated as exc:
            self._apply(self.session.recheck_failed(ask, exc))
            return
        self._apply(self.session.recheck_done(ask, fresh))

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.create_task(coro, name=f"farmbridge.ws.{self.id}.{what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
