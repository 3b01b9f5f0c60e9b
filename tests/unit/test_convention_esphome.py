"""The ESPHome MQTT convention: entity state topics, node availability and commands."""

from __future__ import annotations

import orjson
import pytest

from farmbridge.domain import DeviceState
from farmbridge.domain.errors import BadPayload
from farmbridge.domain.mqtt import Publish
from farmbridge.domain.reports import CommandReply, Data, DeviceRef, Liveness
from farmbridge.ingest.mqtt.conventions.base import OutgoingCommand
from farmbridge.ingest.mqtt.conventions.esphome import EsphomeConvention

NOW = 1_767_225_600_000
DEVICE = DeviceRef(name="greenhouse-node")


def _map(topic: str, payload: bytes) -> list[object]:
    return list(EsphomeConvention().map(topic, payload, NOW))


def test_esphome_filters_cover_status_and_states() -> None:
    """It subscribes to availability and every entity's state topic."""
    assert EsphomeConvention().filters() == ["+/status", "+/+/+/state"]


@pytest.mark.parametrize(("payload", "online"), [(b"online", True), (b"offline", False)])
def test_esphome_status_is_liveness(payload: bytes, online: bool) -> None:
    """The node's birth and will messages say whether it is connected."""
    assert _map("greenhouse-node/status", payload) == [Liveness(DEVICE, online, NOW)]


def test_esphome_sensor_state_is_a_reading_named_by_object_id() -> None:
    """A sensor's plain-text state is one reading named by the entity's object_id."""
    [item] = _map("greenhouse-node/sensor/soil_moisture/state", b"41.7")
    assert isinstance(item, Data)
    assert item.device == DEVICE
    assert [(r.sensor, r.value, r.ts_ms) for r in item.report.readings] == [
        ("soil_moisture", 41.7, NOW)
    ]


def test_esphome_binary_sensor_state_is_one_or_zero() -> None:
    """ON/OFF of a binary sensor read as 1/0."""
    [item] = _map("greenhouse-node/binary_sensor/door/state", b"OFF")
    assert isinstance(item, Data)
    assert item.report.readings[0].value == 0.0


@pytest.mark.parametrize(
    ("component", "payload"),
    [("switch", b"ON"), ("fan", b"on"), ("light", b'{"state": "ON", "brightness": 255}')],
)
def test_esphome_switching_state_is_actuator_status_and_state_report(
    component: str, payload: bytes
) -> None:
    """switch, fan and light states set the actuator and may complete a command."""
    data, reply = _map(f"greenhouse-node/{component}/pump/state", payload)
    assert isinstance(data, Data)
    status = data.report.status
    assert status is not None
    assert (status.state, status.actuator) == (DeviceState.ONLINE, {"pump": "ON"})
    assert reply == CommandReply(DEVICE, None, state={"pump": "ON"})


@pytest.mark.parametrize(
    "topic",
    [
        "greenhouse-node/text_sensor/version/state",
        "greenhouse-node/cover/vent/state",
        "greenhouse-node/switch/pump/command",
        "greenhouse-node/fan/fan/oscillation/state",
        "greenhouse-node/debug",
        "status",
    ],
)
def test_esphome_ignores_other_components_and_topics(topic: str) -> None:
    """Text sensors, covers, our own commands and other topics map to []."""
    assert _map(topic, b"ON") == []


@pytest.mark.parametrize(
    ("action", "params", "topic", "payload"),
    [
        ("pump", {"value": "ON"}, "greenhouse-node/switch/pump/command", b"ON"),
        ("pump", {"value": False}, "greenhouse-node/switch/pump/command", b"OFF"),
        ("pump", {}, "greenhouse-node/switch/pump/command", b"TOGGLE"),
        ("fan", {"value": "on", "component": "fan"}, "greenhouse-node/fan/fan/command", b"ON"),
        (
            "target",
            {"value": 21.5, "component": "number"},
            "greenhouse-node/number/target/command",
            b"21.5",
        ),
    ],
)
def test_esphome_command_publishes_to_the_entity_command_topic(
    action: str, params: dict[str, object], topic: str, payload: bytes
) -> None:
    """action is the object_id; params.component (default switch) picks the topic."""
    cmd = OutgoingCommand(1, action, params, NOW)
    assert EsphomeConvention().command(DEVICE, cmd) == [Publish(topic, payload)]


def test_esphome_light_command_speaks_json() -> None:
    """ESPHome lights take their JSON schema on the command topic."""
    cmd = OutgoingCommand(1, "grow_lamp", {"value": "ON", "component": "light"}, NOW)
    [publish] = EsphomeConvention().command(DEVICE, cmd)
    assert publish.topic == "greenhouse-node/light/grow_lamp/command"
    assert orjson.loads(publish.payload) == {"state": "ON"}


@pytest.mark.parametrize(
    ("device", "action", "params"),
    [
        (DEVICE, "pump", {"value": "HALF"}),
        (DEVICE, "pump", {"value": [1]}),
        (DEVICE, "pump", {"value": "ON", "component": "Switch!"}),
        (DEVICE, "pump", {"value": "ON", "component": 3}),
        (DEVICE, "target", {"component": "number"}),
        (DEVICE, "a/b", {"value": "ON"}),
        (DeviceRef(), "pump", {"value": "ON"}),
    ],
)
def test_esphome_command_refuses_what_esphome_cannot_express(
    device: DeviceRef, action: str, params: dict[str, object]
) -> None:
    """Odd values, components and unaddressable entities fail the command."""
    with pytest.raises(BadPayload):
        EsphomeConvention().command(device, OutgoingCommand(1, action, params, NOW))


@pytest.mark.parametrize(
    ("params", "state", "done"),
    [
        ({"value": "ON"}, {"pump": "ON"}, True),
        ({"value": True}, {"pump": "ON"}, True),
        ({"value": "on"}, {"pump": "OFF"}, False),
        ({}, {"pump": "OFF"}, True),
        ({"value": "ON"}, {"fan": "ON"}, False),
    ],
)
def test_esphome_completes_when_the_state_shows_the_value(
    params: dict[str, object], state: dict[str, object], done: bool
) -> None:
    """The entity's reported state completes the command; a toggle completes on any."""
    cmd = OutgoingCommand(1, "pump", params, NOW)
    assert EsphomeConvention().completes(cmd, CommandReply(DEVICE, None, state=state)) is done


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("greenhouse-node/status", b"maybe"),
        ("greenhouse-node/status", b"\xff"),
        ("greenhouse-node/sensor/t/state", b"warm"),
        ("greenhouse-node/sensor/t/state", b"nan"),
        ("greenhouse-node/sensor/t/state", b""),
        ("greenhouse-node/binary_sensor/door/state", b"ajar"),
        ("greenhouse-node/switch/pump/state", b"HALF"),
        ("greenhouse-node/light/lamp/state", b"{broken"),
        ("greenhouse-node/light/lamp/state", b'{"state": 1}'),
        ("greenhouse-node/light/lamp/state", b"[1]"),
        ("greenhouse-node/sensor/___/state", b"1"),
    ],
)
def test_esphome_malformed_payloads_raise_bad_payload(topic: str, payload: bytes) -> None:
    """Every malformed message raises BadPayload, never another exception."""
    with pytest.raises(BadPayload):
        _map(topic, payload)
