"""The WebSocket session's rules on a FakeClock: auth, expiry, limits, violations, recovery.

The test plays the shell: `Peer` carries out the session's actions, answering its
questions the way the access and stream services would, and records what the client
would receive. No socket, no task, no waiting: time moves when the test says so.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY

from farmbridge.domain import Reading, Role, User
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.errors import (
    Forbidden,
    NotFound,
    StoreUnavailable,
    TokenExpired,
    Unauthenticated,
)
from farmbridge.hub.channel import Channel, Part, Subscription
from farmbridge.hub.state import FarmState
from farmbridge.protocol.const import (
    CLIENT_MESSAGE_TYPES,
    PROTOCOL_VERSION,
    CloseCode,
    ResyncReason,
    Topic,
)
from farmbridge.service.access import Principal
from farmbridge.service.connections import ConnectionInfo, ConnectionRegistry
from farmbridge.service.security import Secrets
from farmbridge.service.stream import Resync, Subscribed
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
)
from farmbridge.ws.connection import Connection
from farmbridge.ws.handlers import HANDLERS
from farmbridge.ws.limits import WsLimits
from farmbridge.ws.session import Session
from tests.unit.bridge_services import SECRET_KEY, admin, running_services

_ids = itertools.count(1)
HOUR_S = 3600


class Unread:
    """A sink the tests never flush to: the session only hands subscriptions around."""

    def deliver(self, sub: Subscription, parts: list[Part]) -> None:
        raise AssertionError("nothing is published in these tests")


def principal(
    clock: FakeClock,
    user_id: int = 1,
    *,
    roles: dict[int, Role] | None = None,
    expires_in_s: int = HOUR_S,
) -> Principal:
    user = User(user_id, f"user{user_id}", is_admin=False, created_ms=0)
    roles = {1: Role.VIEWER, 2: Role.VIEWER, 3: Role.VIEWER} if roles is None else roles
    return Principal(user, roles, int(clock.wall_s()) + expires_in_s)


def subscribed(ask: OpenSubscription, seq: int = 10, replay: list[Any] | None = None) -> Subscribed:
    """What the stream service answers a subscribe with: a snapshot, or a resume's replay."""
    channel = Channel(ask.farm, "ep", FarmState(seq, [], []), recent_size=10)
    sub = Subscription(Unread(), ask.farm, ask.topics, ask.mode, last_seq=seq)
    if replay is None:
        return Subscribed(sub, channel, seq, snapshot_json=channel.state.encoded())
    return Subscribed(sub, channel, seq, resume_from=(ask.since or 0) + 1, replay=replay)


class Peer:
    """Plays the shell for one session: records frames and closes, answers its questions."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        limits: WsLimits | None = None,
        tokens: dict[str, Principal | Unauthenticated] | None = None,
        registry: ConnectionRegistry | None = None,
        answer_subscribes: bool = True,
        cookie_token: str | None = None,
        write_pings: bool = True,
    ) -> None:
        self.id = f"c{next(_ids)}"
        self.clock = clock
        # A shell whose writer is idle writes a ping at once; tests of a busy writer hold
        # them (`unwritten_pings`) and say when each is written.
        self.write_pings = write_pings
        self.unwritten_pings = 0
        self.session = Session(connection_id=self.id, limits=limits or WsLimits(), clock=clock)
        self.tokens = tokens or {}
        self.registry = ConnectionRegistry() if registry is None else registry
        self.answer_subscribes = answer_subscribes
        self.frames: list[dict[str, Any]] = []
        self.closes: list[CloseWith] = []
        self.pending: list[OpenSubscription] = []
        self.ended: list[Subscription] = []
        self.resyncs: list[SendResync] = []
        self.rechecks: list[RecheckAccess] = []
        self.registry.add(self)
        self.carry_out(self.session.start(cookie_token))

    # The registry's view of a live connection.

    @property
    def user_id(self) -> int | None:
        return self.session.user_id

    def info(self) -> ConnectionInfo:
        raise AssertionError("not listed in these tests")

    def access_changed(self) -> None:
        self.carry_out(self.session.access_changed())

    def close_soon(self, code: int, reason: str) -> None:
        self.carry_out(self.session.closed_by_server(code, reason))

    def farm_deleted(self, farm_id: int) -> None:
        self.carry_out(self.session.farm_deleted(farm_id))

    # The shell's side.

    def carry_out(self, actions: list[Action]) -> None:
        for action in actions:
            match action:
                case SendFrame(text=text):
                    self.frames.append(orjson.loads(text))
                case SendPing(text=text):
                    self.frames.append(orjson.loads(text))
                    if self.write_pings:
                        self.carry_out(self.session.ping_written())
                    else:
                        self.unwritten_pings += 1
                case CloseWith():
                    self.closes.append(action)
                case AskPrincipal(token=token):
                    answer = self.tokens[token]
                    if isinstance(answer, Unauthenticated):
                        self.carry_out(self.session.auth_failed(action, answer))
                    else:
                        self.carry_out(self.session.auth_succeeded(action, answer))
                case RegisterUser(user_id=user_id):
                    count = self.registry.authenticated(self, user_id)
                    self.carry_out(self.session.registered(count))
                case RecheckAccess():
                    self.rechecks.append(action)
                case OpenSubscription():
                    if self.answer_subscribes:
                        self.carry_out(self.session.subscribe_done(action, subscribed(action)))
                    else:
                        self.pending.append(action)
                case EndSubscription(sub=sub):
                    self.ended.append(sub)
                case SendResync():
                    self.resyncs.append(action)

    def send(self, msg: dict[str, Any] | str) -> None:
        self.carry_out(self.session.receive(msg if isinstance(msg, str) else orjson.dumps(msg)))

    def tick(self) -> None:
        self.carry_out(self.session.tick())

    def take(self) -> list[dict[str, Any]]:
        """The frames received since the last take."""
        frames, self.frames = self.frames, []
        return frames

    def auth(self, token: str) -> dict[str, Any]:
        self.send({"type": "auth", "token": token, "id": "a"})
        (answer,) = self.take()
        return answer

    @property
    def close_code(self) -> int | None:
        return self.closes[0].code if self.closes else None


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def authed(clock: FakeClock, **kw: Any) -> Peer:
    """A peer past its welcome, authenticated as user 1 (token "t")."""
    tokens = kw.pop("tokens", {"t": principal(clock)})
    peer = Peer(clock, tokens=tokens, **kw)
    peer.take()
    assert peer.auth("t")["type"] == "authenticated"
    return peer


def test_session_welcomes_with_its_clock_time_and_limits(clock: FakeClock) -> None:
    """The welcome carries the protocol version, the clock's time and the announced limits."""
    peer = Peer(clock, limits=WsLimits(heartbeat_s=7.5, max_frame_bytes=1024))
    assert peer.take() == [
        {
            "type": "welcome",
            "protocol": PROTOCOL_VERSION,
            "server_time": clock.wall_ms(),
            "heartbeat_s": 7.5,
            "max_frame_bytes": 1024,
            "connection": peer.id,
        }
    ]


