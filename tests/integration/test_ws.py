"""The /ws live stream on a real bridge: auth, authorization, snapshot, resume, limits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import ADMIN, Bridge, make_admin, started_bridge, unique
from tests.integration.api_client import Api, ingest
from tests.integration.ws_probe import Probe


@dataclass
class Farm:
    id: int
    key: str
    sensor_id: int
    device_id: int


def make_farm(api: Api, name: str) -> Farm:
    farm = api.farm(name)
    dev = api.device(farm["id"], "node")
    return Farm(farm["id"], dev["key"], dev["sensors"][0]["id"], dev["device"]["id"])


def send_readings(url: str, farm: Farm, values: list[float]) -> list[int]:
    now = int(time.time() * 1000)
    r = ingest(
        url, farm.key, {"readings": [{"sensor": "temp", "value": v, "ts": now} for v in values]}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    return list(range(body["first_seq"], body["last_seq"] + 1))


def login(url: str, user: str, password: str) -> str:
    r = httpx.post(f"{url}/api/v1/auth/token", data={"username": user, "password": password})
    r.raise_for_status()
    token: str = r.json()["access_token"]
    return token


@pytest.fixture
def custom_bridge(tmp_path: Path) -> Iterator[Any]:
    """Starts bridges of the test's own with settings given by name (`token_ttl_s="2"`)."""
    started: list[Bridge] = []

    def start(**env: str) -> Bridge:
        settings = {f"FARMBRIDGE_{k.upper()}": v for k, v in env.items()}
        b = started_bridge(tmp_path / f"b{len(started)}", **settings)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


