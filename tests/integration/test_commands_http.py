"""A command's round trip over HTTP: operator creates, device long-polls and acks, expiry."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.conftest import Bridge, unique
from tests.integration.api_client import Api

LONG_POLL_S = 5
EXPIRY_WAIT_S = 30.0
"""Generous: housekeeping marks expired commands each second, later on a busy machine."""


@pytest.fixture(scope="module")
def shared(shared_bridge: Bridge) -> Bridge:
    """The run's shared bridge; the module has a farm of its own, each test its devices."""
    return shared_bridge


@pytest.fixture(scope="module")
def admin(shared_admin: Api) -> Api:
    return shared_admin


@pytest.fixture(scope="module")
def farm_id(admin: Api) -> int:
    return int(admin.farm(unique("greenhouse"))["id"])


@pytest.fixture(scope="module")
def operator(shared: Bridge, admin: Api, farm_id: int) -> Iterator[Api]:
    name = unique("operator")
    admin.user(name, "operator-password", farm_id=farm_id, role="operator")
    api = Api(shared.url, name, "operator-password")
    yield api
    api.close()


class Device:
    """An HTTP device: its id and a client that sends its key."""

    def __init__(self, bridge: Bridge, created: dict[str, Any]) -> None:
        self.id: int = created["device"]["id"]
        self.http = httpx.Client(
            base_url=bridge.url, headers={"Authorization": f"Bearer {created['key']}"}, timeout=30
        )

    def poll(self, wait: float = 0) -> list[dict[str, Any]]:
        r = self.http.get("/api/v1/ingest/commands", params={"wait": wait})
        assert r.status_code == 200, r.text
        cmds: list[dict[str, Any]] = r.json()["commands"]
        return cmds

    def ack(self, command_id: int, **body: Any) -> httpx.Response:
        return self.http.post(f"/api/v1/ingest/commands/{command_id}/ack", json=body)


@pytest.fixture
def devices(shared: Bridge, admin: Api, farm_id: int) -> Iterator[list[Device]]:
    """Two fresh actuator devices on the farm."""
    made = [
        Device(shared, admin.device(farm_id, f"pump-{uuid.uuid4().hex[:8]}", kind="actuator"))
        for _ in range(2)
    ]
    yield made
    for dev in made:
        dev.http.close()


def create(operator: Api, device: Device, action: str = "on", **extra: Any) -> dict[str, Any]:
    cmd: dict[str, Any] = operator.ok(
        "POST", f"/api/v1/devices/{device.id}/commands", json={"action": action, **extra}
    )
    return cmd


def get(api: Api, command_id: int) -> dict[str, Any]:
    cmd: dict[str, Any] = api.ok("GET", f"/api/v1/commands/{command_id}")
    return cmd