def test_session_auth_timeout_closes_a_silent_client(clock: FakeClock) -> None:
    """A client that never authenticates is told auth_timeout and closed with 4002."""
    peer = Peer(clock, limits=WsLimits(auth_timeout_s=0.3))
    peer.take()
    assert peer.session.next_deadline() == pytest.approx(clock.monotonic() + 0.3)
    clock.advance(0.29)
    peer.tick()
    assert (peer.take(), peer.close_code) == ([], None)
    clock.advance(0.01)
    peer.tick()
    (err,) = peer.take()
    assert err["code"] == "auth_timeout"
    assert peer.close_code == CloseCode.AUTH_TIMEOUT == 4002


def test_session_auth_in_time_cancels_the_auth_deadline(clock: FakeClock) -> None:
    """Once authenticated, the auth deadline passes without a word."""
    peer = authed(clock, limits=WsLimits(auth_timeout_s=0.3))
    clock.advance(1)
    peer.tick()
    assert (peer.take(), peer.close_code) == ([], None)


def test_session_cookie_token_authenticates_at_start(clock: FakeClock) -> None:
    """A session cookie's token is tried at once, before any client message."""
    peer = Peer(clock, tokens={"cookie": principal(clock)}, cookie_token="cookie")
    welcome, answer = peer.take()
    assert (welcome["type"], answer["type"], answer["id"]) == ("welcome", "authenticated", None)


def test_session_refuses_subscriptions_before_auth_and_bad_tokens(clock: FakeClock) -> None:
    """A subscribe before auth, or a bad token, gets unauthenticated and close 4001."""
    peer = Peer(clock)
    peer.take()
    peer.send({"type": "subscribe", "farm": 1})
    (err,) = peer.take()
    assert (err["type"], err["code"]) == ("error", "unauthenticated")
    assert peer.close_code == 4001
    assert peer.pending == []
    peer = Peer(clock, tokens={"not-a-token": Unauthenticated("invalid token")})
    peer.take()
    peer.send({"type": "auth", "token": "not-a-token"})
    (err,) = peer.take()
    assert (err["type"], err["code"], err["message"]) == (
        "error",
        "unauthenticated",
        "invalid token",
    )
    assert peer.close_code == 4001


def test_session_tells_an_expired_token_by_its_type_not_its_words(clock: FakeClock) -> None:
    """TokenExpired answers token_expired and 4003; an Unauthenticated that says "expired"
    is still unauthenticated and 4001."""
    peer = Peer(clock, tokens={"old": TokenExpired("time is up")})
    peer.take()
    assert peer.auth("old")["code"] == "token_expired"
    assert peer.close_code == 4003
    peer = Peer(clock, tokens={"odd": Unauthenticated("expired or not, it is wrong")})
    peer.take()
    assert peer.auth("odd")["code"] == "unauthenticated"
    assert peer.close_code == 4001


