"""The ThingsBoard MQTT convention: the device API behind a key-mounting broker, and gateways."""

from __future__ import annotations

import orjson
import pytest

from farmbridge.domain import DeviceState
from farmbridge.domain.errors import BadPayload
from farmbridge.domain.reports import CommandReply, Data, DeviceRef, Liveness
from farmbridge.ingest.mqtt.conventions.base import Mapped, OutgoingCommand
from farmbridge.ingest.mqtt.conventions.thingsboard import ThingsBoardConvention

NOW = 1_767_225_600_000
KEY = "A1_TEST_TOKEN"
KEYED = DeviceRef(key=KEY)


def _map(topic: str, payload: bytes, tb: ThingsBoardConvention | None = None) -> list[Mapped]:
    return (tb or ThingsBoardConvention()).map(topic, payload, NOW)


def _readings(item: Mapped) -> list[tuple[str, float, int]]:
    assert isinstance(item, Data)
    return [(r.sensor, r.value, r.ts_ms) for r in item.report.readings]


def test_thingsboard_filters_cover_device_and_gateway_apis() -> None:
    """Device topics sit under the key level; gateway topics are fixed."""
    assert ThingsBoardConvention().filters() == [
        "+/v1/devices/me/telemetry",
        "+/v1/devices/me/attributes",
        "+/v1/devices/me/rpc/response/+",
        "v1/gateway/telemetry",
        "v1/gateway/attributes",
        "v1/gateway/connect",
        "v1/gateway/disconnect",
        "v1/gateway/rpc",
    ]


def test_thingsboard_flat_telemetry_is_keyed_by_the_topic_credential() -> None:
    """`{"k": v}` on the device form is readings at receive time for DeviceRef(key=...)."""
    [item] = _map(f"{KEY}/v1/devices/me/telemetry", b'{"temperature": 21.5, "humidity": 60}')
    assert isinstance(item, Data)
    assert item.device == KEYED
    assert _readings(item) == [("temperature", 21.5, NOW), ("humidity", 60.0, NOW)]


def test_thingsboard_timestamped_array_is_many_readings() -> None:
    """Buffered data (an array of `{ts, values}` and flat objects) keeps each timestamp."""
    [item] = _map(
        f"{KEY}/v1/devices/me/telemetry",
        b'[{"ts": 1000, "values": {"t": 1}}, {"ts": 2000, "values": {"t": 2}}, {"h": 3}]',
    )
    assert _readings(item) == [("t", 1.0, 1000), ("t", 2.0, 2000), ("h", 3.0, NOW)]


def test_thingsboard_telemetry_converts_booleans_and_numeric_text_and_skips_other_text() -> None:
    """Booleans are 1/0, numeric strings numbers; other text and structures are skipped."""
    [item] = _map(
        f"{KEY}/v1/devices/me/telemetry",
        b'{"on": true, "level": "12.5", "firmware": "v1.2", "gps": {"lat": 1}, "x": null}',
    )
    assert _readings(item) == [("on", 1.0, NOW), ("level", 12.5, NOW)]


def test_thingsboard_attributes_become_the_actuator_dict() -> None:
    """Client attributes are the device's actuator state, and it is online."""
    [item] = _map(
        f"{KEY}/v1/devices/me/attributes", b'{"valve": "open", "setpoint": 21, "cfg": {"a": 1}}'
    )
    assert isinstance(item, Data)
    status = item.report.status
    assert status is not None
    assert (status.state, status.actuator, status.ts_ms) == (
        DeviceState.ONLINE,
        {"valve": "open", "setpoint": 21},
        NOW,
    )


def test_thingsboard_rpc_response_names_the_request() -> None:
    """A reply on rpc/response/{id} is that command's outcome; an error body fails it."""
    [ok] = _map(f"{KEY}/v1/devices/me/rpc/response/17", b'{"result": "done"}')
    assert ok == CommandReply(KEYED, 17, state={"result": "done"})
    [failed] = _map(f"{KEY}/v1/devices/me/rpc/response/18", b'{"error": "no such pin"}')
    assert failed == CommandReply(KEYED, 18, ok=False, detail="no such pin")
    [plain] = _map(f"{KEY}/v1/devices/me/rpc/response/19", b"true")
    assert plain == CommandReply(KEYED, 19)


