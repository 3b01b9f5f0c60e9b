"""One WebSocket session as a pure state machine: events in, actions out, no I/O.

Like python-websockets' sans-I/O `Protocol`, the session never touches a socket, a task
or a timer. The shell (ws/connection.py) feeds it events: `start`, each frame received
(`receive`), `tick`, the answers to what it asked for (`auth_succeeded`, `registered`,
`subscribe_done`, ...), `access_changed`, `slow_consumer`, `close`. Each event returns the
actions to carry out, in order: frames to queue, a close, questions for the access and
stream services. Time comes from the injected Clock, and timers are data: `next_deadline`
says when the session wants its next `tick`, which fires whatever is due (the auth
deadline, the token's expiry, the heartbeat). A FakeClock thus tests every rule at once.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Final

from farmbridge import metrics
from farmbridge.domain.clock import Clock
from farmbridge.domain.errors import DomainError, RateLimited, Unauthenticated
from farmbridge.hub.channel import Subscription
from farmbridge.protocol import server_messages as out
from farmbridge.protocol.client_messages import ProtocolViolation, parse
from farmbridge.protocol.const import (
    PROTOCOL_VERSION,
    CloseCode,
    ErrorCode,
    ResyncReason,
    UnsubscribeReason,
)
from farmbridge.service.access import Principal
from farmbridge.service.ratelimit import RateLimiter
from farmbridge.service.stream import Resync, Subscribed
from farmbridge.ws.actions import (
    Action,
    AskPrincipal,
    CloseWith,
    EndSubscription,
    OpenSubscription,
    RecheckAccess,
    Ref,
    RegisterUser,
    SendFrame,
    SendPing,
    SendResync,
    UnwatchStats,
)
from farmbridge.ws.errors import close_code_of, error_code_of
from farmbridge.ws.handlers import HANDLERS
from farmbridge.ws.limits import WsLimits

log = logging.getLogger(__name__)

HEARTBEAT_SILENCE_INTERVALS: Final = 2
"""A client silent for more than this many heartbeat intervals is taken for gone (4010)..."""
PING_ANSWER_INTERVALS: Final = 1
"""...and only once this many intervals have passed since a ping it has not answered was
written to its socket: a ping the server wrote late still leaves the client a full
interval to answer (docs/protocol.md, Session)."""


class Session:
    """The rules of one connection: auth and its deadline, token expiry and re-auth, the
    per-user connection limit, subscriptions, rate limit and violations, slow-consumer
    strikes and the heartbeat."""

    def __init__(self, *, connection_id: str, limits: WsLimits, clock: Clock) -> None:
        self.id = connection_id
        self.limits = limits
        self.clock = clock
        self.principal: Principal | None = None
        # Set by the first auth and never changed: a connection cannot change its user.
        self.user_id: int | None = None
        # The protocol version the client chose in `auth` (the newest when it named none).
        self.protocol = PROTOCOL_VERSION
        self.subs: dict[int, Subscription] = {}
        self.watching_stats = False  # the live figures (`subscribe_stats`)
        self.closing: CloseWith | None = None
        self._limiter = RateLimiter(
            rate_per_s=limits.messages_per_s, burst=limits.message_burst, clock=clock
        )
        self._violations = 0
        self._slow_strikes = 0
        now = clock.monotonic()
        self._last_heard = now
        self._next_ping = now + limits.heartbeat_s
        # When the first ping the client has not answered was written to its socket; None
        # while every written ping is answered (or the only one is still queued).
        self._unanswered_ping: float | None = None
        self._auth_deadline: float | None = None
        self._reauth = False  # the auth deadline is the one after a token expired
        self._expiry: float | None = None
        self._admitting: tuple[Ref, Principal] | None = None
        self._out: list[Action] = []

    # Events.

    def start(self, cookie_token: str | None = None) -> list[Action]:
        """The socket is open: welcome the client and start the auth deadline."""
        self.send(
            out.welcome(
                self.id,
                server_time_ms=self.clock.wall_ms(),
                heartbeat_s=self.limits.heartbeat_s,
                max_frame_bytes=self.limits.max_frame_bytes,
            )
        )
        self._auth_deadline = self.clock.monotonic() + self.limits.auth_timeout_s
        if cookie_token is not None:
            self.emit(AskPrincipal(cookie_token, None))
        return self._actions()

    def receive(self, raw: str | bytes) -> list[Action]:
        """One frame from the client. Once the session is closing, frames are ignored: what
        the close was for has been answered, and a flood gets no further answers."""
        self.heard()
        if self.closing is not None:
            return self._actions()
        try:
            self._limiter.take(0)
            msg = parse(raw)
            handler = HANDLERS[msg.type]
            if handler.needs_auth and self.principal is None:
                self.fail_auth(ErrorCode.UNAUTHENTICATED, "authenticate first", msg.id)
            else:
                handler.run(self, msg)
        except ProtocolViolation as exc:
            if exc.code is ErrorCode.UNAUTHENTICATED:  # an auth without a usable token
                self.fail_auth(exc.code, exc.message, exc.ref)
            else:
                self._violation(error_code_of(exc), exc.message, exc.ref)
        except RateLimited as exc:
            self._violation(
                error_code_of(exc),
                f"more than {self.limits.messages_per_s:g} messages per second",
                None,
                retry_after_ms=int(exc.retry_after_s * 1000) + 1,
            )
        return self._actions()

    def next_deadline(self) -> float:
        """The monotonic time of the next `tick` the session needs (the heartbeat's, at
        the latest)."""
        deadline = self._next_ping
        for due in (self._auth_deadline, self._expiry, self._silence_deadline()):
            if due is not None and due < deadline:
                deadline = due
        return deadline

    def tick(self) -> list[Action]:
        """Fires every timer that is due."""
        now = self.clock.monotonic()
        if self._expiry is not None and now >= self._expiry:
            self._expiry = None
            self._token_expired(now)
        if self._auth_deadline is not None and now >= self._auth_deadline:
            self._auth_deadline = None
            self._auth_overdue()
        self._silent_for_too_long(now)
        if now >= self._next_ping:
            self._next_ping = now + self.limits.heartbeat_s
            if self.closing is None:
                self.emit(SendPing(out.ping(self.clock.wall_ms())))
        return self._actions()

    def heard(self) -> list[Action]:
        """A sign of life: a frame came, or the shell is still busy with one (its next frames
        wait for the shell, so the client cannot be told from a silent one)."""
        self._last_heard = self.clock.monotonic()
        self._unanswered_ping = None
        return self._actions()

    def deaf_for(self, seconds: float) -> list[Action]:
        """The shell could not listen for `seconds` (its loop was busy): the heartbeat's
        deadline moves by as much, as frames of that time may wait unread."""
        now = self.clock.monotonic()
        self._last_heard = min(now, self._last_heard + seconds)
        if self._unanswered_ping is not None:
            self._unanswered_ping = min(now, self._unanswered_ping + seconds)
        return self._actions()

    def ping_written(self) -> list[Action]:
        """The heartbeat's ping (SendPing) is on the socket now: the client's answer is due
        one interval from here at the earliest."""
        if self._unanswered_ping is None:
            self._unanswered_ping = self.clock.monotonic()
        return self._actions()

    def internal_error(self, ref: Ref) -> list[Action]:
        """The shell met an unexpected exception handling the message `ref` (it logged the
        traceback): the client gets `internal_error`, and the connection goes on."""
        if self.closing is None:
            self.error(ErrorCode.INTERNAL_ERROR, "internal error; the server logged it", ref)
        return self._actions()

    def auth_succeeded(self, ask: AskPrincipal, principal: Principal) -> list[Action]:
        if self.user_id is not None and principal.user.id != self.user_id:
            self.fail_auth(
                ErrorCode.UNAUTHENTICATED, "a connection cannot change its user", ask.ref
            )
        elif self.user_id is None:
            self._admitting = (ask.ref, principal)
            self.emit(RegisterUser(principal.user.id))
        else:
            self._admit(ask.ref, principal)
        return self._actions()

    def auth_failed(self, ask: AskPrincipal, exc: Unauthenticated) -> list[Action]:
        self.fail_auth(error_code_of(exc), exc.message, ask.ref)
        return self._actions()

    def registered(self, user_connections: int) -> list[Action]:
        """The user's connection count, this one included, after `RegisterUser`."""
        assert self._admitting is not None, "registered without RegisterUser"
        (ref, principal), self._admitting = self._admitting, None
        self.user_id = principal.user.id
        limit = self.limits.max_connections_per_user
        if user_connections > limit:
            self._auth_deadline = None
            self.error(ErrorCode.TOO_MANY_CONNECTIONS, f"at most {limit} connections per user", ref)
            self.close(CloseCode.TOO_MANY_CONNECTIONS, "too many connections")
        else:
            self._admit(ref, principal)
        return self._actions()

    def subscribe_done(self, ask: OpenSubscription, result: Subscribed | Resync) -> list[Action]:
        farm = ask.farm
        if isinstance(result, Resync):
            if self.closing is None:
                self.send(out.resync_required(farm, result.reason, result.seq, result.epoch))
            return self._actions()
        if self.closing is not None:
            self.emit(EndSubscription(result.sub))
            return self._actions()
        # While the farm loaded, the token may have expired or the role been removed.
        if self.principal is None or self.principal.role_on(farm) is None:
            self.emit(EndSubscription(result.sub))
            reason = (
                UnsubscribeReason.TOKEN_EXPIRED
                if self.principal is None
                else UnsubscribeReason.FORBIDDEN
            )
            self.send(out.unsubscribed(ask.ref, farm, reason))
            return self._actions()
        self.subs[farm] = result.sub
        self.send(
            out.subscribed(
                ask.ref,
                farm,
                result.channel.epoch,
                result.seq,
                ask.topics,
                ask.mode,
                snapshot_json=result.snapshot_json,
                resume_from=result.resume_from,
            )
        )
        chunk = self.limits.replay_chunk
        sent_tail = out.sent_tail(self.clock.wall_ms())
        for i in range(0, len(result.replay), chunk):
            prefix = out.batch_prefix(farm, result.replay[i : i + chunk], ask.topics)
            if prefix is not None:
                self.send(prefix + sent_tail)
        return self._actions()

    def subscribe_failed(self, ask: OpenSubscription, exc: DomainError) -> list[Action]:
        code = error_code_of(exc)
        if code is ErrorCode.OVERLOADED:
            log.warning("subscribe to farm %s failed: %s", ask.farm, exc.message)
            self.error(
                code,
                "could not load the farm; retry later",
                ask.ref,
                retry_after_ms=int(self.limits.overload_retry_s * 1000),
            )
        else:
            self.error(code, exc.message, ask.ref)
        return self._actions()

    def access_changed(self) -> list[Action]:
        """The user's roles, tokens or account changed: re-check them."""
        if self.principal is not None:
            self.emit(RecheckAccess(self.principal))
        return self._actions()

    def recheck_done(self, ask: RecheckAccess, fresh: Principal) -> list[Action]:
        current = self.principal
        if current is None or current.user.id != fresh.user.id:
            return self._actions()  # the token expired meanwhile: nothing left to narrow
        # The roles are fresh; the token (maybe renewed meanwhile) is still the current one.
        self.principal = dataclasses.replace(fresh, token_expires_s=current.token_expires_s)
        for farm, sub in list(self.subs.items()):
            if fresh.role_on(farm) is None:
                self.end_subscription(farm, sub, UnsubscribeReason.FORBIDDEN)
        if self.watching_stats and not fresh.is_admin:
            self.end_stats(UnsubscribeReason.FORBIDDEN)
        return self._actions()

    def recheck_failed(self, ask: RecheckAccess, exc: Unauthenticated) -> list[Action]:
        """The account is gone or its tokens were revoked: the session ends."""
        self._end_subscriptions(UnsubscribeReason.UNAUTHENTICATED)
        self.fail_auth(error_code_of(exc), exc.message, None)
        return self._actions()

    def farm_deleted(self, farm: int) -> list[Action]:
        """The farm was deleted: its subscription, if any, ends (`farm_deleted`)."""
        sub = self.subs.get(farm)
        if sub is not None:
            self.end_subscription(farm, sub, UnsubscribeReason.FARM_DELETED)
        return self._actions()

    def slow_consumer(self) -> list[Action]:
        """The send queue overflowed (its data is dropped): every subscription must resync."""
        self._slow_strikes += 1
        metrics.WS_SLOW_CONSUMERS.inc()
        for farm, sub in list(self.subs.items()):
            self.emit(EndSubscription(sub))
            self.emit(SendResync(farm, ResyncReason.SLOW_CONSUMER))
        self.subs.clear()
        if self._slow_strikes >= self.limits.max_slow_strikes:
            self.close(CloseCode.SLOW_CONSUMER, "too slow to keep up")
        return self._actions()

    def closed_by_server(self, code: int, reason: str) -> list[Action]:
        """The server closes the connection (shutdown, admin)."""
        self.close(code, reason)
        return self._actions()

    def end(self) -> list[Action]:
        """The socket is gone: detach every subscription, stop every timer."""
        for sub in self.subs.values():
            self.emit(EndSubscription(sub))
        self.subs.clear()
        if self.watching_stats:
            self.watching_stats = False
            self.emit(UnwatchStats())
        self._auth_deadline = self._expiry = None
        return self._actions()

    # What handlers (ws/handlers.py) and the events above do.

    def emit(self, action: Action) -> None:
        self._out.append(action)

    def send(self, text: str) -> None:
        self._out.append(SendFrame(text))

    def error(self, code: ErrorCode, message: str, ref: Ref = None, **extra: Any) -> None:
        metrics.WS_ERRORS.labels(code.value).inc()
        self.send(out.error(code, message, ref, **extra))

    def close(self, code: int, reason: str) -> None:
        """Closes once: later closes keep the first code."""
        if self.closing is None:
            self.closing = CloseWith(code, reason)
            self._out.append(self.closing)

    def fail_auth(self, code: ErrorCode, message: str, ref: Ref) -> None:
        """An error that ends the connection with the close code of `code`."""
        self.error(code, message, ref)
        self.close(close_code_of(code) or CloseCode.UNAUTHENTICATED, message)

    def end_subscription(
        self, farm: int, sub: Subscription, reason: UnsubscribeReason, ref: Ref = None
    ) -> None:
        del self.subs[farm]
        self.emit(EndSubscription(sub))
        self.send(out.unsubscribed(ref, farm, reason))

    def end_stats(self, reason: UnsubscribeReason, ref: Ref = None) -> None:
        self.watching_stats = False
        self.emit(UnwatchStats())
        self.send(out.stats_unsubscribed(ref, reason))

    # Inside.

    def _actions(self) -> list[Action]:
        actions, self._out = self._out, []
        return actions

    def _admit(self, ref: Ref, principal: Principal) -> None:
        self.principal = principal
        self._auth_deadline = None
        self._reauth = False
        left_s = max(0.0, principal.token_expires_s - self.clock.wall_s())
        self._expiry = self.clock.monotonic() + left_s
        self.send(out.authenticated(ref, principal.user.username, principal.token_expires_s))

    def _token_expired(self, now: float) -> None:
        # Subscriptions end, but the socket stays: the client may send a fresh token.
        self._end_subscriptions(UnsubscribeReason.TOKEN_EXPIRED)
        self.principal = None
        self.error(ErrorCode.TOKEN_EXPIRED, "token expired; send a new auth message")
        self._reauth = True
        self._auth_deadline = now + self.limits.auth_timeout_s

    def _auth_overdue(self) -> None:
        if self.principal is not None:
            return
        if self._reauth:
            self.close(CloseCode.TOKEN_EXPIRED, "token expired")
        else:
            self.error(ErrorCode.AUTH_TIMEOUT, "no auth message in time")
            self.close(CloseCode.AUTH_TIMEOUT, "authentication timeout")

    def _silence_deadline(self) -> float | None:
        """The time after which the client counts as gone, while a written ping waits for
        its answer; None while none does (a ping still queued cannot be answered)."""
        if self._unanswered_ping is None or self.closing is not None:
            return None
        hb = self.limits.heartbeat_s
        return max(
            self._last_heard + HEARTBEAT_SILENCE_INTERVALS * hb,
            self._unanswered_ping + PING_ANSWER_INTERVALS * hb,
        )

    def _silent_for_too_long(self, now: float) -> None:
        deadline = self._silence_deadline()
        # Strictly after: a client silent for exactly two intervals is still in time.
        if deadline is not None and now > deadline:
            metrics.WS_HEARTBEAT_TIMEOUTS.inc()  # once: the session is closing from here on
            self.close(CloseCode.HEARTBEAT_TIMEOUT, "no answer to heartbeats")

    def _end_subscriptions(self, reason: UnsubscribeReason) -> None:
        for farm, sub in list(self.subs.items()):
            self.end_subscription(farm, sub, reason)
        if self.watching_stats:
            self.end_stats(reason)

    def _violation(self, code: ErrorCode, message: str, ref: Ref, **extra: Any) -> None:
        self._violations += 1
        self.error(code, message, ref, **extra)
        if self._violations > self.limits.max_violations:
            self.close(CloseCode.ABUSE, "too many invalid or excess messages")