def test_session_token_expiry_ends_subscriptions_and_reauth_extends(clock: FakeClock) -> None:
    """An expired token ends subscriptions (token_expired); a fresh auth on the socket resumes."""
    peer = authed(clock, tokens={"t": principal(clock, expires_in_s=2)})
    peer.send({"type": "subscribe", "farm": 1})
    (sub,) = peer.take()
    assert sub["type"] == "subscribed"
    clock.advance(1.99)
    peer.tick()
    assert peer.take() == []
    clock.advance(0.01)
    peer.tick()
    unsubscribed, err = peer.take()
    assert (unsubscribed["type"], unsubscribed["farm"]) == ("unsubscribed", 1)
    assert unsubscribed["reason"] == "token_expired"
    assert err["code"] == "token_expired"
    assert [s.farm_id for s in peer.ended] == [1]
    assert peer.close_code is None
    peer.tokens["fresh"] = principal(clock, expires_in_s=HOUR_S)
    assert peer.auth("fresh")["type"] == "authenticated"
    peer.send({"type": "subscribe", "farm": 1})
    assert peer.take()[0]["type"] == "subscribed"
    clock.advance(6)  # past the re-auth deadline: the fresh token holds
    peer.tick()
    assert (peer.take(), peer.close_code) == ([], None)


def test_session_expired_token_without_reauth_closes_with_4003(clock: FakeClock) -> None:
    """A client that does not re-authenticate within the auth timeout after expiry gets 4003."""
    peer = authed(
        clock, limits=WsLimits(auth_timeout_s=0.5), tokens={"t": principal(clock, expires_in_s=1)}
    )
    clock.advance(1)
    peer.tick()
    (err,) = peer.take()
    assert err["code"] == "token_expired"
    assert peer.close_code is None
    clock.advance(0.5)
    peer.tick()
    assert peer.close_code == CloseCode.TOKEN_EXPIRED == 4003


def test_session_a_connection_cannot_change_its_user(clock: FakeClock) -> None:
    """Re-authenticating as another user is refused with 4001, before or after an expiry."""
    tokens: dict[str, Principal | Unauthenticated] = {
        "t": principal(clock, 1),
        "other": principal(clock, 2),
    }
    peer = authed(clock, tokens=tokens)
    err = peer.auth("other")
    assert (err["code"], err["message"]) == (
        "unauthenticated",
        "a connection cannot change its user",
    )
    assert peer.close_code == 4001
    peer = authed(clock, tokens={**tokens, "t": principal(clock, 1, expires_in_s=1)})
    clock.advance(1)
    peer.tick()
    peer.take()
    assert peer.auth("other")["code"] == "unauthenticated"
    assert peer.close_code == 4001


def test_session_malformed_input_is_answered_and_abuse_closes(clock: FakeClock) -> None:
    """Bad JSON, unknown types and bad fields get named errors; the 11th violation closes 4029."""
    peer = authed(clock)
    peer.send("{not json")
    assert peer.take()[0]["code"] == "invalid_json"
    peer.send({"type": "teleport", "id": 7})
    (err,) = peer.take()
    assert (err["code"], err["id"]) == ("unknown_type", 7)
    assert "teleport" in err["message"]
    peer.send({"type": "subscribe", "farm": "one"})
    (err,) = peer.take()
    assert err["code"] == "invalid_message"
    assert "farm" in err["message"]
    for _ in range(7):
        peer.send("{not json")
    assert peer.close_code is None  # ten violations: the limit, not past it
    peer.send("{not json")
    assert peer.close_code == CloseCode.ABUSE == 4029


def test_session_flood_is_rate_limited(clock: FakeClock) -> None:
    """Past its burst a client's messages get rate_limited with the wait; time refills it."""
    peer = authed(clock, limits=WsLimits(messages_per_s=20, message_burst=40, max_violations=99))
    for i in range(44):  # the auth message took one token of the burst
        peer.send({"type": "ping", "id": i})
    frames = peer.take()
    assert [m["type"] for m in frames[:39]] == ["pong"] * 39
    assert [m["id"] for m in frames[:39]] == list(range(39))
    limited = frames[39:]
    assert [m["code"] for m in limited] == ["rate_limited"] * 5
    assert limited[0]["message"] == "more than 20 messages per second"
    assert limited[0]["retry_after_ms"] == 51  # one token at 20/s, rounded up
    clock.advance(limited[-1]["retry_after_ms"] / 1000)  # the advised wait is enough
    peer.send({"type": "ping", "id": "again"})
    assert peer.take() == [{"type": "pong", "id": "again", "t": clock.wall_ms()}]


def test_session_flood_past_the_violation_limit_closes_with_4029(clock: FakeClock) -> None:
    """A flood of 60 at once gets pongs, then rate_limited errors, then the abuse close."""
    peer = authed(clock)
    for i in range(60):
        peer.send({"type": "ping", "id": i})
    kinds = [m.get("code") or m["type"] for m in peer.take()]
    assert "pong" in kinds
    assert "rate_limited" in kinds
    assert peer.close_code == 4029


