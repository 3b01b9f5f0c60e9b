"""The live figures over the WebSocket: who may watch them, what a watcher gets and when, and
what the service exports, on a FakeClock (no socket but the test's own)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError

from farmbridge.config import Settings
from farmbridge.domain import Role, User
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.reports import DeviceReport, ReportedReading
from farmbridge.domain.telemetry import SensorSpec
from farmbridge.hub.channel import Subscription
from farmbridge.hub.hub import Hub
from farmbridge.hub.state import FarmState
from farmbridge.protocol.const import ALL_TOPICS, Mode
from farmbridge.service.access import Principal
from farmbridge.service.connections import ConnectionRegistry
from farmbridge.service.live_stats import MAX_STATS_SLOTS, LiveStats
from farmbridge.service.security import Secrets
from farmbridge.ws.actions import Action, UnwatchStats, WatchStats
from farmbridge.ws.connection import Connection
from farmbridge.ws.limits import WsLimits
from tests.unit.bridge_services import SECRET_KEY, admin, device, running_services
from tests.unit.test_ws_session import HOUR_S, Peer, Socket, Unread, principal


class StatsPeer(Peer):
    """A shell that also records the session's stats actions."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.stats_actions: list[Action] = []
        super().__init__(*args, **kwargs)

    def carry_out(self, actions: list[Action]) -> None:
        self.stats_actions.extend(a for a in actions if isinstance(a, WatchStats | UnwatchStats))
        super().carry_out(actions)


def admin_of(clock: FakeClock, expires_in_s: int = HOUR_S) -> Principal:
    user = User(9, "root", is_admin=True, created_ms=0)
    return Principal(user, {}, int(clock.wall_s()) + expires_in_s)


def peer_as(clock: FakeClock, who: Principal) -> StatsPeer:
    peer = StatsPeer(clock, tokens={"t": who})
    peer.take()
    assert peer.auth("t")["type"] == "authenticated"
    return peer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_stats_subscribe_by_a_viewer_is_forbidden(clock: FakeClock) -> None:
    """A user who is not a global admin gets `forbidden` (with its id) and no figures."""
    peer = peer_as(clock, principal(clock, roles={1: Role.ADMIN}))
    peer.send({"type": "subscribe_stats", "id": 7})
    (err,) = peer.take()
    assert (err["type"], err["code"], err["id"]) == ("error", "forbidden", 7)
    assert peer.stats_actions == []
    assert not peer.session.watching_stats


def test_stats_subscribe_before_auth_is_unauthenticated(clock: FakeClock) -> None:
    """Like a farm's subscribe, the figures need an authenticated connection (4001)."""
    peer = StatsPeer(clock)
    peer.take()
    peer.send({"type": "subscribe_stats", "id": 1})
    (err,) = peer.take()
    assert err["code"] == "unauthenticated"
    assert peer.close_code == 4001


def test_stats_subscribe_and_unsubscribe_by_an_admin(clock: FakeClock) -> None:
    """An admin's subscribe asks the shell for the window; unsubscribing stops it, once."""
    peer = peer_as(clock, admin_of(clock))
    peer.send({"type": "subscribe_stats", "id": 3})
    assert peer.stats_actions == [WatchStats(3)]
    peer.send({"type": "unsubscribe_stats", "id": 4})
    assert peer.take() == [{"type": "stats_unsubscribed", "id": 4, "reason": "requested"}]
    assert peer.stats_actions[1:] == [UnwatchStats()]
    peer.send({"type": "unsubscribe_stats", "id": 5})
    (err,) = peer.take()
    assert (err["code"], err["id"]) == ("not_found", 5)


def test_stats_end_when_the_token_expires(clock: FakeClock) -> None:
    """An expired token ends the figures like a farm's stream (`token_expired`)."""
    peer = peer_as(clock, admin_of(clock, expires_in_s=2))
    peer.send({"type": "subscribe_stats"})
    clock.advance(2)
    peer.tick()
    ended, err = peer.take()
    assert (ended["type"], ended["reason"]) == ("stats_unsubscribed", "token_expired")
    assert err["code"] == "token_expired"
    assert peer.stats_actions[-1] == UnwatchStats()


def test_stats_end_when_the_admin_role_is_removed(clock: FakeClock) -> None:
    """A recheck that finds the user no longer a global admin ends the figures (`forbidden`)."""
    who = admin_of(clock)
    peer = peer_as(clock, who)
    peer.send({"type": "subscribe_stats"})
    peer.access_changed()
    demoted = dataclasses.replace(who, user=dataclasses.replace(who.user, is_admin=False))
    peer.carry_out(peer.session.recheck_done(peer.rechecks[0], demoted))
    assert peer.take() == [{"type": "stats_unsubscribed", "id": None, "reason": "forbidden"}]
    assert peer.stats_actions[-1] == UnwatchStats()


