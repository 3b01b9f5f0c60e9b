"""The Shelly Gen2+ convention: status topics, RPC notifications, online, RPC commands.

Samples: tests/ecosystem_samples.py (the Shelly API docs, cited there).
"""

from __future__ import annotations

import orjson
import pytest

from farmbridge.domain import DeviceState
from farmbridge.domain.errors import BadPayload
from farmbridge.domain.reports import CommandReply, Data, DeviceRef, Liveness, ReportedEvent
from farmbridge.domain.telemetry import EventLevel
from farmbridge.ingest.mqtt.conventions import make_convention
from farmbridge.ingest.mqtt.conventions.base import OutgoingCommand, ReadsDiscovery
from farmbridge.ingest.mqtt.conventions.shelly import ShellyConvention
from tests import ecosystem_samples as s

NOW = 1_767_225_600_000
DEVICE = DeviceRef(name=s.SHELLY_ID)


def _cmd(action: str, params: dict[str, object], id_: int = 42) -> OutgoingCommand:
    return OutgoingCommand(id_, action, params, NOW + 60_000)


def test_shelly_is_registered_by_name_with_the_bridge_client_id() -> None:
    """MQTT_BINDINGS can name it `shelly`; answers come to the bridge's client id."""
    convention = make_convention("shelly", client_id="user_1")
    assert isinstance(convention, ShellyConvention)
    assert isinstance(convention, ReadsDiscovery)
    assert convention.discovery_filters() == ["user_1/rpc"]
    assert convention.filters() == ["+/online", "+/status/+", "+/events/rpc"]


def test_shelly_switch_status_gives_readings_with_units_and_the_output() -> None:
    """`<id>/status/switch:0`: power, voltage, energy and temperature readings named by
    their path; the output is actuator state; by_minute and timer fields are not readings."""
    [data] = ShellyConvention().map(f"{s.SHELLY_ID}/status/switch:0", s.SHELLY_SWITCH_STATUS, NOW)
    assert isinstance(data, Data)
    assert data.device == DEVICE
    assert {r.sensor: r.value for r in data.report.readings} == {
        "switch_0.aenergy.total": 6.532,
        "switch_0.apower": 8.9,
        "switch_0.temperature.tC": 23.5,
        "switch_0.temperature.tF": 74.4,
        "switch_0.voltage": 237.5,
    }
    assert data.units == {
        "switch_0.aenergy.total": "Wh",
        "switch_0.apower": "W",
        "switch_0.temperature.tC": "°C",
        "switch_0.temperature.tF": "°F",
        "switch_0.voltage": "V",
    }
    assert {r.ts_ms for r in data.report.readings} == {NOW}
    assert data.report.status is not None
    assert data.report.status.state == DeviceState.ONLINE
    assert data.report.status.actuator == {"switch:0": True}


def test_shelly_notify_status_is_a_delta_over_the_known_outputs() -> None:
    """NotifyStatus carries only what changed; the actuator state keeps the other outputs,
    and the readings take the notification's ts."""
    convention = ShellyConvention()
    switch1 = orjson.dumps({"id": 1, "output": False})
    convention.map(f"{s.SHELLY_ID}/status/switch:1", switch1, NOW)
    [data] = convention.map(f"{s.SHELLY_ID}/events/rpc", s.SHELLY_NOTIFY_STATUS, NOW)
    assert isinstance(data, Data)
    assert data.report.readings == []
    assert data.report.status is not None
    assert data.report.status.actuator == {"switch:1": False, "switch:0": True}
    assert data.report.status.ts_ms == 1_631_186_545_040


def test_shelly_notify_status_of_plumbing_components_is_ignored() -> None:
    """cloud, sys, mqtt... are not readings."""
    assert ShellyConvention().map(f"{s.SHELLY_ID}/events/rpc", s.SHELLY_NOTIFY_CLOUD, NOW) == []


def test_shelly_full_status_of_an_h_and_t_reads_temperature_humidity_and_battery() -> None:
    """NotifyFullStatus: temperature:0 tC, humidity:0 rh, devicepower:0 battery; wifi rssi."""
    [data] = ShellyConvention().map(
        "shellyplusht-f008d1d8b8b8/events/rpc", s.SHELLY_HT_FULL_STATUS, NOW
    )
    assert isinstance(data, Data)
    assert {r.sensor: r.value for r in data.report.readings} == {
        "devicepower_0.battery.V": 4.59,
        "devicepower_0.battery.percent": 11.0,
        "humidity_0.rh": 50.0,
        "temperature_0.tC": 20.0,
        "temperature_0.tF": 68.0,
        "wifi.rssi": 0.0,
    }
    assert data.units["temperature_0.tC"] == "°C"
    assert data.units["humidity_0.rh"] == "%"
    assert data.units["wifi.rssi"] == "dBm"
    assert data.report.status is None


def test_shelly_notify_event_is_an_event_record() -> None:
    """NotifyEvent: each event becomes an info event coded by its name, at its ts."""
    [data] = ShellyConvention().map(f"{s.SHELLY_ID}/events/rpc", s.SHELLY_NOTIFY_EVENT, NOW)
    assert isinstance(data, Data)
    assert data.report.events == [
        ReportedEvent(EventLevel.INFO, "single_push", "input:0: single_push", 1_631_266_595_440)
    ]