def test_session_per_user_connection_limit(clock: FakeClock) -> None:
    """A user's connection beyond the limit gets too_many_connections and close 4008."""
    registry = ConnectionRegistry()
    limits = WsLimits(max_connections_per_user=2)
    tokens: dict[str, Principal | Unauthenticated] = {"t": principal(clock)}
    keep = [authed(clock, limits=limits, tokens=tokens, registry=registry) for _ in range(2)]
    assert registry.user_count(1) == 2
    extra = Peer(clock, limits=limits, tokens=tokens, registry=registry)
    extra.take()
    err = extra.auth("t")
    assert (err["code"], err["message"]) == (
        "too_many_connections",
        "at most 2 connections per user",
    )
    assert extra.close_code == CloseCode.TOO_MANY_CONNECTIONS == 4008
    assert extra.session.principal is None
    assert all(p.close_code is None for p in keep)


def test_session_subscription_limit(clock: FakeClock) -> None:
    """Past max_subscriptions a new farm is refused; subscribing again to one replaces it."""
    peer = authed(clock, limits=WsLimits(max_subscriptions=2))
    peer.send({"type": "subscribe", "farm": 1})
    peer.send({"type": "subscribe", "farm": 2})
    peer.send({"type": "subscribe", "farm": 3, "id": "third"})
    *_, err = peer.take()
    assert (err["code"], err["id"]) == ("too_many_subscriptions", "third")
    assert err["message"] == "at most 2 subscriptions per connection"
    assert sorted(peer.session.subs) == [1, 2]
    first = peer.session.subs[1]
    peer.send({"type": "subscribe", "farm": 1, "topics": ["events"]})
    assert peer.take()[0]["topics"] == ["events"]
    assert peer.ended == [first]
    assert peer.close_code is None


def test_session_subscribe_failures_map_to_error_codes(clock: FakeClock) -> None:
    """Forbidden and NotFound answer with their code and message; a store failure is
    overloaded with a wait; none of them closes the connection."""
    peer = authed(clock, answer_subscribes=False)
    for farm, exc in ((1, Forbidden("no access to farm 1")), (9, NotFound("no farm 9"))):
        peer.send({"type": "subscribe", "farm": farm, "id": farm})
        (ask,) = peer.pending
        peer.pending.clear()
        peer.carry_out(peer.session.subscribe_failed(ask, exc))
    peer.send({"type": "subscribe", "farm": 2, "id": 2})
    peer.carry_out(peer.session.subscribe_failed(peer.pending[0], StoreUnavailable("disk full")))
    forbidden, missing, overloaded = peer.take()
    assert (forbidden["code"], forbidden["message"], forbidden["id"]) == (
        "forbidden",
        "no access to farm 1",
        1,
    )
    assert (missing["code"], missing["id"]) == ("not_found", 9)
    assert (overloaded["code"], overloaded["message"], overloaded["retry_after_ms"]) == (
        "overloaded",
        "could not load the farm; retry later",
        5000,
    )
    assert peer.close_code is None


def test_session_resync_and_resume_answers(clock: FakeClock) -> None:
    """A Resync becomes resync_required; a resume's replay follows `subscribed` in chunks
    stamped with the clock's time."""
    peer = authed(clock, limits=WsLimits(replay_chunk=2), answer_subscribes=False)
    peer.send({"type": "subscribe", "farm": 1, "since": 3, "epoch": "ep"})
    peer.carry_out(
        peer.session.subscribe_done(
            peer.pending.pop(), Resync(ResyncReason.EPOCH_CHANGED, 9, "ep2")
        )
    )
    assert peer.take() == [
        {"type": "resync_required", "farm": 1, "reason": "epoch_changed", "seq": 9, "epoch": "ep2"}
    ]
    assert peer.session.subs == {}
    peer.send({"type": "subscribe", "farm": 1, "since": 5, "epoch": "ep", "id": 4})
    ask = peer.pending.pop()
    replay = [Reading(7, 1, 1, float(s), 1_000 + s, 2_000 + s, s) for s in range(6, 11)]
    peer.carry_out(peer.session.subscribe_done(ask, subscribed(ask, 10, replay)))
    answer, *batches = peer.take()
    assert (answer["type"], answer["id"]) == ("subscribed", 4)
    assert answer["resume"] == {"from": 6, "to": 10}
    assert [[r[0] for r in b["r"]] for b in batches] == [[6, 7], [8, 9], [10]]
    assert {b["sent"] for b in batches} == {clock.wall_ms()}
    assert 1 in peer.session.subs