async def test_ws_snapshot_then_live_readings_in_order(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """A subscription starts with a snapshot at the farm's seq, then every new reading in order."""
    bridge, admin_api = shared_bridge, shared_admin
    farm = make_farm(admin_api, unique("f1"))
    first = send_readings(bridge.url, farm, [20.0])
    probe = await Probe.open(bridge.url)
    await probe.auth(admin_api.token)
    await probe.send({"type": "subscribe", "farm": farm.id, "id": 1})
    sub = await probe.expect("subscribed")
    assert sub["id"] == 1
    assert sub["seq"] == first[-1]
    (sensor,) = sub["snapshot"]["sensors"]
    assert (sensor["id"], sensor["value"]) == (farm.sensor_id, 20.0)
    assert sub["snapshot"]["devices"][0]["id"] == farm.device_id
    seqs = send_readings(bridge.url, farm, [21.0, 22.0, 23.0])
    rows = await probe.readings(3)
    assert [r[0] for r in rows] == seqs
    assert [(r[1], r[2]) for r in rows] == [(farm.sensor_id, v) for v in (21.0, 22.0, 23.0)]
    await probe.close()


async def test_ws_resume_since_replays_exactly_what_was_missed(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """After a disconnect, `since` gets exactly the missed changes, then live ones, no duplicate."""
    bridge, admin_api = shared_bridge, shared_admin
    farm = make_farm(admin_api, unique("f1"))
    probe = await Probe.open(bridge.url)
    await probe.auth(admin_api.token)
    await probe.send({"type": "subscribe", "farm": farm.id})
    sub = await probe.expect("subscribed")
    seen = [r[0] for r in await probe.readings(len(send_readings(bridge.url, farm, [1, 2])))]
    await probe.close()
    missed = send_readings(bridge.url, farm, [3, 4, 5])
    probe = await Probe.open(bridge.url)
    await probe.auth(admin_api.token)
    await probe.send(
        {"type": "subscribe", "farm": farm.id, "since": seen[-1], "epoch": sub["epoch"]}
    )
    resumed = await probe.expect("subscribed")
    assert resumed["resume"] == {"from": seen[-1] + 1, "to": missed[-1]}
    assert "snapshot" not in resumed
    live = send_readings(bridge.url, farm, [6])
    rows = await probe.readings(len(missed) + len(live))
    assert [r[0] for r in rows] == missed + live
    await probe.close()


async def test_ws_resume_from_the_store_beyond_memory(custom_bridge: Any) -> None:
    """When memory no longer holds the gap, the replay comes from the store, still exact."""
    b = custom_bridge(ws_recent_size="3")
    api = Api(b.url, *ADMIN)
    farm = make_farm(api, "f1")
    probe = await Probe.open(b.url)
    await probe.auth(api.token)
    await probe.send({"type": "subscribe", "farm": farm.id})
    sub = await probe.expect("subscribed")
    await probe.close()
    missed = send_readings(b.url, farm, [float(i) for i in range(20)])
    probe = await Probe.open(b.url)
    await probe.auth(api.token)
    await probe.send(
        {"type": "subscribe", "farm": farm.id, "since": sub["seq"], "epoch": sub["epoch"]}
    )
    await probe.expect("subscribed")
    assert [r[0] for r in await probe.readings(20)] == missed
    await probe.close()
    api.close()


async def test_ws_resync_required_beyond_retention_and_on_epoch_change(custom_bridge: Any) -> None:
    """Too old a `since` or another epoch gets resync_required instead of a partial replay."""
    b = custom_bridge(ws_max_replay="5")
    api = Api(b.url, *ADMIN)
    farm = make_farm(api, "f1")
    # 11 changes: the device's online status (its first data brings it), 10 readings.
    head = send_readings(b.url, farm, [float(i) for i in range(10)])[-1]
    assert head == 11
    probe = await Probe.open(b.url)
    await probe.auth(api.token)
    await probe.send({"type": "subscribe", "farm": farm.id, "since": 1})
    msg = await probe.expect("resync_required")
    assert (msg["farm"], msg["reason"], msg["seq"]) == (farm.id, "too_far_behind", head)
    await probe.send({"type": "subscribe", "farm": farm.id, "since": 9, "epoch": "another"})
    msg = await probe.expect("resync_required")
    assert msg["reason"] == "epoch_changed"
    await probe.send({"type": "subscribe", "farm": farm.id, "since": 9, "epoch": msg["epoch"]})
    assert (await probe.expect("subscribed"))["resume"] == {"from": 10, "to": head}
    await probe.close()
    api.close()


async def test_ws_refuses_subscriptions_before_auth_and_bad_tokens(bridge: Bridge) -> None:
    """A subscribe before auth, or a bad token, gets an error and the documented close code."""
    probe = await Probe.open(bridge.url)
    await probe.expect("welcome")
    await probe.send({"type": "subscribe", "farm": 1})
    err = await probe.recv()
    assert (err["type"], err["code"]) == ("error", "unauthenticated")
    assert await probe.close_code() == 4001
    probe = await Probe.open(bridge.url)
    await probe.expect("welcome")
    await probe.send({"type": "auth", "token": "not-a-token"})
    err = await probe.recv()
    assert (err["type"], err["code"]) == ("error", "unauthenticated")
    assert await probe.close_code() == 4001


async def test_ws_auth_timeout_closes_silent_clients(custom_bridge: Any) -> None:
    """A client that never authenticates is told so and closed with 4002.

    The session's rules are unit tests (tests/unit/test_ws_session.py); this one proves
    that the shell's timer loop fires the session's deadlines on a real bridge.
    """
    b = custom_bridge(ws_auth_timeout_s="0.3")
    probe = await Probe.open(b.url)
    await probe.expect("welcome")
    err = await probe.recv(timeout=5)
    assert err["code"] == "auth_timeout"
    assert await probe.close_code() == 4002


async def test_ws_cross_farm_subscription_is_forbidden(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """A viewer of farm A cannot subscribe to farm B, and gets A's data only."""
    bridge, admin_api = shared_bridge, shared_admin
    viewer = unique("viewer")
    a = make_farm(admin_api, unique("a"))
    b = make_farm(admin_api, unique("b"))
    admin_api.user(viewer, "viewer-password", a.id, "viewer")
    token = login(bridge.url, viewer, "viewer-password")
    probe = await Probe.open(bridge.url)
    await probe.auth(token)
    await probe.send({"type": "subscribe", "farm": b.id, "id": "b"})
    err = await probe.recv()
    assert (err["type"], err["code"], err["id"]) == ("error", "forbidden", "b")
    await probe.send({"type": "subscribe", "farm": 9999, "id": "x"})
    assert (await probe.recv())["code"] == "forbidden"
    await probe.send({"type": "subscribe", "farm": a.id})
    await probe.expect("subscribed")
    send_readings(bridge.url, b, [1.0])
    seqs = send_readings(bridge.url, a, [2.0])
    batch = await probe.expect("batch")
    assert batch["farm"] == a.id
    assert [r[0] for r in batch["r"]] == seqs
    await probe.close()


async def test_ws_revoked_membership_ends_the_subscription(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """Removing a user's role on a farm ends their live subscription (unsubscribed)."""
    bridge, admin_api = shared_bridge, shared_admin
    viewer = unique("viewer")
    a = make_farm(admin_api, unique("a"))
    admin_api.user(viewer, "viewer-password", a.id, "viewer")
    token = login(bridge.url, viewer, "viewer-password")
    probe = await Probe.open(bridge.url)
    await probe.auth(token)
    await probe.send({"type": "subscribe", "farm": a.id})
    await probe.expect("subscribed")
    users = {u["username"]: u["id"] for u in admin_api.ok("GET", "/api/v1/users")}
    admin_api.ok("DELETE", f"/api/v1/farms/{a.id}/members/{users[viewer]}")
    msg = await probe.expect("unsubscribed")
    assert (msg["farm"], msg["reason"]) == (a.id, "forbidden")
    await probe.close()


async def test_ws_malformed_input_is_answered_and_abuse_closes(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """Bad JSON, unknown types and bad fields get named errors; repeated abuse closes with 4029.

    Meanwhile another client keeps receiving its farm's data.
    """
    bridge, admin_api = shared_bridge, shared_admin
    farm = make_farm(admin_api, unique("f1"))
    good = await Probe.open(bridge.url)
    await good.auth(admin_api.token)
    await good.send({"type": "subscribe", "farm": farm.id})
    await good.expect("subscribed")
    bad = await Probe.open(bridge.url)
    await bad.auth(admin_api.token)
    await bad.send("{not json")
    assert (await bad.recv())["code"] == "invalid_json"
    await bad.send({"type": "teleport", "id": 7})
    err = await bad.recv()
    assert (err["code"], err["id"]) == ("unknown_type", 7)
    assert "teleport" in err["message"]
    await bad.send({"type": "subscribe", "farm": "one"})
    err = await bad.recv()
    assert err["code"] == "invalid_message"
    assert "farm" in err["message"]
    for _ in range(20):
        await bad.send("{not json")
    assert await bad.close_code() == 4029
    seqs = send_readings(bridge.url, farm, [1.0, 2.0])
    assert [r[0] for r in await good.readings(2)] == seqs
    await good.close()


async def test_ws_out_of_range_and_loose_ids_are_answered_not_dropped(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """A global admin's subscribe to farm 2**63, `true` or `"2"` gets `invalid_message`
    naming `farm`, and the socket stays open (issue 11: it used to drop with 1006)."""
    probe = await Probe.open(shared_bridge.url)
    await probe.auth(shared_admin.token)
    for ref, farm in enumerate(["9223372036854775808", "true", '"2"', "0"]):
        await probe.send('{"type": "subscribe", "id": %d, "farm": %s}' % (ref, farm))  # noqa: UP031
        err = await probe.recv()
        assert (err["type"], err["code"], err["id"]) == ("error", "invalid_message", ref)
        assert err["message"].startswith("farm: ")
    await probe.send({"type": "ping", "id": "alive"})
    assert (await probe.expect("pong"))["id"] == "alive"
    await probe.close()


async def test_ws_auth_takes_the_protocol_field_and_refuses_a_missing_token(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """`auth` with `protocol` and an unknown optional field authenticates; one without a
    token gets `unauthenticated` and close 4001, as documented."""
    probe = await Probe.open(shared_bridge.url)
    await probe.expect("welcome")
    await probe.send(
        {"type": "auth", "token": shared_admin.token, "protocol": 1, "agent": "x", "id": 1}
    )
    assert (await probe.expect("authenticated"))["id"] == 1
    await probe.close()
    probe = await Probe.open(shared_bridge.url)
    await probe.expect("welcome")
    await probe.send({"type": "auth", "id": 2})
    err = await probe.recv()
    assert (err["type"], err["code"], err["id"]) == ("error", "unauthenticated", 2)
    assert await probe.close_code() == 4001


async def test_ws_flood_gets_eleven_rate_limited_then_4029(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """Each message past the rate limit is a violation: 11 `rate_limited`, then close 4029."""
    probe = await Probe.open(shared_bridge.url)
    await probe.auth(shared_admin.token)
    for i in range(300):
        await probe.send({"type": "ping", "id": i})
    codes: list[str] = []
    code: int | None = None
    try:
        while True:
            msg = await probe.recv(timeout=10)
            if msg["type"] == "error":
                codes.append(msg["code"])
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else None
    await probe.close()
    assert codes == ["rate_limited"] * 11
    assert code == 4029


async def test_ws_oversized_frame_closes_with_1009(custom_bridge: Any) -> None:
    """A frame over the size limit closes the connection (1009, message too big)."""
    b = custom_bridge(ws_max_frame_bytes="1024")
    probe = await Probe.open(b.url)
    await probe.expect("welcome")
    await probe.send({"type": "auth", "token": "x" * 4000})
    # 1009, unless the server's close raced the unread rest of the frame into a TCP reset.
    assert await probe.close_code() in (1009, None)
    api = Api(b.url, *ADMIN)
    assert api.ok("GET", "/api/v1/connections") == []
    api.close()


async def test_ws_dead_peer_is_closed_and_forgotten(custom_bridge: Any) -> None:
    """A client that stops answering heartbeats is closed (4010) and leaves the registry."""
    b = custom_bridge(ws_heartbeat_s="0.3")
    api = Api(b.url, *ADMIN)
    silent = await Probe.open(b.url)
    await silent.expect("welcome")
    await silent.send({"type": "auth", "token": api.token})
    # From now on the probe reads nothing, so it answers no ping.
    assert len(api.ok("GET", "/api/v1/connections")) == 1
    deadline = time.monotonic() + 10
    while api.ok("GET", "/api/v1/connections"):
        assert time.monotonic() < deadline, "silent client was not closed"
        await asyncio.sleep(0.1)
    metrics = httpx.get(f"{b.url}/metrics").text
    assert "farmbridge_ws_heartbeat_timeouts_total 1.0" in metrics
    api.close()
    await silent.close()


async def test_ws_connections_endpoint_lists_live_clients_for_admins(
    bridge: Bridge, admin_api: Api
) -> None:
    """Admins see each connection's user, farms and counters; others get 403."""
    farm = make_farm(admin_api, "f1")
    probe = await Probe.open(bridge.url)
    await probe.auth(admin_api.token)
    await probe.send({"type": "subscribe", "farm": farm.id, "mode": "latest"})
    await probe.expect("subscribed")
    (conn,) = admin_api.ok("GET", "/api/v1/connections")
    assert conn["user"] == ADMIN[0]
    assert conn["farms"] == [farm.id]
    assert conn["mode"] == {str(farm.id): "latest"}
    assert conn["messages_in"] >= 2
    assert conn["remote"].startswith("127.0.0.1:")
    admin_api.user("viewer", "viewer-password", farm.id)
    with httpx.Client(base_url=bridge.url) as c:
        token = login(bridge.url, "viewer", "viewer-password")
        r = c.get("/api/v1/connections", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403
    await probe.close()


async def test_ws_topics_narrow_the_stream(shared_bridge: Bridge, shared_admin: Api) -> None:
    """A subscriber to events only never gets readings."""
    bridge, admin_api = shared_bridge, shared_admin
    farm = make_farm(admin_api, unique("f1"))
    probe = await Probe.open(bridge.url)
    await probe.auth(admin_api.token)
    await probe.send({"type": "subscribe", "farm": farm.id, "topics": ["events"]})
    await probe.expect("subscribed")
    now = int(time.time() * 1000)
    ingest(bridge.url, farm.key, {"readings": [{"sensor": "temp", "value": 1, "ts": now}]})
    ingest(
        bridge.url,
        farm.key,
        {"events": [{"level": "alarm", "code": "hot", "message": "!", "ts": now}]},
    )
    batch = await probe.expect("batch")
    assert set(batch) == {"type", "farm", "t0", "e", "sent"}
    assert batch["e"][0][2:5] == ["alarm", "hot", "!"]
    await probe.close()


async def test_ws_server_shutdown_closes_with_1012(tmp_path: Path) -> None:
    """A stopping bridge closes live sockets with 1012 so clients reconnect at once."""
    make_admin(tmp_path)
    b = Bridge(tmp_path)
    b.start()
    try:
        api = Api(b.url, *ADMIN)
        probe = await Probe.open(b.url)
        await probe.auth(api.token)
        api.close()
        stopping = asyncio.create_task(asyncio.to_thread(b.stop))
        assert await probe.close_code() == 1012
        await stopping
    finally:
        b.stop()