@pytest.mark.parametrize(
    ("payload", "online"), [(s.SHELLY_ONLINE, True), (s.SHELLY_OFFLINE, False)]
)
def test_shelly_online_topic_is_liveness(payload: bytes, online: bool) -> None:
    """`<id>/online` true/false."""
    assert ShellyConvention().map(f"{s.SHELLY_ID}/online", payload, NOW) == [
        Liveness(DEVICE, online, NOW)
    ]


def test_shelly_online_other_than_true_or_false_is_a_bad_payload() -> None:
    """Only true and false."""
    with pytest.raises(BadPayload, match="true or false"):
        ShellyConvention().map(f"{s.SHELLY_ID}/online", b"Online", NOW)


def test_shelly_command_is_a_json_rpc_request_from_the_bridge() -> None:
    """Action is the method, params its params, id the command id, src the client id:
    the docs' Switch.Set request frame."""
    convention = ShellyConvention(client_id="user_1")
    [out] = convention.command(DEVICE, _cmd("Switch.Set", {"id": 1, "on": True}, id_=2))
    assert out.topic == f"{s.SHELLY_ID}/rpc"
    assert orjson.loads(out.payload) == s.SHELLY_SWITCH_SET


def test_shelly_takes_the_dashboards_generic_commands_as_its_own_methods() -> None:
    """on/off are Switch.Set (the docs' request shape, on component `target` or 0), toggle
    Switch.Toggle, a position Cover.GoToPosition, a value Light.Set brightness; the reply
    naming the request id completes them as any RPC."""
    convention = ShellyConvention(client_id="user_1")

    def sent(action: str, **params: object) -> tuple[str, object]:
        [out] = convention.command(DEVICE, _cmd(action, dict(params), id_=2))
        request = orjson.loads(out.payload)
        assert (request["id"], request["src"]) == (2, "user_1")
        return request["method"], request.get("params")

    assert sent("on", target=1) == ("Switch.Set", {"id": 1, "on": True})
    assert sent("on", target=1)[1] == s.SHELLY_SWITCH_SET["params"]
    assert sent("off") == ("Switch.Set", {"id": 0, "on": False})
    assert sent("toggle") == ("Switch.Toggle", {"id": 0})
    assert sent("set", position=40) == ("Cover.GoToPosition", {"id": 0, "pos": 40})
    assert sent("set", value=70) == ("Light.Set", {"id": 0, "brightness": 70})
    with pytest.raises(BadPayload, match="not a component id"):
        convention.command(DEVICE, _cmd("on", {"target": "pump"}))
    with pytest.raises(BadPayload, match="brightness is 0 to 100"):
        convention.command(DEVICE, _cmd("set", {"value": 300}))


def test_shelly_command_that_is_not_a_method_name_fails() -> None:
    """`Namespace.Method` only."""
    with pytest.raises(BadPayload, match="not a Shelly RPC method"):
        ShellyConvention().command(DEVICE, _cmd("POWER", {}))


def test_shelly_result_reply_acknowledges_the_command_it_names() -> None:
    """A response with `result` on `<client id>/rpc` acknowledges the request of that id."""
    convention = ShellyConvention(client_id="user_1")
    payload = s.shelly_result_for(42, s.SHELLY_ID, "user_1")
    assert convention.discovery("user_1/rpc", payload, NOW, prefix="") == [CommandReply(DEVICE, 42)]
    [reply] = convention.discovery("user_1/rpc", s.SHELLY_RESULT, NOW, prefix="")
    assert reply == CommandReply(DeviceRef(name="shellydev1-c8f09e47e6f0"), 0)


def test_shelly_error_reply_fails_the_command_with_code_and_message() -> None:
    """A response with `error` fails it."""
    [reply] = ShellyConvention(client_id="user_1").discovery(
        "user_1/rpc", s.SHELLY_ERROR, NOW, prefix=""
    )
    assert reply == CommandReply(DEVICE, 1, ok=False, detail="-103: Missing required 'id'")


def test_shelly_replies_complete_by_id_only() -> None:
    """completes() never guesses: every Shelly response names its request."""
    reply = CommandReply(DEVICE, None, state={"switch:0": True})
    assert not ShellyConvention().completes(_cmd("Switch.Set", {"id": 0, "on": True}), reply)


def test_shelly_reply_to_another_client_id_is_not_ours() -> None:
    """Only `<our client id>/rpc`."""
    assert ShellyConvention(client_id="a").discovery("b/rpc", s.SHELLY_ERROR, NOW, prefix="") == []


def test_shelly_client_id_that_is_no_topic_level_is_refused_at_startup() -> None:
    """Devices answer on `{src}/rpc`: a client id with `/`, `+` or `#` cannot be `src`."""
    with pytest.raises(ValueError, match="cannot be a topic level"):
        ShellyConvention(client_id="farm/bridge")