def test_session_access_recheck_ends_a_forbidden_subscription(clock: FakeClock) -> None:
    """After a role change the re-check ends the subscriptions the user lost (forbidden)."""
    peer = authed(clock)
    peer.send({"type": "subscribe", "farm": 1})
    peer.send({"type": "subscribe", "farm": 2})
    peer.take()
    peer.registry.access_changed(1)
    (ask,) = peer.rechecks
    fresh = principal(clock, roles={1: Role.VIEWER})
    peer.carry_out(peer.session.recheck_done(ask, fresh))
    assert peer.take() == [{"type": "unsubscribed", "id": None, "farm": 2, "reason": "forbidden"}]
    assert sorted(peer.session.subs) == [1]
    assert [s.farm_id for s in peer.ended] == [2]
    assert peer.close_code is None


def test_session_farm_deleted_ends_only_that_subscription(clock: FakeClock) -> None:
    """A deleted farm's subscription ends (`farm_deleted`) on every connection holding it;
    the others and the socket stay; a connection not subscribed to it hears nothing."""
    peer = authed(clock)
    other = authed(clock, registry=peer.registry)
    peer.send({"type": "subscribe", "farm": 1})
    peer.send({"type": "subscribe", "farm": 2})
    other.send({"type": "subscribe", "farm": 2})
    peer.take()
    other.take()
    peer.registry.farm_dropped(1, False)  # a rename ends nothing
    assert peer.take() == []
    peer.registry.farm_dropped(1, True)
    assert peer.take() == [
        {"type": "unsubscribed", "id": None, "farm": 1, "reason": "farm_deleted"}
    ]
    assert other.take() == []
    assert sorted(peer.session.subs) == [2]
    assert [s.farm_id for s in peer.ended] == [1]
    assert (peer.close_code, other.close_code) == (None, None)


def test_session_access_recheck_of_a_revoked_token_closes_with_4001(clock: FakeClock) -> None:
    """A revoked token or a deleted account found by the re-check ends the session (4001)."""
    peer = authed(clock)
    peer.send({"type": "subscribe", "farm": 1})
    peer.take()
    peer.access_changed()
    peer.carry_out(peer.session.recheck_failed(peer.rechecks[0], Unauthenticated("token revoked")))
    unsubscribed, err = peer.take()
    assert (unsubscribed["farm"], unsubscribed["reason"]) == (1, "unauthenticated")
    assert (err["code"], err["message"]) == ("unauthenticated", "token revoked")
    assert peer.close_code == 4001


def test_session_access_recheck_after_expiry_is_ignored(clock: FakeClock) -> None:
    """A re-check that returns after the token expired gives the session no principal back."""
    peer = authed(clock, tokens={"t": principal(clock, expires_in_s=1)})
    peer.access_changed()
    clock.advance(1)
    peer.tick()
    peer.take()
    peer.carry_out(peer.session.recheck_done(peer.rechecks[0], principal(clock)))
    assert peer.session.principal is None
    peer.send({"type": "subscribe", "farm": 1})
    assert peer.take()[0]["code"] == "unauthenticated"


def test_session_subscription_answered_after_expiry_is_ended(clock: FakeClock) -> None:
    """A subscription whose farm loaded while the token expired is ended, not kept."""
    peer = authed(clock, tokens={"t": principal(clock, expires_in_s=1)}, answer_subscribes=False)
    peer.send({"type": "subscribe", "farm": 1, "id": 5})
    ask = peer.pending.pop()
    clock.advance(1)
    peer.tick()
    peer.take()
    result = subscribed(ask)
    peer.carry_out(peer.session.subscribe_done(ask, result))
    assert peer.take() == [{"type": "unsubscribed", "id": 5, "farm": 1, "reason": "token_expired"}]
    assert peer.ended == [result.sub]
    assert peer.session.subs == {}


def test_session_slow_consumer_resyncs_then_closes_on_the_third_strike(clock: FakeClock) -> None:
    """Each overflow ends every subscription with a resync; the third closes with 4009."""
    peer = authed(clock)
    for strike in range(1, 4):
        peer.send({"type": "subscribe", "farm": 1})
        peer.send({"type": "subscribe", "farm": 2})
        subs = list(peer.session.subs.values())
        peer.ended.clear()
        peer.resyncs.clear()
        peer.carry_out(peer.session.slow_consumer())
        assert peer.ended == subs
        assert peer.resyncs == [
            SendResync(1, ResyncReason.SLOW_CONSUMER),
            SendResync(2, ResyncReason.SLOW_CONSUMER),
        ]
        assert peer.session.subs == {}
        assert peer.close_code == (CloseCode.SLOW_CONSUMER if strike == 3 else None)


def test_session_heartbeat_pings_and_closes_a_silent_peer(clock: FakeClock) -> None:
    """A ping each interval stamped with the clock; a peer silent two intervals gets 4010."""
    peer = authed(clock, limits=WsLimits(heartbeat_s=15))
    assert peer.session.next_deadline() == pytest.approx(clock.monotonic() + 15)
    clock.advance(15)
    peer.tick()
    assert peer.take() == [{"type": "ping", "t": clock.wall_ms()}]
    peer.send({"type": "pong"})
    clock.advance(15)
    peer.tick()
    assert [m["type"] for m in peer.take()] == ["ping"]
    clock.advance(15)
    peer.tick()  # silent for 30 s: two intervals, not more
    assert [m["type"] for m in peer.take()] == ["ping"]
    assert peer.close_code is None
    clock.advance(15)
    peer.tick()
    assert peer.take() == []
    assert peer.close_code == CloseCode.HEARTBEAT_TIMEOUT == 4010


