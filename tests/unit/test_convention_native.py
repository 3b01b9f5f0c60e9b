"""The native MQTT convention: farmbridge's own `{farm}/{device}/...` topics."""

from __future__ import annotations

import orjson
import pytest

from farmbridge.domain import DeviceState, EventLevel
from farmbridge.domain.errors import BadPayload
from farmbridge.domain.mqtt import Publish
from farmbridge.domain.reports import CommandReply, Data, DeviceRef
from farmbridge.ingest.mqtt.conventions.base import OutgoingCommand
from farmbridge.ingest.mqtt.conventions.native import NativeConvention

NOW = 1_767_225_600_000
DEVICE = DeviceRef(name="pump-1", farm="north")


def _data(topic: str, payload: bytes) -> Data:
    [item] = NativeConvention().map(topic, payload, NOW)
    assert isinstance(item, Data)
    assert item.device == DEVICE
    return item


def test_native_filters_cover_every_topic_kind() -> None:
    """It subscribes to telemetry, status, events and command acks of every device."""
    assert NativeConvention().filters() == [
        "+/+/telemetry",
        "+/+/status",
        "+/+/events",
        "+/+/commands/ack",
    ]


def test_native_telemetry_envelope_carries_message_id_and_ts() -> None:
    """The envelope's readings share its ts, and its message_id goes to the report."""
    item = _data(
        "north/pump-1/telemetry",
        b'{"message_id": "m-7", "ts": 1000, "readings": {"temperature": 21.5, "flow": "3"}}',
    )
    assert item.report.message_id == "m-7"
    assert [(r.sensor, r.value, r.ts_ms) for r in item.report.readings] == [
        ("temperature", 21.5, 1000),
        ("flow", 3.0, 1000),
    ]


def test_native_telemetry_short_form_reads_every_key_as_a_sensor() -> None:
    """`{"temperature": 21.5}` is one reading at the receive time."""
    item = _data("north/pump-1/telemetry", b'{"temperature": 21.5, "on": true}')
    assert [(r.sensor, r.value, r.ts_ms) for r in item.report.readings] == [
        ("temperature", 21.5, NOW),
        ("on", 1.0, NOW),
    ]
    assert item.report.message_id is None


def test_native_telemetry_cleans_sensor_and_device_names() -> None:
    """Names from the topic and payload pass through clean_name."""
    [item] = NativeConvention().map("north farm/pump 1/telemetry", b'{"soil temp": 1}', NOW)
    assert isinstance(item, Data)
    assert item.device == DeviceRef(name="pump_1", farm="north_farm")
    assert item.report.readings[0].sensor == "soil_temp"


def test_native_status_reads_state_and_actuator() -> None:
    """A status message becomes the device's status with its actuator dict."""
    item = _data(
        "north/pump-1/status", b'{"state": "maintenance", "actuator": {"valve": "open"}, "ts": 5}'
    )
    status = item.report.status
    assert status is not None
    assert (status.state, status.actuator, status.ts_ms) == (
        DeviceState.MAINTENANCE,
        {"valve": "open"},
        5,
    )


def test_native_events_accepts_one_event_or_an_array() -> None:
    """A single event object and an array of them both become events."""
    one = _data("north/pump-1/events", b'{"level": "alarm", "code": "dry", "message": "no water"}')
    assert [(e.level, e.code, e.message, e.ts_ms) for e in one.report.events] == [
        (EventLevel.ALARM, "dry", "no water", NOW)
    ]
    many = _data(
        "north/pump-1/events",
        b'[{"level": "info", "code": "boot", "ts": 1}, {"level": "warning", "code": "hot"}]',
    )
    assert [(e.level, e.code, e.message) for e in many.report.events] == [
        (EventLevel.INFO, "boot", ""),
        (EventLevel.WARNING, "hot", ""),
    ]


def test_native_ack_names_the_command() -> None:
    """An ack becomes a reply carrying the command id, outcome and detail."""
    [reply] = NativeConvention().map(
        "north/pump-1/commands/ack", b'{"id": 42, "ok": false, "detail": "jammed"}', NOW
    )
    assert reply == CommandReply(DEVICE, 42, ok=False, detail="jammed")


@pytest.mark.parametrize(
    "topic",
    ["north/pump-1/commands", "north/pump-1/other", "north/telemetry", "a/b/c/telemetry", ""],
)
def test_native_ignores_unrelated_topics(topic: str) -> None:
    """Topics that are not one of the four kinds, including our own commands, map to []."""
    assert NativeConvention().map(topic, b"{}", NOW) == []