def test_stats_subscribe_again_sends_the_window_again(clock: FakeClock) -> None:
    """A second `subscribe_stats` while watching asks for the whole window once more."""
    peer = peer_as(clock, admin_of(clock))
    peer.send({"type": "subscribe_stats", "id": 1})
    peer.send({"type": "subscribe_stats", "id": 2})
    assert peer.stats_actions == [WatchStats(1), WatchStats(2)]


def test_stats_watch_ends_with_the_socket(clock: FakeClock) -> None:
    """A socket that goes away stops being a watcher."""
    peer = peer_as(clock, admin_of(clock))
    peer.send({"type": "subscribe_stats"})
    peer.carry_out(peer.session.end())
    assert peer.stats_actions == [WatchStats(None), UnwatchStats()]


class Watcher:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def push_stats(self, text: str) -> None:
        self.texts.append(text)


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_live_stats_push_each_closed_slot_to_every_watcher(clock: FakeClock) -> None:
    """Watchers get the window on watching, then one message per closed slot, with the
    connections and per-farm subscribers of the moment."""
    registry = ConnectionRegistry()
    hub = Hub(clock=clock)
    channel = hub.finish_open(5, "ep", FarmState(0, [], []))
    channel.subs.add(Subscription(Unread(), 5, ALL_TOPICS, Mode.ALL))
    stats = LiveStats(registry=registry, hub=hub, clock=clock, instance="i1", slot_s=10)
    first, second = Watcher(), Watcher()
    window = orjson.loads(stats.watch(first, 1))
    assert window == {
        "type": "stats",
        "id": 1,
        "instance": "i1",
        "slot_s": 10,
        "window_s": 300,
        "connections": 0,
        "farms": {"5": 1},
        "slots": [],
    }
    stats.watch(second, None)
    stats.window.connected()
    stats.window.resumed()
    stats.window.delivered(12)
    clock.advance(9)
    assert stats.tick() is None
    clock.advance(1)
    assert stats.tick() is not None
    (pushed,) = [orjson.loads(t) for t in first.texts]
    assert [orjson.loads(t) for t in second.texts] == [pushed]
    assert pushed["id"] is None
    assert pushed["slots"] == [
        {
            "t": 1_700_000_000_000,
            "s": 10,
            "connections": 0,
            "connects": 1,
            "disconnects": 0,
            "resumes": 1,
            "slow": 0,
            "frames": 1,
            "p50": 13,
            "p99": 13,
        }
    ]
    stats.unwatch(first)
    clock.advance(10)
    stats.tick()
    assert (len(first.texts), len(second.texts)) == (1, 2)
    assert len(orjson.loads(stats.watch(first, 2))["slots"]) == 2


def test_live_stats_export_each_slot_to_prometheus(clock: FakeClock) -> None:
    """Each closed slot adds its connects and resumes to the counters and sets the recent
    latency quantiles; a farm without subscribers leaves the per-farm gauge."""
    hub = Hub(clock=clock)
    channel = hub.finish_open(7001, "ep", FarmState(0, [], []))
    sub = Subscription(Unread(), 7001, ALL_TOPICS, Mode.ALL)
    channel.subs.add(sub)
    stats = LiveStats(registry=ConnectionRegistry(), hub=hub, clock=clock, slot_s=1)
    connects = sample("farmbridge_ws_connects_total") or 0.0
    resumes = sample("farmbridge_ws_resumes_total") or 0.0
    stats.window.connected()
    stats.window.connected()
    stats.window.resumed()
    for ms in (2, 2, 2, 90):
        stats.window.delivered(ms)
    clock.advance(1)
    stats.tick()
    assert sample("farmbridge_ws_connects_total") == connects + 2
    assert sample("farmbridge_ws_resumes_total") == resumes + 1
    assert sample("farmbridge_ws_delivery_recent_seconds", quantile="0.5") == 0.002
    assert sample("farmbridge_ws_delivery_recent_seconds", quantile="0.99") == 0.099
    assert sample("farmbridge_ws_farm_subscribers", farm="7001") == 1
    channel.subs.discard(sub)
    clock.advance(1)
    stats.tick()
    assert sample("farmbridge_ws_farm_subscribers", farm="7001") is None
    p50 = sample("farmbridge_ws_delivery_recent_seconds", quantile="0.5")
    assert p50 is not None
    assert p50 != p50  # NaN: no frame in the slot