def test_session_ping_and_unsubscribe_are_answered_with_their_id(clock: FakeClock) -> None:
    """ping gets a pong with the clock's time; unsubscribe ends the farm's stream, or says
    not_found when there is none."""
    peer = authed(clock)
    peer.send({"type": "ping", "id": 5})
    assert peer.take() == [{"type": "pong", "id": 5, "t": clock.wall_ms()}]
    peer.send({"type": "unsubscribe", "farm": 1, "id": 6})
    (err,) = peer.take()
    assert (err["code"], err["message"], err["id"]) == ("not_found", "not subscribed to farm 1", 6)
    peer.send({"type": "subscribe", "farm": 1})
    sub = peer.session.subs[1]
    peer.take()
    peer.send({"type": "unsubscribe", "farm": 1, "id": 7})
    assert peer.take() == [{"type": "unsubscribed", "id": 7, "farm": 1, "reason": "requested"}]
    assert peer.ended == [sub]
    assert peer.close_code is None


def test_session_closes_once_and_drops_what_arrives_after(clock: FakeClock) -> None:
    """The first close wins; a subscription answered after it is ended, unannounced."""
    peer = authed(clock, answer_subscribes=False)
    peer.send({"type": "subscribe", "farm": 1})
    peer.close_soon(CloseCode.SERVICE_RESTART, "server restart")
    peer.send({"type": "teleport"})
    for _ in range(11):
        peer.send("{")
    assert peer.closes == [CloseWith(CloseCode.SERVICE_RESTART, "server restart")]
    ask = peer.pending.pop()
    result = subscribed(ask)
    peer.take()
    peer.carry_out(peer.session.subscribe_done(ask, result))
    assert peer.take() == []
    assert peer.ended == [result.sub]


def test_session_end_detaches_every_subscription(clock: FakeClock) -> None:
    """When the socket is gone, every subscription is ended and no timer is left."""
    peer = authed(clock)
    peer.send({"type": "subscribe", "farm": 1})
    peer.send({"type": "subscribe", "farm": 3})
    subs = list(peer.session.subs.values())
    peer.carry_out(peer.session.end())
    assert peer.ended == subs
    assert peer.session.subs == {}


def test_session_handlers_cover_every_client_message_type() -> None:
    """The handler table has one entry per client message type; only the stream ones need auth."""
    assert set(HANDLERS) == CLIENT_MESSAGE_TYPES
    assert {k for k, h in HANDLERS.items() if h.needs_auth} == {
        "subscribe",
        "unsubscribe",
        "subscribe_stats",
        "unsubscribe_stats",
    }


# Issue 11: every documented refusal exactly as documented, and an exact heartbeat.


def heartbeat_timeouts() -> float:
    """The process's heartbeat-timeout counter."""
    value = REGISTRY.get_sample_value("farmbridge_ws_heartbeat_timeouts_total")
    return value or 0.0


@pytest.mark.parametrize(
    "msg",
    [
        {"type": "auth", "id": "a"},
        {"type": "auth", "token": "", "id": "a"},
        {"type": "auth", "token": 42, "id": "a"},
        {"type": "auth", "token": None, "id": "a"},
    ],
)
def test_session_auth_without_a_usable_token_closes_with_4001(
    clock: FakeClock, msg: dict[str, Any]
) -> None:
    """An auth with no, an empty or a non-string token is `unauthenticated`, then close 4001."""
    peer = Peer(clock)
    peer.take()
    peer.send(msg)
    (err,) = peer.take()
    assert (err["code"], err["id"]) == ("unauthenticated", "a")
    assert "token" in err["message"]
    assert peer.close_code == CloseCode.UNAUTHENTICATED == 4001


def test_session_ping_before_auth_is_answered_and_the_auth_deadline_holds(
    clock: FakeClock,
) -> None:
    """A ping before auth gets its pong (docs/protocol.md); it does not defer the auth deadline."""
    peer = Peer(clock, limits=WsLimits(auth_timeout_s=5))
    peer.take()
    peer.send({"type": "ping", "id": 1})
    assert peer.take() == [{"type": "pong", "id": 1, "t": clock.wall_ms()}]
    assert peer.close_code is None
    clock.advance(5)
    peer.tick()
    assert [m["code"] for m in peer.take()] == ["auth_timeout"]
    assert peer.close_code == CloseCode.AUTH_TIMEOUT


def test_session_auth_accepts_the_protocol_field_and_unknown_fields(clock: FakeClock) -> None:
    """`protocol` (Versioning) and optional fields a later release adds do not refuse auth."""
    peer = Peer(clock, tokens={"t": principal(clock)})
    peer.take()
    peer.send(
        {"type": "auth", "token": "t", "id": "a", "protocol": PROTOCOL_VERSION, "client": "x/2"}
    )
    assert [m["type"] for m in peer.take()] == ["authenticated"]