def test_thingsboard_gateway_telemetry_is_one_data_per_device() -> None:
    """Each named device gets its own Data with all its timestamped readings."""
    items = _map(
        "v1/gateway/telemetry",
        b'{"Device A": [{"ts": 1000, "values": {"t": 20}}, {"ts": 2000, "values": {"t": 21}}],'
        b' "Device B": [{"ts": 1000, "values": {"h": 50}}]}',
    )
    assert [i.device for i in items if isinstance(i, Data)] == [
        DeviceRef(name="Device_A"),
        DeviceRef(name="Device_B"),
    ]
    assert _readings(items[0]) == [("t", 20.0, 1000), ("t", 21.0, 2000)]
    assert _readings(items[1]) == [("h", 50.0, 1000)]


def test_thingsboard_gateway_attributes_are_per_device_status() -> None:
    """Gateway attributes give each named device an online status with its actuator dict."""
    [item] = _map("v1/gateway/attributes", b'{"Pump": {"running": true}}')
    assert isinstance(item, Data)
    assert item.device == DeviceRef(name="Pump")
    assert item.report.status is not None
    assert item.report.status.actuator == {"running": True}


def test_thingsboard_gateway_connect_and_disconnect_are_liveness() -> None:
    """connect brings a device online, disconnect takes it offline."""
    assert _map("v1/gateway/connect", b'{"device": "Device A", "type": "sensor"}') == [
        Liveness(DeviceRef(name="Device_A"), True, NOW)
    ]
    assert _map("v1/gateway/disconnect", b'{"device": "Device A"}') == [
        Liveness(DeviceRef(name="Device_A"), False, NOW)
    ]


def test_thingsboard_gateway_rpc_reply_and_own_echo() -> None:
    """The gateway's reply names the request; our own request echoed back maps to []."""
    tb = ThingsBoardConvention()
    echo = b'{"device": "Pump", "data": {"id": 3, "method": "start", "params": {}}}'
    assert _map("v1/gateway/rpc", echo, tb) == []
    [ok] = _map("v1/gateway/rpc", b'{"device": "Pump", "id": 3, "data": {"success": true}}', tb)
    assert ok == CommandReply(DeviceRef(name="Pump"), 3, state={"success": True})
    [failed] = _map("v1/gateway/rpc", b'{"device": "Pump", "id": 4, "data": {"error": "busy"}}')
    assert isinstance(failed, CommandReply)
    assert (failed.command_id, failed.ok, failed.detail) == (4, False, "busy")


@pytest.mark.parametrize(
    "topic",
    [
        f"{KEY}/v1/devices/me/rpc/request/5",
        f"{KEY}/v1/devices/me/attributes/response/1",
        f"{KEY}/v2/devices/me/telemetry",
        "v1/gateway/claim",
        "v1/devices/me/telemetry",
        "other",
    ],
)
def test_thingsboard_ignores_unrelated_topics(topic: str) -> None:
    """Our own requests and topics outside the subscribed APIs map to []."""
    assert _map(topic, b'{"t": 1}') == []


def test_thingsboard_device_command_is_an_rpc_request_under_the_key() -> None:
    """A keyed device gets `{key}/v1/devices/me/rpc/request/{id}` with method and params."""
    cmd = OutgoingCommand(9, "setValve", {"open": True}, NOW)
    [publish] = ThingsBoardConvention().command(KEYED, cmd)
    assert publish.topic == f"{KEY}/v1/devices/me/rpc/request/9"
    assert orjson.loads(publish.payload) == {"method": "setValve", "params": {"open": True}}


def test_thingsboard_gateway_command_uses_the_name_the_gateway_sent() -> None:
    """A named device is reached through v1/gateway/rpc by its original gateway name."""
    tb = ThingsBoardConvention()
    _map("v1/gateway/connect", b'{"device": "Device A"}', tb)
    [publish] = tb.command(DeviceRef(name="Device_A"), OutgoingCommand(3, "start", {}, NOW))
    assert publish.topic == "v1/gateway/rpc"
    assert orjson.loads(publish.payload) == {
        "device": "Device A",
        "data": {"id": 3, "method": "start", "params": {}},
    }


def test_thingsboard_command_needs_a_key_or_a_name() -> None:
    """A DeviceRef with neither cannot be addressed."""
    with pytest.raises(BadPayload):
        ThingsBoardConvention().command(DeviceRef(), OutgoingCommand(1, "x", {}, NOW))
    with pytest.raises(BadPayload):
        ThingsBoardConvention().command(DeviceRef(key="a/b"), OutgoingCommand(1, "x", {}, NOW))


