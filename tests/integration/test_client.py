"""farmbridge.client against a real bridge: snapshot, live changes, restart, heartbeats, tokens."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import TypeVar

import httpx
import pytest

from farmbridge.client import (
    ClientAuthError,
    CommandChange,
    ConnectionState,
    EventChange,
    Message,
    ReadingChange,
    ServerError,
    Snapshot,
    StateChanged,
    StatusChange,
    StreamClient,
    Unsubscribed,
    stream_url,
)
from farmbridge.protocol.const import ErrorCode
from tests.conftest import Bridge, unique
from tests.integration.api_client import Api, ingest

pytestmark = pytest.mark.integration

PASSWORD = "viewer-password"
WAIT_S = 20.0

M = TypeVar("M", bound=Message)


ONLINE_SEQ = 1
"""Each farm's first change: its node's own online status (make_farm)."""


@dataclass(frozen=True)
class Farm:
    id: int
    node_key: str
    sensor_id: int
    node_id: int
    pump_id: int
    pump_key: str


def make_farm(api: Api, user: str = "viewer") -> Farm:
    """A farm of its own with a node and a pump, and `user` as its viewer."""
    farm = api.farm(unique("greenhouse"))
    node = api.device(farm["id"], "node")
    pump = api.device(farm["id"], "pump", kind="actuator")
    add_viewer(api, user, farm["id"])
    # The node says it is online (seq ONLINE_SEQ), so its readings add no status change.
    r = ingest(str(api.http.base_url).rstrip("/"), node["key"], {"status": {"state": "online"}})
    assert r.status_code == 200, r.text
    assert r.json()["last_seq"] == ONLINE_SEQ
    return Farm(
        id=farm["id"],
        node_key=node["key"],
        sensor_id=node["sensors"][0]["id"],
        node_id=node["device"]["id"],
        pump_id=pump["device"]["id"],
        pump_key=pump["key"],
    )


def add_viewer(api: Api, user: str, farm_id: int) -> None:
    """Makes `user` (created unless an earlier farm on the bridge made it) a viewer of the farm."""
    r = api.http.post("/api/v1/users", json={"username": user, "password": PASSWORD})
    if r.status_code == 409:
        user_id = next(u["id"] for u in api.ok("GET", "/api/v1/users") if u["username"] == user)
    else:
        assert r.status_code == 201, r.text
        user_id = r.json()["id"]
    api.ok("PUT", f"/api/v1/farms/{farm_id}/members/{user_id}", json={"role": "viewer"})


def login(bridge: Bridge, user: str = "viewer") -> str:
    r = httpx.post(
        f"{bridge.url}/api/v1/auth/token",
        data={"username": user, "password": PASSWORD},
        timeout=30,
    )
    r.raise_for_status()
    token: str = r.json()["access_token"]
    return token


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def send_readings(bridge: Bridge, farm: Farm, values: list[float]) -> list[int]:
    """Ingests one reading per value, one request each; returns their device timestamps."""
    stamps = []
    for value in values:
        ts = now_ms()
        r = ingest(bridge.url, farm.node_key, {"sensor": "temp", "value": value, "ts": ts})
        assert r.status_code == 200, r.text
        stamps.append(ts)
    return stamps


async def next_of(stream: AsyncIterator[Message], kind: type[M]) -> M:
    """The next message of `kind`, skipping others."""
    async with asyncio.timeout(WAIT_S):
        async for message in stream:
            if isinstance(message, kind):
                return message
    raise AssertionError(f"the stream ended before a {kind.__name__}")


async def drain(client: StreamClient, into: list[Message]) -> None:
    """Collects every message until `messages()` ends (or raises)."""
    async with asyncio.timeout(WAIT_S):
        async for message in client.messages():
            into.append(message)


async def take(stream: AsyncIterator[Message], kind: type[M], n: int) -> list[M]:
    return [await next_of(stream, kind) for _ in range(n)]


async def wait_queued(client: StreamClient, n: int) -> None:
    """Waits until `n` messages the caller has not consumed yet wait in the client's queue.

    The queue is private and signals nothing, so this polls it.
    """
    async with asyncio.timeout(WAIT_S):
        while client._queue.qsize() < n:  # noqa: ASYNC110 - nothing to wait on but the size
            await asyncio.sleep(0.01)


async def test_client_subscribe_starts_with_a_snapshot(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """A subscription without `since` yields the farm's snapshot as of its last seq first."""
    bridge = shared_bridge
    farm = make_farm(shared_admin)
    send_readings(bridge, farm, [11.5, 12.5])
    async with StreamClient(url=stream_url(bridge.url), token=login(bridge)) as client:
        client.subscribe(farm.id)
        async with aclosing(client.messages()) as stream:
            first = await anext(stream)
            assert first == StateChanged(ConnectionState.CONNECTED, "as viewer")
            snap = await next_of(stream, Snapshot)
    assert snap.farm == farm.id
    assert snap.seq == ONLINE_SEQ + 2
    assert snap.epoch == client.epoch[farm.id]
    assert client.last_seq == {farm.id: ONLINE_SEQ + 2}
    assert {d.id for d in snap.devices} == {farm.node_id, farm.pump_id}
    sensor = next(s for s in snap.sensors if s.id == farm.sensor_id)
    assert (sensor.device_id, sensor.name, sensor.value, sensor.seq) == (
        farm.node_id,
        "temp",
        12.5,
        ONLINE_SEQ + 2,
    )
    assert client.state is ConnectionState.CLOSED


