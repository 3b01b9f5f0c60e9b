"""What bridge instances on one database must share beyond changes, with real processes (a
redis-server of the test's own, bridges on one SQLite file): a device key rotated or a
device removed through one is refused by the others at once, a command created through
one wakes a device waiting on another, and each command is handed out, published over
MQTT and timed out exactly once, however many instances race for it."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import orjson
import pytest

from tests.conftest import ADMIN, Bridge, make_admin, unique
from tests.integration.api_client import Api, ingest
from tests.integration.mqtt_support import Device, eventually
from tests.integration.test_backplane import Pair, _backplane, _wait, pair
from tests.integration.test_instances_timers import _replay
from tests.integration.test_mqtt import _metric
from tests.integration.test_mqtt_shared import GROUP
from tests.integration.ws_probe import Probe
from tests.mosquitto import Mosquitto
from tests.redis_server import RedisServer

__all__ = ["pair"]  # the two-instance fixture of test_backplane, shared with this module

pytestmark = pytest.mark.integration

AT_ONCE_S: Final = 2.0
"""How long "at once" may take: a signal over Redis and a store read, in milliseconds on
an idle machine, bounded generously for a busy one (the wait it replaces is 20 s)."""
POLL_WAIT_S: Final = 20.0
WAIT_S: Final = 30.0


def _reading(key: str, url: str) -> int:
    now = time.time_ns() // 1_000_000
    return ingest(url, key, {"readings": [{"sensor": "temp", "value": 1.0, "ts": now}]}).status_code


def _until_refused(url: str, key: str, since: float) -> float:
    """Posts with `key` until it is refused (401); the seconds from `since` to then."""
    deadline = time.monotonic() + AT_ONCE_S
    while True:
        status = _reading(key, url)
        if status == 401:
            return time.monotonic() - since
        assert status == 200, status
        assert time.monotonic() < deadline, "the old key is still accepted"


def test_a_key_rotated_on_one_instance_is_refused_by_the_other_at_once(pair: Pair) -> None:
    """B has the device's key cached from its own ingest; right after A answers a rotation,
    B refuses the old key and accepts the new one."""
    api = Api(pair.a.url, *ADMIN)
    try:
        farm = api.farm(unique("rekey"))
        created = api.device(farm["id"], "node")
        device_id, old = created["device"]["id"], created["key"]
        assert _reading(old, pair.b.url) == 200  # cached on B now
        assert _reading(old, pair.b.url) == 200
        new = api.ok("POST", f"/api/v1/devices/{device_id}/rotate-key")["key"]
        lag = _until_refused(pair.b.url, old, time.monotonic())
        assert _reading(new, pair.b.url) == 200
        print(f"old key refused on B {lag * 1000:.1f} ms after A's answer")
    finally:
        api.close()


def test_a_device_removed_on_one_instance_is_refused_by_the_other_at_once(pair: Pair) -> None:
    """Deleting a device through A ends its key on B as soon as A has answered."""
    api = Api(pair.a.url, *ADMIN)
    try:
        farm = api.farm(unique("gone"))
        created = api.device(farm["id"], "node")
        assert _reading(created["key"], pair.b.url) == 200
        api.ok("DELETE", f"/api/v1/devices/{created['device']['id']}")
        _until_refused(pair.b.url, created["key"], time.monotonic())
    finally:
        api.close()


def test_a_key_rotated_while_redis_is_down_is_refused_within_the_degraded_bound(
    pair: Pair,
) -> None:
    """No signal can reach B while Redis is down: B trusts its cache for DEGRADED_MAX_AGE_S
    only, so the old key is refused within that bound, and the new one is accepted."""
    from farmbridge.service.directory import DEGRADED_MAX_AGE_S

    api = Api(pair.a.url, *ADMIN)
    try:
        farm = api.farm(unique("rekey-down"))
        created = api.device(farm["id"], "node")
        device_id, old = created["device"]["id"], created["key"]
        pair.redis.stop()
        for bridge in (pair.a, pair.b):
            _wait(lambda br=bridge: _backplane(br) == "degraded", "Redis loss never seen")
        assert _reading(old, pair.b.url) == 200  # cached on B while degraded
        new = api.ok("POST", f"/api/v1/devices/{device_id}/rotate-key")["key"]
        rotated = time.monotonic()
        deadline = rotated + DEGRADED_MAX_AGE_S + AT_ONCE_S
        while _reading(old, pair.b.url) != 401:
            assert time.monotonic() < deadline, "the old key outlived the degraded bound"
        lag = time.monotonic() - rotated
        assert _reading(new, pair.b.url) == 200
        print(f"old key refused on B {lag * 1000:.0f} ms after A's answer, Redis down")
    finally:
        pair.redis.start()
        for bridge in (pair.a, pair.b):
            _wait(lambda br=bridge: _backplane(br) == "ok", "backplane never came back")
        api.close()


async def test_a_member_removed_on_one_instance_loses_the_farm_on_the_other(pair: Pair) -> None:
    """A viewer streaming a farm from B stops getting it as soon as A removes the viewer."""
    api = Api(pair.a.url, *ADMIN)
    try:
        farm = api.farm(unique("access"))
        name = unique("viewer")
        api.user(name, "viewer-password-1", farm["id"])
        viewer = Api(pair.b.url, name, "viewer-password-1")
        probe = await Probe.open(pair.b.url)
        await probe.auth(viewer.token)
        await probe.send({"type": "subscribe", "farm": farm["id"]})
        await probe.expect("subscribed", WAIT_S)
        users = api.ok("GET", "/api/v1/users")
        user_id = next(u["id"] for u in users if u["username"] == name)
        api.ok("DELETE", f"/api/v1/farms/{farm['id']}/members/{user_id}")
        removed = time.monotonic()
        while True:
            msg = await probe.recv(AT_ONCE_S)
            if msg["type"] in ("unsubscribed", "error"):
                break
        print(f"B dropped the viewer's subscription {(time.monotonic() - removed) * 1000:.1f} ms")
        await probe.close()
        viewer.close()
    finally:
        api.close()


async def test_a_farm_deleted_on_one_instance_ends_its_subscriptions_on_the_other(
    pair: Pair,
) -> None:
    """The admin's socket on B subscribed to a farm gets `unsubscribed` (`farm_deleted`) as
    soon as A deletes the farm, B refuses its device key, and a new subscribe on B is
    not_found (B forgot the farm's channel)."""
    api = Api(pair.a.url, *ADMIN)
    try:
        farm = api.farm(unique("gone"))
        dev = api.device(farm["id"], "node")
        assert _reading(dev["key"], pair.b.url) == 200
        probe = await Probe.open(pair.b.url)
        try:
            await probe.auth(api.token)
            await probe.send({"type": "subscribe", "farm": farm["id"], "id": 1})
            await probe.expect("subscribed", WAIT_S)
            assert api.http.delete(f"/api/v1/farms/{farm['id']}").status_code == 204
            deleted = time.monotonic()
            ended = await probe.expect("unsubscribed", AT_ONCE_S)
            assert (ended["farm"], ended["reason"]) == (farm["id"], "farm_deleted")
            print(f"B ended the subscription {(time.monotonic() - deleted) * 1000:.1f} ms after")
            _until_refused(pair.b.url, dev["key"], deleted)
            await probe.send({"type": "subscribe", "farm": farm["id"], "id": 2})
            again = await probe.recv(WAIT_S)
            assert (again["type"], again["code"]) == ("error", "not_found")
        finally:
            await probe.close()
    finally:
        api.close()


async def test_a_display_revoked_on_one_instance_closes_its_socket_on_the_other(
    pair: Pair,
) -> None:
    """A wall screen streaming a farm from B is closed with 4001 as soon as A revokes its
    display credential (the "user" signal over Redis), and B refuses the token from then."""
    api = Api(pair.a.url, *ADMIN)
    try:
        farm = api.farm(unique("wall"))
        made = api.ok("POST", f"/api/v1/farms/{farm['id']}/displays", json={"name": "wall"})
        r = httpx.post(
            f"{pair.b.url}/api/v1/auth/display-token", json={"secret": made["secret"]}, timeout=30
        )
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        probe = await Probe.open(pair.b.url)
        try:
            await probe.auth(token)
            await probe.send({"type": "subscribe", "farm": farm["id"]})
            await probe.expect("subscribed", WAIT_S)
            api.ok("DELETE", f"/api/v1/farms/{farm['id']}/displays/{made['id']}")
            revoked = time.monotonic()
            while (msg := await probe.recv(AT_ONCE_S))["type"] != "error":
                assert msg["type"] == "unsubscribed", msg
            assert msg["code"] == "unauthenticated"
            assert await probe.close_code(AT_ONCE_S) == 4001
            assert time.monotonic() - revoked < AT_ONCE_S
        finally:
            await probe.close()
        gone = httpx.get(
            f"{pair.b.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert gone.status_code == 401
    finally:
        api.close()


def _poll(url: str, key: str, wait: float) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{url}/api/v1/ingest/commands",
        params={"wait": wait},
        headers={"Authorization": f"Bearer {key}"},
        timeout=wait + 30,
    )
    assert r.status_code == 200, r.text
    got: list[dict[str, Any]] = r.json()["commands"]
    return got


def _metrics(bridge: Bridge) -> str:
    return httpx.get(f"{bridge.url}/metrics", timeout=5).text


def _polls_waiting(bridge: Bridge) -> float:
    return _metric(_metrics(bridge), "farmbridge_command_polls_waiting")


def test_a_command_created_on_one_instance_wakes_a_long_poll_on_the_other(pair: Pair) -> None:
    """A device waits on B; the command created through A reaches it at once, not when its
    20 s wait is over."""
    api = Api(pair.a.url, *ADMIN)
    try:
        farm = api.farm(unique("wake"))
        created = api.device(farm["id"], "pump", kind="actuator")
        device_id, key = created["device"]["id"], created["key"]
        got: list[dict[str, Any]] = []
        done = threading.Event()

        def poll() -> None:
            got.extend(_poll(pair.b.url, key, POLL_WAIT_S))
            done.set()

        waiting = _polls_waiting(pair.b)
        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        _wait(lambda: _polls_waiting(pair.b) > waiting, "the poll never waited on B")
        cmd = api.ok("POST", f"/api/v1/devices/{device_id}/commands", json={"action": "on"})
        created_at = time.monotonic()
        assert done.wait(AT_ONCE_S), "the poll on B was not woken"
        lag = time.monotonic() - created_at
        thread.join(5)
        assert [c["id"] for c in got] == [cmd["id"]]
        assert api.ok("GET", f"/api/v1/commands/{cmd['id']}")["state"] == "sent"
        print(f"poll on B answered {lag * 1000:.1f} ms after A created the command")
    finally:
        api.close()


def test_a_command_created_while_redis_is_down_reaches_a_poll_on_the_other_within_a_second(
    pair: Pair,
) -> None:
    """No instance hears another's commands while Redis is down: a poll waiting on B reads
    the store every DEGRADED_RECHECK_S instead of sleeping out its 20 s."""
    from farmbridge.service.commands import DEGRADED_RECHECK_S

    api = Api(pair.a.url, *ADMIN)
    try:
        farm = api.farm(unique("wake-down"))
        created = api.device(farm["id"], "pump", kind="actuator")
        device_id, key = created["device"]["id"], created["key"]
        pair.redis.stop()
        for bridge in (pair.a, pair.b):
            _wait(lambda br=bridge: _backplane(br) == "degraded", "Redis loss never seen")
        got: list[dict[str, Any]] = []
        done = threading.Event()

        def poll() -> None:
            got.extend(_poll(pair.b.url, key, POLL_WAIT_S))
            done.set()

        waiting = _polls_waiting(pair.b)
        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        _wait(lambda: _polls_waiting(pair.b) > waiting, "the poll never waited on B")
        cmd = api.ok("POST", f"/api/v1/devices/{device_id}/commands", json={"action": "on"})
        created_at = time.monotonic()
        assert done.wait(DEGRADED_RECHECK_S + AT_ONCE_S), "the poll on B did not recheck"
        lag = time.monotonic() - created_at
        thread.join(5)
        assert [c["id"] for c in got] == [cmd["id"]]
        print(f"poll on B answered {lag * 1000:.0f} ms after A created the command, Redis down")
    finally:
        pair.redis.start()
        for bridge in (pair.a, pair.b):
            _wait(lambda br=bridge: _backplane(br) == "ok", "backplane never came back")
        api.close()


def test_each_command_goes_to_one_of_two_polls_racing_on_two_instances(pair: Pair) -> None:
    """A device polls A and B at once, again and again, while commands are created through
    both: every command is handed out once, to one of the polls."""
    count = 30
    api = Api(pair.a.url, *ADMIN)
    api_b = Api(pair.b.url, *ADMIN)
    try:
        farm = api.farm(unique("race"))
        created = api.device(farm["id"], "pump", kind="actuator")
        device_id, key = created["device"]["id"], created["key"]
        taken: dict[str, list[int]] = {"a": [], "b": []}
        stop = threading.Event()
        errors: list[BaseException] = []

        def poller(name: str, url: str) -> None:
            try:
                while not stop.is_set():
                    taken[name].extend(c["id"] for c in _poll(url, key, 1.0))
            except BaseException as exc:  # reported by the test
                errors.append(exc)

        threads = [
            threading.Thread(target=poller, args=("a", pair.a.url), daemon=True),
            threading.Thread(target=poller, args=("b", pair.b.url), daemon=True),
        ]
        for t in threads:
            t.start()
        ids = []
        for i in range(count):
            via = api if i % 2 else api_b
            body = {"action": "on", "params": {"i": i}}
            ids.append(via.ok("POST", f"/api/v1/devices/{device_id}/commands", json=body)["id"])
        deadline = time.monotonic() + WAIT_S
        while len(taken["a"]) + len(taken["b"]) < count and not errors:
            assert time.monotonic() < deadline, f"not all handed out: {taken}"
            time.sleep(0.02)
        stop.set()
        for t in threads:
            t.join(10)
        assert not errors, errors
        every = taken["a"] + taken["b"]
        assert sorted(every) == sorted(ids), taken  # each once: none twice, none lost
        print(f"handed out by A: {len(taken['a'])}, by B: {len(taken['b'])}")
    finally:
        api.close()
        api_b.close()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


def _instances(data: Path, envs: list[dict[str, str]]) -> list[Bridge]:
    make_admin(data)
    bridges = [Bridge(data, env=env) for env in envs]
    for b in bridges:
        b.start()
    for b in bridges:
        _wait(lambda br=b: _backplane(br) == "ok", "backplane never connected")
    return bridges


async def test_three_instances_time_each_command_out_once(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Three instances sweep for expired commands every second: each command times out
    once, with one seq, whichever instance got there first."""
    count = 40
    env = {"FARMBRIDGE_BACKPLANE_URL": redis_server.url}
    bridges = _instances(tmp_path / "data", [env, env, env])
    try:
        api = Api(bridges[0].url, *ADMIN)
        farm = api.farm(unique("expiry"))
        created = api.device(farm["id"], "pump", kind="actuator")
        device_id = created["device"]["id"]
        ids = [
            api.ok(
                "POST", f"/api/v1/devices/{device_id}/commands", json={"action": "on", "ttl_s": 1}
            )["id"]
            for _ in range(count)
        ]

        def all_timed_out() -> bool:
            listed = api.ok("GET", f"/api/v1/devices/{device_id}/commands", params={"limit": 100})
            return all(c["state"] == "timed_out" for c in listed) and len(listed) == count

        _wait(all_timed_out, "commands never timed out", WAIT_S)
        batches = await _replay(bridges[1].url, api.token, farm["id"])
        api.close()
    finally:
        for b in bridges:
            b.stop()
    rows = [row for b in batches for row in b.get("c", [])]
    per_command: dict[int, int] = {}
    for row in rows:  # seq, command id, device id, state, ...
        if row[3] == "timed_out":
            per_command[row[1]] = per_command.get(row[1], 0) + 1
    assert per_command == dict.fromkeys(ids, 1), per_command
    seqs = [row[0] for row in rows]
    assert len(seqs) == len(set(seqs))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    b = Mosquitto(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


def test_a_command_is_published_over_mqtt_once_by_two_instances_that_both_know_the_device(
    tmp_path: Path, redis_server: RedisServer, broker: Mosquitto
) -> None:
    """Both instances have heard from the device (one MQTT shared subscription group), and
    both hear of every command; each command reaches the device once."""
    count = 20
    envs = [
        {
            "FARMBRIDGE_BACKPLANE_URL": redis_server.url,
            "FARMBRIDGE_MQTT_URL": broker.url,
            "FARMBRIDGE_MQTT_CLIENT_ID": f"bridge-{name}",
            "FARMBRIDGE_MQTT_SHARE_GROUP": GROUP,
        }
        for name in ("a", "b")
    ]
    a, b = _instances(tmp_path / "data", envs)
    api = Api(a.url, *ADMIN)
    api_b = Api(b.url, *ADMIN)
    dev = Device(broker.port, unique("node"))
    try:
        farm = api.farm(unique("mqtt-once"))
        device_id = api.device(farm["id"], "node-1", kind="actuator")["device"]["id"]
        topic = f"farmbridge/{farm['name']}/node-1"
        dev.subscribe(f"{topic}/commands")
        handled = 'farmbridge_mqtt_messages_total{binding="native:farmbridge/",result="ok"}'
        values = itertools.count()

        def both_heard() -> bool:
            dev.publish(f"{topic}/telemetry", {"temp": float(next(values))})
            return all(_metric(_metrics(br), handled) > 0 for br in (a, b))

        _wait(both_heard, "the broker never gave both instances a message of the device")
        ids = []
        for i in range(count):
            via = api if i % 2 else api_b
            body = {"action": "on", "params": {"i": i}}
            ids.append(via.ok("POST", f"/api/v1/devices/{device_id}/commands", json=body)["id"])

        def published() -> float:
            name = "farmbridge_mqtt_commands_published_total"
            return sum(_metric(_metrics(br), name) for br in (a, b))

        def received() -> list[bytes] | None:
            got = dev.messages(f"{topic}/commands")
            return got if len(got) >= count else None

        eventually(lambda: published() >= count or None, WAIT_S, "every command published")
        got = eventually(received, WAIT_S, "every command received")
        assert published() == count
        assert sorted(orjson.loads(p)["id"] for p in got) == sorted(ids)
    finally:
        dev.close()
        api.close()
        api_b.close()
        a.stop()
        b.stop()