async def test_connection_pushes_the_window_then_each_slot(tmp_path: Path) -> None:
    """A real connection shell: an admin's `subscribe_stats` is answered with the window
    (its id echoed), and each slot the service closes reaches the socket."""
    clock = FakeClock()
    async with running_services(tmp_path, clock) as svc:
        user = (await admin(svc)).user
        token, _ = Secrets(SECRET_KEY, token_ttl_s=HOUR_S, clock=clock).issue_token(
            user.id, user.token_version
        )
        socket = Socket()
        conn = Connection(
            send=socket.send,
            access=svc.access,
            stream=svc.stream,
            registry=svc.connections,
            limits=WsLimits(),
            clock=clock,
            remote="test",
            stats=svc.live_stats,
        )
        svc.connections.add(conn)
        running = asyncio.create_task(conn.run(socket.receive))
        socket.client_sends({"type": "auth", "token": token, "id": "a"})
        socket.client_sends({"type": "subscribe_stats", "id": "s"})
        window = await socket.until("stats", "s")
        assert (window["connections"], window["slots"]) == (1, [])
        svc.live_stats.window.connected()
        clock.advance(svc.live_stats.window.slot_s)
        svc.live_stats.tick()
        pushed = await socket.until("stats", None)
        assert [s["connects"] for s in pushed["slots"]] == [1]
        assert svc.live_stats.watchers == 1
        socket.inbox.put_nowait({"type": "websocket.disconnect"})
        await running
        svc.connections.remove(conn)
        assert svc.live_stats.watchers == 0


class ReadingSocket(Socket):
    async def readings(self, n: int) -> None:
        """Waits until batches holding `n` readings in all have arrived."""
        async with asyncio.timeout(30):  # a bound for a broken build, not a timing assertion
            while sum(len(m.get("r", [])) for m in self.received if m["type"] == "batch") < n:
                self._arrived.clear()
                await self._arrived.wait()


async def test_connection_times_live_frames_and_counts_a_resume_but_not_its_replay(
    tmp_path: Path,
) -> None:
    """A resume counts once; its replay of stored changes is not timed, the live frame
    after it is (one frame, however many changes the replay held)."""
    clock = FakeClock()
    async with running_services(tmp_path, clock) as svc:
        user = (await admin(svc)).user
        token, _ = Secrets(SECRET_KEY, token_ttl_s=HOUR_S, clock=clock).issue_token(
            user.id, user.token_version
        )
        dev, key = await device(svc, "node", sensors=(SensorSpec("temp", "C", -40, 80),))
        entry = await svc.ingest.authenticate(key)

        async def post(n: int) -> None:
            now = clock.wall_ms()
            readings = [ReportedReading("temp", 20.0 + i, now) for i in range(n)]
            await svc.ingest.ingest(entry, DeviceReport(readings=readings))

        await post(3)
        farm = await svc.store.get_farm(dev.farm_id)
        socket = ReadingSocket()
        conn = Connection(
            send=socket.send,
            access=svc.access,
            stream=svc.stream,
            registry=svc.connections,
            limits=WsLimits(),
            clock=clock,
            remote="test",
            stats=svc.live_stats,
        )
        svc.connections.add(conn)
        running = asyncio.create_task(conn.run(socket.receive))
        socket.client_sends({"type": "auth", "token": token, "id": "a"})
        socket.client_sends(
            {"type": "subscribe", "farm": dev.farm_id, "since": 0, "epoch": farm.epoch, "id": 1}
        )
        resumed = await socket.until("subscribed", 1)
        assert resumed["resume"]["from"] == 1
        replayed = [m for m in socket.received if m["type"] == "batch"]
        assert sum(len(m.get("r", [])) for m in replayed) == 3
        clock.advance(0.002)
        await post(1)
        await socket.readings(4)
        clock.advance(svc.live_stats.window.slot_s)
        slot = svc.live_stats.tick()
        assert slot is not None
        assert (slot.resumes, slot.frames, slot.p50_ms) == (1, 1, 0)
        socket.inbox.put_nowait({"type": "websocket.disconnect"})
        await running
        svc.connections.remove(conn)


def test_live_stats_settings_refuse_a_useless_slot(tmp_path: Path) -> None:
    """A slot shorter than 0.1 s is refused when the settings are read, naming the field."""
    with pytest.raises(ValidationError, match="ws_stats_interval_s"):
        Settings(data_dir=tmp_path, ws_stats_interval_s=0.05)


def test_live_stats_window_is_capped_at_720_slots(clock: FakeClock) -> None:
    """However long the window asked for, it holds at most MAX_STATS_SLOTS slots."""
    stats = LiveStats(registry=ConnectionRegistry(), clock=clock, slot_s=0.1, window_s=86_400)
    assert stats.window.closed.maxlen == MAX_STATS_SLOTS == 720
    window = orjson.loads(stats.watch(Watcher(), None))
    assert window["window_s"] == pytest.approx(72.0)
