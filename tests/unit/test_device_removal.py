"""A deleted device as a change of its farm's stream: stored with the farm's next seq,
heard by the listeners, replayed by changes_since, encoded as "x", applied by FarmState."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from farmbridge.domain import Device, DeviceKind, DeviceRemoved, Sensor
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.errors import NotFound
from farmbridge.domain.liveness import LivenessPolicy
from farmbridge.domain.telemetry import SensorSpec
from farmbridge.hub.state import FarmState
from farmbridge.protocol.const import ALL_TOPICS, Topic
from farmbridge.protocol.server_messages import batch_prefix, sent_tail
from farmbridge.service.bundle import Services
from tests.unit.bridge_services import Heard, admin, device, running_services

T0 = 1_767_225_600_000


@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[Services]:
    async with running_services(tmp_path, FakeClock(wall_ms=T0)) as services:
        yield services


async def test_deleting_a_device_stores_and_streams_its_removal_with_the_next_seq(
    svc: Services,
) -> None:
    """The removal takes the farm's next seq, its listeners hear it, a resume from before
    it gets it, and the device and its sensors are gone."""
    heard = Heard(svc)
    who = await admin(svc)
    dev, _ = await device(svc, "doomed", sensors=(SensorSpec("temp"),))
    head = (await svc.store.get_farm(dev.farm_id)).last_seq
    await svc.farms.delete_device(who, dev.id)
    removal = DeviceRemoved(dev.farm_id, dev.id, head + 1, T0)
    assert (await svc.store.get_farm(dev.farm_id)).last_seq == head + 1
    assert heard.changes == [removal]
    assert await svc.store.changes_since(dev.farm_id, head, 10) == [removal]
    assert await svc.store.list_sensors(device_id=dev.id) == []
    with pytest.raises(NotFound):
        await svc.store.get_device(dev.id)


async def test_deleting_a_device_drops_it_from_the_open_channels_snapshot(
    svc: Services,
) -> None:
    """An open farm channel applies the published removal: its snapshot has neither the
    device nor its sensors, and its seq is the removal's."""
    who = await admin(svc)
    dev, _ = await device(svc, "gone", sensors=(SensorSpec("temp"),))
    channel = await svc.stream.channel(dev.farm_id)
    assert [d["id"] for d in orjson.loads(channel.state.encoded())["devices"]] == [dev.id]
    await svc.farms.delete_device(who, dev.id)
    await svc.store.get_farm(dev.farm_id)  # a round trip: the commit listener has run
    snap = orjson.loads(channel.state.encoded())
    assert snap["devices"] == []
    assert snap["sensors"] == []
    assert snap["seq"] == channel.last_seq == (await svc.store.get_farm(dev.farm_id)).last_seq


def test_removal_is_batched_as_x_under_the_device_status_topic() -> None:
    """A removal is `[seq, device_id, stored_ms - t0]` under "x", for device_status
    subscribers only."""
    removal = DeviceRemoved(3, 12, 41, T0 + 5)
    prefix = batch_prefix(3, [removal], frozenset({Topic.DEVICE_STATUS}))
    assert prefix is not None
    body = orjson.loads(prefix + sent_tail(T0 + 9))
    assert body == {"type": "batch", "farm": 3, "t0": T0 + 5, "x": [[41, 12, 0]], "sent": T0 + 9}
    assert batch_prefix(3, [removal], frozenset({Topic.READINGS, Topic.EVENTS})) is None
    assert "x" in orjson.loads(batch_prefix(3, [removal], ALL_TOPICS) + "}")  # type: ignore[operator]


def test_farm_state_drops_a_removed_device_and_its_sensors_only() -> None:
    """Applying a removal forgets that device and its sensors; the others stay."""
    keep = Device(1, 3, "keep", DeviceKind.SENSOR_NODE, "Keep", 0)
    drop = Device(2, 3, "drop", DeviceKind.SENSOR_NODE, "Drop", 0)
    state = FarmState(5, [keep, drop], [Sensor(10, 1, 3, "t", "C"), Sensor(20, 2, 3, "t", "C")])
    state.apply([DeviceRemoved(3, 2, 6, T0)])
    assert list(state.devices) == [1]
    assert list(state.sensors) == [10]
    assert state.seq == 6


def test_snapshot_devices_carry_their_interval_and_when_silence_is_offline() -> None:
    """interval_s is the set interval, else the learned one, else null; offline_after_s is
    max(multiple x interval, min silence), or null."""
    devices = [
        Device(
            1,
            3,
            "set",
            DeviceKind.SENSOR_NODE,
            "",
            0,
            expected_interval_s=10.0,
            learned_interval_s=99.0,
        ),
        Device(2, 3, "learned", DeviceKind.SENSOR_NODE, "", 0, learned_interval_s=2.0),
        Device(3, 3, "new", DeviceKind.SENSOR_NODE, "", 0),
    ]
    policy = LivenessPolicy(multiple=3.0, min_silence_s=60.0)
    snap = orjson.loads(FarmState(0, devices, [], liveness=policy).encoded())
    got = [(d["interval_s"], d["offline_after_s"]) for d in snap["devices"]]
    assert got == [(10.0, 60.0), (2.0, 60.0), (None, None)]
    policy = LivenessPolicy(multiple=3.0, min_silence_s=1.0)
    snap = orjson.loads(FarmState(0, devices, [], liveness=policy).encoded())
    assert [d["offline_after_s"] for d in snap["devices"]] == [30.0, 6.0, None]