@pytest.mark.parametrize("farm", [True, "2", 0, 2**63, 2.0])
def test_session_subscribe_to_a_bad_farm_id_is_answered_not_dropped(
    clock: FakeClock, farm: object
) -> None:
    """A farm id that is not a strict int within 1..2**63-1 is `invalid_message` naming
    `farm`; nothing is subscribed and the connection stays open."""
    peer = authed(clock)
    peer.send('{"type": "subscribe", "id": 9, "farm": %s}' % orjson.dumps(farm).decode())  # noqa: UP031
    (err,) = peer.take()
    assert (err["code"], err["id"]) == ("invalid_message", 9)
    assert err["message"].startswith("farm: ")
    assert peer.session.subs == {}
    assert peer.pending == []
    assert peer.close_code is None


def test_session_rate_limited_messages_count_as_violations(clock: FakeClock) -> None:
    """Past the burst each message is a rate_limited violation: the 11th closes 4029, and
    nothing sent after the close is answered."""
    peer = authed(clock, limits=WsLimits(messages_per_s=20, message_burst=40, max_violations=10))
    for i in range(300):
        peer.send({"type": "ping", "id": i})
    frames = peer.take()
    assert [m["type"] for m in frames[:39]] == ["pong"] * 39
    assert [m.get("code") for m in frames[39:]] == ["rate_limited"] * 11
    assert peer.closes == [CloseWith(CloseCode.ABUSE, "too many invalid or excess messages")]


def test_session_internal_error_is_answered_and_the_connection_stays(clock: FakeClock) -> None:
    """An unexpected failure in the shell becomes `internal_error` with the message's id."""
    peer = authed(clock)
    peer.carry_out(peer.session.internal_error(12))
    (err,) = peer.take()
    assert (err["type"], err["code"], err["id"]) == ("error", "internal_error", 12)
    assert peer.close_code is None


def test_session_silent_peer_is_closed_just_after_two_intervals(clock: FakeClock) -> None:
    """The heartbeat deadline is two intervals after the last frame, to the instant: still
    open at exactly two intervals, closed (4010) at once after."""
    peer = authed(clock, limits=WsLimits(heartbeat_s=10))
    heard = clock.monotonic()
    clock.advance(10)
    peer.tick()
    assert [m["type"] for m in peer.take()] == ["ping"]
    assert peer.session.next_deadline() == pytest.approx(heard + 20)
    clock.advance(10)
    peer.tick()
    assert peer.close_code is None
    clock.advance(0.001)
    peer.tick()
    assert peer.close_code == CloseCode.HEARTBEAT_TIMEOUT


def test_session_any_frame_is_a_sign_of_life(clock: FakeClock) -> None:
    """A client that sends anything (here a ping of its own) within each interval stays."""
    peer = authed(clock, limits=WsLimits(heartbeat_s=10))
    for _ in range(50):
        clock.advance(9.9)
        peer.tick()
        peer.send({"type": "ping"})
    assert peer.close_code is None


def test_session_ping_written_late_leaves_the_client_a_full_interval(clock: FakeClock) -> None:
    """A ping queued behind a busy writer is not counted until written; from its write the
    client has one interval to answer, and an answer in time keeps it, whatever the delay."""
    peer = authed(clock, limits=WsLimits(heartbeat_s=10), write_pings=False)
    for _ in range(5):
        clock.advance(10)
        peer.tick()  # pings queue; none is on the socket yet
    assert peer.unwritten_pings == 5
    assert peer.close_code is None
    peer.carry_out(peer.session.ping_written())  # 50 s after the last frame
    written = clock.monotonic()
    assert peer.session.next_deadline() <= written + 10
    clock.advance(9.999)
    peer.tick()
    assert peer.close_code is None
    peer.send({"type": "pong"})  # in time
    clock.advance(10)
    peer.tick()
    assert peer.close_code is None
    clock.advance(0.5)
    peer.carry_out(peer.session.ping_written())
    clock.advance(10)
    peer.tick()
    assert peer.close_code is None  # silent 20.5 s, but the ping is only 10 s old
    clock.advance(0.001)
    peer.tick()
    assert peer.close_code == CloseCode.HEARTBEAT_TIMEOUT


def test_session_heard_while_busy_is_not_silence(clock: FakeClock) -> None:
    """While the shell is busy with a client's message, its queued frames are a sign of life."""
    peer = authed(clock, limits=WsLimits(heartbeat_s=10))
    for _ in range(10):
        clock.advance(10)
        peer.carry_out(peer.session.heard())
        peer.tick()
    assert peer.close_code is None