def test_native_command_publishes_json_to_the_device_commands_topic() -> None:
    """A command goes to `{farm}/{device}/commands` as `{id, action, params, expires}`."""
    cmd = OutgoingCommand(7, "irrigate", {"minutes": 5}, NOW + 60_000)
    [publish] = NativeConvention().command(DEVICE, cmd)
    assert publish.topic == "north/pump-1/commands"
    assert orjson.loads(publish.payload) == {
        "id": 7,
        "action": "irrigate",
        "params": {"minutes": 5},
        "expires": NOW + 60_000,
    }
    assert publish == Publish(publish.topic, publish.payload, retain=False)


@pytest.mark.parametrize(
    "device",
    [DeviceRef(name="pump-1"), DeviceRef(farm="north"), DeviceRef(name="a/b", farm="north")],
)
def test_native_command_needs_a_farm_and_a_plain_name(device: DeviceRef) -> None:
    """Without the farm, or with a name that would change the topic, the command fails."""
    with pytest.raises(BadPayload):
        NativeConvention().command(device, OutgoingCommand(1, "x", {}, NOW))


def test_native_command_refuses_params_that_are_not_json() -> None:
    """Params JSON cannot express fail the command instead of raising TypeError."""
    with pytest.raises(BadPayload):
        NativeConvention().command(DEVICE, OutgoingCommand(1, "x", {"v": object()}, NOW))


def test_native_completes_nothing_by_state() -> None:
    """Native acks name their command, so a state report completes none."""
    cmd = OutgoingCommand(1, "power", {"value": "on"}, NOW)
    reply = CommandReply(DEVICE, None, state={"power": "on"})
    assert NativeConvention().completes(cmd, reply) is False


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("north/pump-1/telemetry", b"{not json"),
        ("north/pump-1/telemetry", b"[1, 2]"),
        ("north/pump-1/telemetry", b"{}"),
        ("north/pump-1/telemetry", b'{"t": "warm"}'),
        ("north/pump-1/telemetry", b'{"t": "nan"}'),
        ("north/pump-1/telemetry", b'{"t": "-inf"}'),
        ("north/pump-1/telemetry", b'{"t": [1]}'),
        ("north/pump-1/telemetry", b'{"t": 1, "ts": "yesterday"}'),
        ("north/pump-1/telemetry", b'{"t": 1, "ts": true}'),
        ("north/pump-1/telemetry", b'{"readings": {"t": 1}, "extra": 1}'),
        ("north/pump-1/telemetry", b'{"readings": [1]}'),
        ("north/pump-1/telemetry", b'{"readings": {}}'),
        ("north/pump-1/telemetry", b'{"message_id": 5, "t": 1}'),
        ("north/pump-1/telemetry", b'{"___": 1}'),
        ("north/pump-1/status", b'{"state": "sleepy"}'),
        ("north/pump-1/status", b'{"state": 1}'),
        ("north/pump-1/status", b'{"actuator": {}}'),
        ("north/pump-1/status", b'{"state": "online", "actuator": {"a": {"b": 1}}}'),
        ("north/pump-1/status", b'{"state": "online", "actuator": [1]}'),
        ("north/pump-1/status", b'{"state": "online", "sate": 1}'),
        ("north/pump-1/events", b"[]"),
        ("north/pump-1/events", b'{"level": "critical", "code": "x"}'),
        ("north/pump-1/events", b'{"level": "info"}'),
        ("north/pump-1/events", b'{"level": "info", "code": ""}'),
        ("north/pump-1/events", b'{"level": "info", "code": "x", "message": 1}'),
        ("north/pump-1/events", b'[{"level": "info", "code": "x"}, 3]'),
        ("north/pump-1/commands/ack", b'{"id": "7", "ok": true}'),
        ("north/pump-1/commands/ack", b'{"id": true, "ok": true}'),
        ("north/pump-1/commands/ack", b'{"id": 7, "ok": "yes"}'),
        ("north/pump-1/commands/ack", b'{"id": 7}'),
        ("north/pump-1/commands/ack", b'{"id": 7, "ok": true, "detail": {}}'),
        ("north/pump-1/commands/ack", b"\xff\xfe"),
        ("north/pump-1/commands/ack", b""),
        ("___/pump-1/telemetry", b'{"t": 1}'),
    ],
)
def test_native_malformed_payloads_raise_bad_payload(topic: str, payload: bytes) -> None:
    """Every malformed message raises BadPayload, never another exception."""
    with pytest.raises(BadPayload):
        NativeConvention().map(topic, payload, NOW)