def test_thingsboard_completes_nothing_by_state() -> None:
    """RPC replies name their request id, so completes() is never needed."""
    cmd = OutgoingCommand(1, "x", {"value": 1}, NOW)
    assert not ThingsBoardConvention().completes(cmd, CommandReply(KEYED, None, state={"x": 1}))


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        (f"{KEY}/v1/devices/me/telemetry", b"{oops"),
        (f"{KEY}/v1/devices/me/telemetry", b"[]"),
        (f"{KEY}/v1/devices/me/telemetry", b"42"),
        (f"{KEY}/v1/devices/me/telemetry", b'{"firmware": "v1"}'),
        (f"{KEY}/v1/devices/me/telemetry", b'{"t": "NaN"}'),
        (f"{KEY}/v1/devices/me/telemetry", b'{"ts": "x", "values": {"t": 1}}'),
        (f"{KEY}/v1/devices/me/telemetry", b'{"ts": 1, "values": [1]}'),
        (f"{KEY}/v1/devices/me/telemetry", b'{"ts": 1, "values": {"t": 1}, "x": 2}'),
        (f"{KEY}/v1/devices/me/telemetry", b"[1, 2]"),
        ("/v1/devices/me/telemetry", b'{"t": 1}'),
        (f"{KEY}/v1/devices/me/attributes", b'{"cfg": {"a": 1}}'),
        (f"{KEY}/v1/devices/me/attributes", b"[]"),
        (f"{KEY}/v1/devices/me/rpc/response/abc", b"{}"),
        (f"{KEY}/v1/devices/me/rpc/response/\u00b2", b"{}"),
        (f"{KEY}/v1/devices/me/rpc/response/5", b"done"),
        ("v1/gateway/telemetry", b"{}"),
        ("v1/gateway/telemetry", b'{"A": {"t": 1}}'),
        ("v1/gateway/telemetry", b'{"A": [{"ts": 1, "values": {"s": "x"}}]}'),
        ("v1/gateway/telemetry", b'{"": [{"t": 1}]}'),
        ("v1/gateway/attributes", b'{"A": 5}'),
        ("v1/gateway/connect", b'{"device": 5}'),
        ("v1/gateway/connect", b"{}"),
        ("v1/gateway/disconnect", b'"A"'),
        ("v1/gateway/rpc", b'{"device": "A", "data": {}}'),
        ("v1/gateway/rpc", b'{"device": "A", "id": "3", "data": {}}'),
        ("v1/gateway/rpc", b'{"id": 3, "data": {}}'),
        ("v1/gateway/rpc", b"\xff"),
    ],
)
def test_thingsboard_malformed_payloads_raise_bad_payload(topic: str, payload: bytes) -> None:
    """Every malformed message raises BadPayload, never another exception."""
    with pytest.raises(BadPayload):
        _map(topic, payload)


# Generic commands (the dashboard's on, off, set): `setValue` with the new value, the
# method ThingsBoard's Switch Control widget calls (https://thingsboard.io/iot-hub/widgets/
# switch-control/: "wired to getValue and setValue"), in the RPC request body of the device
# API (https://thingsboard.io/docs/reference/mqtt-api/#server-side-rpc: {"method", "params"}).


@pytest.mark.parametrize(
    ("action", "params", "rpc_params"),
    [
        ("on", {}, True),
        ("off", {}, False),
        ("set", {"power": "on"}, True),
        ("set", {"position": 40}, 40),
        ("set", {"value": 21.5}, 21.5),
    ],
)
def test_thingsboard_generic_command_is_set_value(
    action: str, params: dict[str, object], rpc_params: object
) -> None:
    """on/off are setValue true/false, set setValue with the number, on both APIs."""
    tb = ThingsBoardConvention()
    [keyed] = tb.command(KEYED, OutgoingCommand(9, action, params, NOW))
    assert keyed.topic == f"{KEY}/v1/devices/me/rpc/request/9"
    assert orjson.loads(keyed.payload) == {"method": "setValue", "params": rpc_params}
    [gateway] = tb.command(DeviceRef(name="Device_A"), OutgoingCommand(9, action, params, NOW))
    assert orjson.loads(gateway.payload)["data"] == {
        "id": 9,
        "method": "setValue",
        "params": rpc_params,
    }


@pytest.mark.parametrize(("action", "params"), [("toggle", {}), ("on", {"target": "relay2"})])
def test_thingsboard_generic_command_setvalue_cannot_say_fails_at_once(
    action: str, params: dict[str, object]
) -> None:
    """setValue takes a new value for the device: a toggle or a target fails at once."""
    with pytest.raises(BadPayload, match="thingsboard cannot send"):
        ThingsBoardConvention().command(KEYED, OutgoingCommand(9, action, params, NOW))