async def test_client_live_changes_arrive_in_order_and_decoded(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """Readings, a status, an event and a command update come in seq order with their fields."""
    bridge, admin_api = shared_bridge, shared_admin
    farm = make_farm(admin_api)
    async with StreamClient(url=stream_url(bridge.url), token=login(bridge)) as client:
        client.subscribe(farm.id)
        async with aclosing(client.messages()) as stream:
            await next_of(stream, Snapshot)
            values = [20.0 + i / 4 for i in range(12)]
            stamps = send_readings(bridge, farm, values)
            readings = await take(stream, ReadingChange, len(values))

            ts = now_ms()
            report = {
                "status": {"state": "online", "actuator": {"power": "off"}, "ts": ts},
                "events": [
                    {"level": "warning", "code": "door_open", "message": "door 2", "ts": ts}
                ],
            }
            assert ingest(bridge.url, farm.pump_key, report).status_code == 200
            status = await next_of(stream, StatusChange)
            event = await next_of(stream, EventChange)
            cmd = admin_api.ok(
                "POST", f"/api/v1/devices/{farm.pump_id}/commands", json={"action": "on"}
            )
            command = await next_of(stream, CommandChange)

    assert [r.seq for r in readings] == list(range(ONLINE_SEQ + 1, ONLINE_SEQ + 13))
    assert [r.value for r in readings] == values
    assert [r.ts_ms for r in readings] == stamps
    for r in readings:
        assert r.farm == farm.id
        assert r.sensor_id == farm.sensor_id
        assert r.ts_ms <= r.stored_ms <= r.sent_ms
        assert r.stored_ms <= r.received_at_ms
        assert 0 <= r.latency_ms < 10_000
    assert (status.seq, status.device_id, status.state, status.actuator, status.ts_ms) == (
        ONLINE_SEQ + 13,
        farm.pump_id,
        "online",
        {"power": "off"},
        ts,
    )
    assert (event.seq, event.device_id, event.level, event.code, event.message, event.ts_ms) == (
        ONLINE_SEQ + 14,
        farm.pump_id,
        "warning",
        "door_open",
        "door 2",
        ts,
    )
    assert (command.seq, command.command_id, command.device_id, command.action) == (
        ONLINE_SEQ + 15,
        cmd["id"],
        farm.pump_id,
        "on",
    )
    assert command.state == cmd["state"]
    assert client.last_seq == {farm.id: ONLINE_SEQ + 15}
    assert client.duplicates_dropped == 0


async def test_client_resumes_after_bridge_restart_exactly_once(
    bridge: Bridge, admin_api: Api
) -> None:
    """After a restart the client reconnects itself and gets what it missed once, in order."""
    farm = make_farm(admin_api)
    token = login(bridge)
    states: list[ConnectionState] = []
    client = StreamClient(
        url=stream_url(bridge.url),
        token=token,
        backoff_base_s=0.05,
        on_state=lambda change: states.append(change.state),
    )
    async with client, aclosing(client.messages()) as stream:
        client.subscribe(farm.id)
        snap = await next_of(stream, Snapshot)
        before = send_readings(bridge, farm, [1.0, 2.0, 3.0])
        got = await take(stream, ReadingChange, 3)

        await asyncio.to_thread(bridge.stop)
        lost = await next_of(stream, StateChanged)
        assert lost.state is ConnectionState.RECONNECTING
        assert "close 1012" in lost.detail
        # Blocking the loop on purpose: these readings are stored while the client is away.
        bridge.start()
        missed = send_readings(bridge, farm, [4.0, 5.0, 6.0, 7.0])

        back = await next_of(stream, StateChanged)
        assert back.state is ConnectionState.CONNECTED
        resumed = [await anext(stream) for _ in range(4)]
        assert all(isinstance(m, ReadingChange) for m in resumed), resumed  # no new snapshot
        live = send_readings(bridge, farm, [8.0, 9.0])
        got += await take(stream, ReadingChange, 2)
        # Nothing more: no duplicate, and a resume, not a second snapshot.
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await anext(stream)

    got[3:3] = [m for m in resumed if isinstance(m, ReadingChange)]
    assert snap.seq == ONLINE_SEQ
    assert [r.seq for r in got] == list(range(ONLINE_SEQ + 1, ONLINE_SEQ + 10))
    assert [r.value for r in got] == [float(v) for v in range(1, 10)]
    assert [r.ts_ms for r in got] == before + missed + live
    assert states == [
        ConnectionState.CONNECTED,
        ConnectionState.RECONNECTING,
        ConnectionState.CONNECTED,
        ConnectionState.CLOSED,
    ]
    assert client.reconnects == 1
    assert client.duplicates_dropped == 0
    assert client.last_seq == {farm.id: ONLINE_SEQ + 9}


async def test_client_drops_what_it_already_holds_when_resuming(
    bridge: Bridge, admin_api: Api
) -> None:
    """Changes queued but not consumed before a restart are replayed; each is yielded once."""
    farm = make_farm(admin_api)
    connections = 0
    reconnected = asyncio.Event()

    def on_state(change: StateChanged) -> None:
        nonlocal connections
        connections += change.state is ConnectionState.CONNECTED
        if connections == 2:
            reconnected.set()

    client = StreamClient(
        url=stream_url(bridge.url), token=login(bridge), backoff_base_s=0.05, on_state=on_state
    )
    async with client, aclosing(client.messages()) as stream:
        client.subscribe(farm.id)
        await next_of(stream, Snapshot)
        send_readings(bridge, farm, [1.0, 2.0, 3.0])
        # Received into the queue, not consumed: last_seq stays the snapshot's.
        await wait_queued(client, 3)
        assert client.last_seq == {farm.id: ONLINE_SEQ}
        await asyncio.to_thread(bridge.stop)
        bridge.start()
        send_readings(bridge, farm, [4.0, 5.0])
        async with asyncio.timeout(WAIT_S):
            await reconnected.wait()  # resumed from the snapshot's seq: 3 not consumed yet
        seen: list[Message] = []
        async with asyncio.timeout(WAIT_S):
            while sum(isinstance(m, ReadingChange) for m in seen) < 5:
                seen.append(await anext(stream))
    readings = [m for m in seen if isinstance(m, ReadingChange)]
    assert [r.seq for r in readings] == [ONLINE_SEQ + n for n in (1, 2, 3, 4, 5)]
    assert [m.state for m in seen if isinstance(m, StateChanged)] == [
        ConnectionState.RECONNECTING,
        ConnectionState.CONNECTED,
    ]
    assert not any(isinstance(m, Snapshot) for m in seen)
    assert client.duplicates_dropped == 3


async def test_client_bad_static_token_ends_in_auth_error(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """A refused string token closes the client and `messages()` raises ClientAuthError."""
    bridge = shared_bridge
    farm = make_farm(shared_admin)
    seen: list[Message] = []
    async with StreamClient(url=stream_url(bridge.url), token="not-a-token") as client:
        client.subscribe(farm.id)
        with pytest.raises(ClientAuthError) as info:
            await drain(client, seen)
        assert client.state is ConnectionState.CLOSED
    assert info.value.code == 4001
    assert isinstance(seen[0], ServerError)
    assert seen[0].code is ErrorCode.UNAUTHENTICATED
    assert seen[-1] == StateChanged(ConnectionState.CLOSED, str(info.value))


async def test_client_token_callable_is_asked_again_after_a_refusal(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """With a token callable, a 4001 fetches a fresh token and the client connects."""
    bridge = shared_bridge
    farm = make_farm(shared_admin)
    tokens = iter(["stale-token", login(bridge)])
    calls = 0

    async def token() -> str:
        nonlocal calls
        calls += 1
        return next(tokens)

    client = StreamClient(url=stream_url(bridge.url), token=token, backoff_base_s=0.05)
    async with client, aclosing(client.messages()) as stream:
        client.subscribe(farm.id)
        snap = await next_of(stream, Snapshot)
    assert snap.farm == farm.id
    assert calls == 2
    assert client.reconnects == 0


@pytest.mark.bridge_env(FARMBRIDGE_WS_HEARTBEAT_S="0.4")
async def test_client_reconnects_when_the_server_falls_silent(
    bridge: Bridge, admin_api: Api
) -> None:
    """A server frozen past the heartbeat grace is taken for gone; the client comes back."""
    farm = make_farm(admin_api)
    client = StreamClient(url=stream_url(bridge.url), token=login(bridge), backoff_base_s=0.05)
    async with client, aclosing(client.messages()) as stream:
        client.subscribe(farm.id)
        await next_of(stream, Snapshot)
        await asyncio.sleep(1.5)  # pings are answered: still the same connection
        assert client.state is ConnectionState.CONNECTED
        assert bridge.proc is not None
        bridge.proc.send_signal(signal.SIGSTOP)
        try:
            lost = await next_of(stream, StateChanged)
        finally:
            bridge.proc.send_signal(signal.SIGCONT)
        assert lost.state is ConnectionState.RECONNECTING
        assert "server silent for 1 s" in lost.detail
        back = await next_of(stream, StateChanged)
        assert back.state is ConnectionState.CONNECTED
        send_readings(bridge, farm, [1.0])
        reading = await next_of(stream, ReadingChange)
    assert reading.seq == ONLINE_SEQ + 1
    assert client.reconnects == 1


# Tokens live 2-3 s (expiry is in whole seconds): time for the set-up's few requests,
# however busy the machine.
@pytest.mark.bridge_env(FARMBRIDGE_TOKEN_TTL_S="3")
async def test_client_renews_an_expired_token_on_the_open_socket(bridge: Bridge) -> None:
    """When the token expires the callable's new one re-authenticates and the stream resumes."""
    api = Api(bridge.url, "admin", "admin-password")
    try:
        farm = make_farm(api)
    finally:
        api.close()
    calls = 0

    async def token() -> str:
        nonlocal calls
        calls += 1
        return await asyncio.to_thread(login, bridge)

    client = StreamClient(url=stream_url(bridge.url), token=token)
    async with client, aclosing(client.messages()) as stream:
        client.subscribe(farm.id)
        await next_of(stream, Snapshot)
        expired = await next_of(stream, Unsubscribed)
        assert expired.reason == "token_expired"
        error = await next_of(stream, ServerError)
        assert error.code is ErrorCode.TOKEN_EXPIRED
        send_readings(bridge, farm, [1.0, 2.0])
        got = await take(stream, ReadingChange, 2)
    assert [r.seq for r in got] == [ONLINE_SEQ + 1, ONLINE_SEQ + 2]
    assert calls >= 2
    assert client.reconnects == 0