def test_session_time_the_shell_could_not_listen_is_not_silence(clock: FakeClock) -> None:
    """A loop stalled for 25 s moves the deadline by 25 s: the pong that waits unread in
    that time still counts, and a client silent beyond the moved deadline is closed."""
    peer = authed(clock, limits=WsLimits(heartbeat_s=10))
    heard = clock.monotonic()
    clock.advance(10)
    peer.tick()  # the ping is written at heard + 10
    clock.advance(25)  # the loop was blocked: nothing was read, nothing ticked
    peer.carry_out(peer.session.deaf_for(25 - 10))  # woke 15 s after its deadline
    peer.tick()
    assert peer.close_code is None
    assert peer.session.next_deadline() == pytest.approx(heard + 20 + 15)
    clock.advance(0.001)
    peer.tick()
    assert peer.close_code == CloseCode.HEARTBEAT_TIMEOUT


def test_session_heartbeat_timeout_is_counted_once(clock: FakeClock) -> None:
    """A silent client is counted once in heartbeat_timeouts_total, however long it lingers."""
    before = heartbeat_timeouts()
    peer = authed(clock, limits=WsLimits(heartbeat_s=10))
    for _ in range(20):
        clock.advance(10)
        peer.tick()
    assert peer.closes == [CloseWith(CloseCode.HEARTBEAT_TIMEOUT, "no answer to heartbeats")]
    assert heartbeat_timeouts() == before + 1
    assert [m["type"] for m in peer.take()] == ["ping", "ping"]


class Socket:
    """An ASGI WebSocket's two ends for the shell: frames in through a queue, frames out
    recorded, so a test can wait on what the client receives."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.received: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        return await self.inbox.get()

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            data = orjson.loads(message["text"])
            self.received.extend(data if isinstance(data, list) else [data])
            self._arrived.set()

    def client_sends(self, msg: dict[str, Any]) -> None:
        self.inbox.put_nowait({"type": "websocket.receive", "text": orjson.dumps(msg).decode()})

    async def until(self, kind: str, ref: object) -> dict[str, Any]:
        """The first message of `kind` answering `ref`, once it has arrived."""
        async with asyncio.timeout(30):  # a bound for a broken build, not a timing assertion
            while True:
                for msg in self.received:
                    if msg["type"] == kind and msg.get("id") == ref:
                        return msg
                self._arrived.clear()
                await self._arrived.wait()


async def test_connection_answers_an_unexpected_error_and_logs_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in a service (here a subscribe that raises) is answered `internal_error` with
    the message's id and logged with its traceback; the socket stays open."""
    clock = FakeClock()
    async with running_services(tmp_path, clock) as svc:
        user = (await admin(svc)).user
        token, _ = Secrets(SECRET_KEY, token_ttl_s=HOUR_S, clock=clock).issue_token(
            user.id, user.token_version
        )

        async def broken(*args: object, **kwargs: object) -> Subscribed:
            raise RuntimeError("a bug in subscribe")

        monkeypatch.setattr(svc.stream, "subscribe", broken)
        socket = Socket()
        conn = Connection(
            send=socket.send,
            access=svc.access,
            stream=svc.stream,
            registry=svc.connections,
            limits=WsLimits(),
            clock=clock,
            remote="test",
        )
        svc.connections.add(conn)
        running = asyncio.create_task(conn.run(socket.receive))
        socket.client_sends({"type": "auth", "token": token, "id": "a"})
        socket.client_sends({"type": "subscribe", "farm": 1, "id": 3})
        socket.client_sends({"type": "ping", "id": 4})
        await socket.until("pong", 4)
        err = await socket.until("error", 3)
        assert (err["code"], err["message"]) == (
            "internal_error",
            "internal error; the server logged it",
        )
        (record,) = [r for r in caplog.records if r.name == "farmbridge.ws.connection"]
        assert record.exc_info is not None
        assert "a bug in subscribe" in str(record.exc_info[1])
        socket.inbox.put_nowait({"type": "websocket.disconnect"})
        await running
        svc.connections.remove(conn)


@pytest.mark.parametrize(
    ("protocol", "named", "topics"),
    [
        (2, None, {t.value for t in Topic}),
        (2, ["device_status"], {"device_status", "device_removals"}),
        (2, ["readings", "alarms"], {"readings", "alarms"}),
        (1, None, {"readings", "device_status", "events", "commands"}),
        (1, ["device_status", "alarms", "device_removals"], {"device_status"}),
    ],
)
def test_session_subscribes_to_the_topics_of_its_protocol_version(
    clock: FakeClock, protocol: int, named: list[str] | None, topics: set[str]
) -> None:
    """Version 2 serves alarms and device removals, and device_status brings removals with
    it; a version 1 client never gets a topic of version 2, even one it names."""
    peer = Peer(clock, tokens={"t": principal(clock)}, answer_subscribes=False)
    peer.take()
    peer.send({"type": "auth", "token": "t", "id": "a", "protocol": protocol})
    peer.take()
    msg: dict[str, Any] = {"type": "subscribe", "id": 2, "farm": 1}
    if named is not None:
        msg["topics"] = named
    peer.send(msg)
    (ask,) = peer.pending
    assert {t.value for t in ask.topics} == topics