def error_code(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.json()["error"]["code"]


def test_long_poll_wakes_for_new_command_and_ack_completes_it(
    operator: Api, devices: list[Device], farm_id: int
) -> None:
    """A waiting long poll gets a new command (now sent); the device's ack makes it acknowledged."""
    pump = devices[0]
    with ThreadPoolExecutor(max_workers=1) as pool:
        poll = pool.submit(pump.poll, LONG_POLL_S)
        time.sleep(0.3)  # let the poll reach the bridge and start waiting
        assert not poll.done()
        cmd = create(operator, pump, "set", params={"power": "on"}, ttl_s=60)
        assert cmd["state"] == "pending"
        assert (cmd["device_id"], cmd["farm_id"]) == (pump.id, farm_id)
        delivered = poll.result(timeout=LONG_POLL_S + 5)
    # A poll that was not woken would have returned [] at its timeout.
    assert delivered == [
        {
            "id": cmd["id"],
            "action": "set",
            "params": {"power": "on"},
            "expires_ms": cmd["expires_ms"],
        }
    ]
    sent = get(operator, cmd["id"])
    assert sent["state"] == "sent"
    assert sent["seq"] > cmd["seq"]
    assert pump.poll() == []  # handed out once only

    r = pump.ack(cmd["id"], state="acknowledged", detail="pump on")
    assert r.status_code == 200, r.text
    assert r.json() == {"id": cmd["id"], "state": "acknowledged"}
    done = get(operator, cmd["id"])
    assert (done["state"], done["detail"]) == ("acknowledged", "pump on")
    assert done["seq"] > sent["seq"]
    listed = operator.ok("GET", f"/api/v1/devices/{pump.id}/commands")
    assert [(c["id"], c["state"]) for c in listed] == [(cmd["id"], "acknowledged")]
    by_farm = operator.ok("GET", f"/api/v1/farms/{farm_id}/commands")
    assert (cmd["id"], "acknowledged") in [(c["id"], c["state"]) for c in by_farm]


def test_ack_defaults_to_acknowledged(operator: Api, devices: list[Device]) -> None:
    """An ack with an empty body acknowledges the command."""
    pump = devices[0]
    cmd = create(operator, pump)
    assert [c["id"] for c in pump.poll()] == [cmd["id"]]
    assert pump.ack(cmd["id"]).json() == {"id": cmd["id"], "state": "acknowledged"}
    assert get(operator, cmd["id"])["state"] == "acknowledged"


def test_failed_ack_marks_command_failed(operator: Api, devices: list[Device]) -> None:
    """A device reporting failure makes the command failed with its detail; it stays final."""
    pump = devices[0]
    cmd = create(operator, pump, "off")
    assert [c["id"] for c in pump.poll()] == [cmd["id"]]
    r = pump.ack(cmd["id"], state="failed", detail="relay stuck")
    assert r.json() == {"id": cmd["id"], "state": "failed"}
    failed = get(operator, cmd["id"])
    assert (failed["state"], failed["detail"]) == ("failed", "relay stuck")
    assert error_code(pump.ack(cmd["id"], state="acknowledged")) == (409, "conflict")
    assert get(operator, cmd["id"])["state"] == "failed"


@pytest.mark.parametrize("state", ["sent", "pending", "cancelled", "timed_out", "done"])
def test_ack_with_a_non_final_state_is_invalid(
    operator: Api, devices: list[Device], state: str
) -> None:
    """An ack may only report acknowledged or failed: anything else is 422 on `state`."""
    pump = devices[0]
    cmd = create(operator, pump)
    pump.poll()
    r = pump.ack(cmd["id"], state=state)
    assert error_code(r) == (422, "invalid")
    assert r.json()["error"]["field"] == "state"
    assert get(operator, cmd["id"])["state"] == "sent"


def test_cancel_after_sent_conflicts(operator: Api, devices: list[Device]) -> None:
    """Once the device has a command, cancelling it is 409 and it stays sent."""
    pump = devices[0]
    cmd = create(operator, pump)
    assert [c["id"] for c in pump.poll()] == [cmd["id"]]
    r = operator.http.post(f"/api/v1/commands/{cmd['id']}/cancel")
    assert error_code(r) == (409, "conflict")
    assert get(operator, cmd["id"])["state"] == "sent"


def test_cancel_while_pending_is_never_delivered(operator: Api, devices: list[Device]) -> None:
    """A command cancelled while pending is cancelled, never handed out, and cannot be acked."""
    pump = devices[0]
    cancelled_cmd = create(operator, pump, "on")
    kept = create(operator, pump, "off")
    cancelled = operator.ok("POST", f"/api/v1/commands/{cancelled_cmd['id']}/cancel")
    assert cancelled["state"] == "cancelled"
    assert cancelled["seq"] > kept["seq"]
    assert [c["id"] for c in pump.poll()] == [kept["id"]]
    assert pump.poll() == []
    assert error_code(pump.ack(cancelled_cmd["id"])) == (409, "conflict")
    assert get(operator, cancelled_cmd["id"])["state"] == "cancelled"
    r = operator.http.post(f"/api/v1/commands/{cancelled_cmd['id']}/cancel")
    assert error_code(r) == (409, "conflict")


def wait_for_state(api: Api, command_id: int, state: str) -> dict[str, Any]:
    """Polls the command until it has `state` or EXPIRY_WAIT_S passed; returns the last view."""
    deadline = time.monotonic() + EXPIRY_WAIT_S
    while True:
        cmd = get(api, command_id)
        if cmd["state"] == state or time.monotonic() > deadline:
            return cmd
        time.sleep(0.1)


def test_unfetched_command_times_out_and_is_never_delivered(
    operator: Api, devices: list[Device]
) -> None:
    """A command with ttl_s=1 nobody fetched becomes timed_out and is not handed out late."""
    pump = devices[0]
    cmd = create(operator, pump, ttl_s=1)
    time.sleep(max(0.0, cmd["expires_ms"] / 1000 - time.time()) + 0.05)
    assert pump.poll() == []  # expired, whether or not housekeeping has marked it yet
    expired = wait_for_state(operator, cmd["id"], "timed_out")
    assert expired["state"] == "timed_out"
    assert pump.poll() == []
    assert error_code(pump.ack(cmd["id"])) == (409, "conflict")


def test_sent_command_not_acked_times_out(operator: Api, devices: list[Device]) -> None:
    """A command the device took but never acked becomes timed_out; a late ack is 409."""
    pump = devices[0]
    cmd = create(operator, pump, ttl_s=2)  # 2 s to fetch it in, however busy the machine
    assert [c["id"] for c in pump.poll()] == [cmd["id"]]
    assert wait_for_state(operator, cmd["id"], "timed_out")["state"] == "timed_out"
    assert error_code(pump.ack(cmd["id"])) == (409, "conflict")


def test_device_cannot_take_or_ack_another_devices_command(
    shared: Bridge, admin: Api, operator: Api, devices: list[Device]
) -> None:
    """A device gets only its own commands; acking another device's command is 403."""
    pump, fan = devices
    cmd = create(operator, pump)
    assert fan.poll() == []
    assert error_code(fan.ack(cmd["id"])) == (403, "forbidden")
    assert error_code(fan.ack(cmd["id"], state="failed")) == (403, "forbidden")
    assert get(operator, cmd["id"])["state"] == "pending"

    elsewhere = admin.device(admin.farm(f"other-{uuid.uuid4().hex[:8]}")["id"], "pump")
    stranger = Device(shared, elsewhere)
    try:
        assert error_code(stranger.ack(cmd["id"])) == (403, "forbidden")
    finally:
        stranger.http.close()
    assert [c["id"] for c in pump.poll()] == [cmd["id"]]


def test_ack_of_unknown_command_is_not_found(devices: list[Device]) -> None:
    """An ack for a command id that does not exist is 404."""
    assert error_code(devices[0].ack(999_999)) == (404, "not_found")


def test_long_poll_without_commands_returns_empty(operator: Api, devices: list[Device]) -> None:
    """A long poll with nothing to hand out answers an empty list once its wait is over."""
    pump, fan = devices
    create(operator, fan)  # another device's command must not wake this poll with it
    assert pump.poll(wait=0.3) == []
