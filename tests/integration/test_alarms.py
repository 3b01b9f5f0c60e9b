"""Alarms against a real bridge: raised over HTTP ingest and streamed in seq order, device-sent
alarms, resume after a disconnect, the snapshot, acknowledgement live to another user, rule
validation and audit, and the timer raising a duration rule."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.conftest import Bridge, unique
from tests.integration.api_client import Api, ingest
from tests.integration.ws_probe import Probe

PASSWORD = "alarm-pass-123"


def _setup(api: Api) -> tuple[int, dict[str, Any], int]:
    farm = api.farm(unique("alarm"))
    dev = api.device(farm["id"], "probe")
    sensors = api.ok("GET", f"/api/v1/farms/{farm['id']}/sensors")
    return farm["id"], dev, sensors[0]["id"]


def _rule(api: Api, farm: int, **body: Any) -> dict[str, Any]:
    base = {"name": "Too hot", "kind": "above", "severity": "critical", "sensor_name": "temp",
            "threshold": 30, "clear_threshold": 28}  # fmt: skip
    result: dict[str, Any] = api.ok(
        "POST", f"/api/v1/farms/{farm}/alarm-rules", json={**base, **body}
    )
    return result


def _post(bridge: Bridge, key: str, **body: Any) -> None:
    r = ingest(bridge.url, key, body)
    assert r.status_code == 200, r.text


def _now() -> int:
    return int(time.time() * 1000)


async def _subscribed(bridge: Bridge, token: str, farm: int, **extra: Any) -> tuple[Probe, dict]:
    probe = await Probe.open(bridge.url)
    await probe.auth(token)
    await probe.send({"type": "subscribe", "farm": farm, "id": 1, **extra})
    return probe, await probe.expect("subscribed")


async def _alarms(probe: Probe, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        msg = await probe.expect("batch", max(0.01, deadline - time.monotonic()))
        got.extend(msg.get("a", []))
    return got


async def test_rule_raises_on_ingest_and_streams_after_its_reading(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """A reading over the threshold raises an alarm whose seq follows the reading's, streamed
    to a subscriber in order; a reading past the clear threshold clears it."""
    farm, dev, sensor = _setup(shared_admin)
    rule = _rule(shared_admin, farm)
    assert (rule["code"], rule["for_s"]) == ("too_hot", 0)
    probe, _ = await _subscribed(shared_bridge, shared_admin.token, farm)
    _post(shared_bridge, dev["key"], readings=[{"sensor": "temp", "value": 31.5, "ts": _now()}])
    msg = await probe.expect("batch")
    while "a" not in msg:
        msg = await probe.expect("batch")
    (alarm,) = msg["a"]
    reading_seqs = [r[0] for r in msg.get("r", [])]
    assert all(s < alarm["seq"] for s in reading_seqs)
    assert (alarm["rule"], alarm["sensor"], alarm["kind"], alarm["state"], alarm["value"]) == (
        rule["id"], sensor, "above", "active", 31.5,
    )  # fmt: skip
    _post(shared_bridge, dev["key"], readings=[{"sensor": "temp", "value": 29, "ts": _now() + 1}])
    _post(shared_bridge, dev["key"], readings=[{"sensor": "temp", "value": 20, "ts": _now() + 2}])
    (cleared,) = await _alarms(probe, 1)
    assert (cleared["id"], cleared["state"]) == (alarm["id"], "cleared")
    assert cleared["seq"] > alarm["seq"]
    await probe.close()
    listed = shared_admin.ok("GET", f"/api/v1/farms/{farm}/alarms")["alarms"]
    assert [(a["id"], a["state"]) for a in listed] == [(alarm["id"], "cleared")]


async def test_device_alarm_event_raises_and_cleared_code_clears(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    farm, dev, _ = _setup(shared_admin)
    probe, _ = await _subscribed(shared_bridge, shared_admin.token, farm)
    ev = {"level": "alarm", "code": "frost_risk", "message": "cold", "ts": _now()}
    _post(shared_bridge, dev["key"], events=[ev])
    (raised,) = await _alarms(probe, 1)
    assert (raised["kind"], raised["code"], raised["rule"], raised["state"]) == (
        "device", "frost_risk", None, "active",
    )  # fmt: skip
    _post(shared_bridge, dev["key"], events=[{**ev, "level": "info", "code": "frost_risk_cleared"}])
    (cleared,) = await _alarms(probe, 1)
    assert (cleared["id"], cleared["state"]) == (raised["id"], "cleared")
    await probe.close()


async def test_alarm_raised_while_disconnected_arrives_on_resume(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """A client that left at seq N and resumes `since` N gets the alarm raised meanwhile."""
    farm, dev, _ = _setup(shared_admin)
    _rule(shared_admin, farm)
    probe, first = await _subscribed(shared_bridge, shared_admin.token, farm)
    await probe.close()
    _post(shared_bridge, dev["key"], readings=[{"sensor": "temp", "value": 40, "ts": _now()}])
    probe, resumed = await _subscribed(
        shared_bridge, shared_admin.token, farm, since=first["seq"], epoch=first["epoch"]
    )
    assert resumed["resume"]["from"] == first["seq"] + 1
    (alarm,) = await _alarms(probe, 1)
    assert (alarm["state"], alarm["value"]) == ("active", 40)
    await probe.close()


async def test_fresh_snapshot_carries_the_open_alarm_and_v1_gets_none(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    farm, dev, _ = _setup(shared_admin)
    _post(
        shared_bridge, dev["key"],
        events=[{"level": "alarm", "code": "door_open", "message": "door", "ts": _now()}],
    )  # fmt: skip
    probe, sub = await _subscribed(shared_bridge, shared_admin.token, farm)
    assert [a["code"] for a in sub["snapshot"]["alarms"]] == ["door_open"]
    assert "alarms" in sub["topics"]
    await probe.close()
    v1 = await Probe.open(shared_bridge.url)
    await v1.expect("welcome")
    await v1.send({"type": "auth", "token": shared_admin.token, "protocol": 1})
    await v1.expect("authenticated")
    await v1.send({"type": "subscribe", "farm": farm, "topics": ["alarms", "events"]})
    old = await v1.expect("subscribed")
    assert old["topics"] == ["events"]
    assert "alarms" not in old["snapshot"]
    await v1.close()


async def test_ack_by_one_operator_reaches_another_users_socket(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """Operator ann acknowledges with a comment; viewer bob's socket gets the change live;
    a viewer may not acknowledge; a second ack of the closed alarm is 409."""
    farm, dev, _ = _setup(shared_admin)
    ann, bob = unique("ann"), unique("bob")
    shared_admin.user(ann, PASSWORD, farm, "operator")
    shared_admin.user(bob, PASSWORD, farm, "viewer")
    ann_api, bob_api = Api(shared_bridge.url, ann, PASSWORD), Api(shared_bridge.url, bob, PASSWORD)
    _post(
        shared_bridge, dev["key"],
        events=[{"level": "alarm", "code": "hot", "message": "hot", "ts": _now()}],
    )  # fmt: skip
    (alarm,) = bob_api.ok("GET", f"/api/v1/farms/{farm}/alarms")["alarms"]
    probe, _ = await _subscribed(shared_bridge, bob_api.token, farm)
    path = f"/api/v1/farms/{farm}/alarms/{alarm['id']}/ack"
    assert bob_api.http.post(path, json={}).status_code == 403
    acked = ann_api.ok("POST", path, json={"comment": "on it"})
    assert acked["state"] == "acknowledged"
    (live,) = await _alarms(probe, 1)
    assert live["ack"]["user"] == ann
    assert live["ack"]["comment"] == "on it"
    assert live["seq"] == acked["seq"]
    _post(
        shared_bridge, dev["key"],
        events=[{"level": "info", "code": "hot_cleared", "message": "ok", "ts": _now() + 1}],
    )  # fmt: skip
    (closed,) = await _alarms(probe, 1)
    assert closed["state"] == "closed"
    assert ann_api.http.post(path, json={}).status_code == 409
    await probe.close()
    ann_api.close()
    bob_api.close()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "above", "sensor_name": "temp"}, "threshold"),
        ({"kind": "above", "sensor_name": "temp", "threshold": 5, "clear_threshold": 9}, "clear_"),
        ({"kind": "below", "sensor_name": "temp", "threshold": 5, "clear_threshold": 1}, "clear_"),
        ({"kind": "no_data", "for_s": 0}, "for_s"),
        ({"kind": "offline", "for_s": -1}, "for_s"),
        ({"kind": "above", "sensor_id": 2**40, "threshold": 1}, "sensor_id"),
        ({"kind": "no_data", "for_s": 60, "device_id": 2**40}, "device_id"),
        ({"kind": "weird"}, "kind"),
    ],
)  # fmt: skip
def test_rule_validation_names_the_field(
    shared_admin: Api, body: dict[str, Any], field: str
) -> None:
    farm = shared_admin.farm(unique("rules"))
    r = shared_admin.http.post(
        f"/api/v1/farms/{farm['id']}/alarm-rules",
        json={"name": "r", "severity": "warning", **body},
    )
    assert r.status_code == 422, r.text
    assert field in r.text


def test_rule_of_another_farms_sensor_is_refused_and_changes_are_audited(
    shared_admin: Api,
) -> None:
    farm, _, _ = _setup(shared_admin)
    _, _, other_sensor = _setup(shared_admin)
    r = shared_admin.http.post(
        f"/api/v1/farms/{farm}/alarm-rules",
        json={"name": "x", "kind": "above", "severity": "warning", "sensor_id": other_sensor,
              "threshold": 1},
    )  # fmt: skip
    assert r.status_code == 422
    assert "sensor_id" in r.text
    rule = _rule(shared_admin, farm)
    path = f"/api/v1/farms/{farm}/alarm-rules/{rule['id']}"
    put = shared_admin.ok("PUT", path, json={**{k: rule[k] for k in ("name", "kind", "severity",
        "sensor_name", "clear_threshold")}, "threshold": 35})  # fmt: skip
    assert put["threshold"] == 35
    shared_admin.ok("DELETE", path)
    assert shared_admin.http.get(path).status_code == 404
    entries = shared_admin.ok("GET", f"/api/v1/farms/{farm}/alarm-rules/audit")["entries"]
    assert [e["action"] for e in entries] == ["deleted", "updated", "created"]
    assert entries[1]["before"]["threshold"] == 30
    assert entries[1]["after"]["threshold"] == 35
    assert {e["user"] for e in entries} == {"admin"}


@pytest.mark.bridge_env(FARMBRIDGE_ALARM_TICK_S="0.05")
async def test_timer_raises_a_rule_with_a_duration(bridge: Bridge, admin_api: Api) -> None:
    """above 30 for 0.3 s: one reading, no more; the timer raises it, once."""
    farm, dev, _ = _setup(admin_api)
    _rule(admin_api, farm, for_s=0.3)
    probe, _ = await _subscribed(bridge, admin_api.token, farm)
    _post(bridge, dev["key"], readings=[{"sensor": "temp", "value": 33, "ts": _now()}])
    (alarm,) = await _alarms(probe, 1)
    assert (alarm["state"], alarm["value"]) == ("active", 33)
    with pytest.raises(TimeoutError):
        await _alarms(probe, 1, timeout=0.5)  # no second raise on later ticks
    await probe.close()
    assert len(admin_api.ok("GET", f"/api/v1/farms/{farm}/alarms")["alarms"]) == 1


def test_alarm_routes_need_a_role_on_the_farm(shared_bridge: Bridge, shared_admin: Api) -> None:
    """A user with no role on the farm gets 404, as for a farm that does not exist (other
    farms' ids cannot be told from free ones); no token is 401."""
    farm, _, _ = _setup(shared_admin)
    stranger = unique("stranger")
    shared_admin.user(stranger, PASSWORD)
    api = Api(shared_bridge.url, stranger, PASSWORD)
    assert api.http.get(f"/api/v1/farms/{farm}/alarms").status_code == 404
    assert api.http.get(f"/api/v1/farms/{farm}/alarm-rules").status_code == 404
    api.close()
    assert httpx.get(f"{shared_bridge.url}/api/v1/farms/{farm}/alarms").status_code == 401
