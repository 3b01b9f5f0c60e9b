"""The Zigbee2MQTT convention: bridge/devices, device states, availability and /set commands.

Samples: tests/ecosystem_samples.py (Koenkk/zigbee2mqtt and Koenkk/zigbee2mqtt.io, cited there).
"""

from __future__ import annotations

import logging

import orjson
import pytest

from farmbridge.domain import DeviceState
from farmbridge.domain.errors import BadPayload
from farmbridge.domain.mqtt import Publish
from farmbridge.domain.reports import CommandReply, Data, DeviceRef, Discovered, Liveness
from farmbridge.ingest.mqtt.conventions import make_convention
from farmbridge.ingest.mqtt.conventions.base import OutgoingCommand, Refused
from farmbridge.ingest.mqtt.conventions.zigbee2mqtt import Zigbee2MqttConvention
from tests import ecosystem_samples as s

NOW = 1_767_225_600_000
BULB = DeviceRef(name="bulb")


def _known() -> Zigbee2MqttConvention:
    convention = Zigbee2MqttConvention()
    convention.map("bridge/devices", s.Z2M_DEVICES, NOW)
    return convention


def _cmd(action: str, value: object = None, id_: int = 7) -> OutgoingCommand:
    params = {} if value is None else {"value": value}
    return OutgoingCommand(id_, action, params, NOW + 60_000)


def test_zigbee2mqtt_is_registered_by_name() -> None:
    """MQTT_BINDINGS can name it `zigbee2mqtt`."""
    assert isinstance(make_convention("zigbee2mqtt"), Zigbee2MqttConvention)


def test_zigbee2mqtt_filters_read_bridge_devices_before_the_states() -> None:
    """bridge/devices is subscribed first, so retained devices come before retained states."""
    assert Zigbee2MqttConvention().filters() == ["bridge/devices", "#"]


def test_zigbee2mqtt_bridge_devices_registers_devices_with_their_sensors_and_units() -> None:
    """Numeric exposes and read-only binaries are sensors with units; the coordinator and an
    unsupported device (definition null) are not devices to register."""
    items = Zigbee2MqttConvention().map("bridge/devices", s.Z2M_DEVICES, NOW)
    found = {i.device.name: i for i in items if isinstance(i, Discovered)}
    assert sorted(found) == ["bulb", "power_plug", "weather_sensor"]
    assert found["weather_sensor"].title == "weather_sensor"
    assert found["weather_sensor"].sensors == {
        "battery": "%",
        "temperature": "°C",
        "humidity": "%",
        "pressure": "hPa",
        "voltage": "mV",
        "linkquality": "lqi",
    }
    # A settable binary (the relay's state, power_outage_memory) is actuator state, not a sensor.
    assert found["power_plug"].sensors == {
        "power": "W",
        "energy": "kWh",
        "device_temperature": "°C",
        "linkquality": "lqi",
    }
    # A light's features are read; composites (level_config) and enums are not numbers.
    assert found["bulb"].sensors == {
        "brightness": "",
        "color_temp": "mired",
        "color_temp_startup": "mired",
        "linkquality": "lqi",
    }


def test_zigbee2mqtt_the_same_device_list_again_registers_the_same() -> None:
    """'#' delivers bridge/devices a second time: registering again is idempotent, and
    reaches a device created since."""
    convention = Zigbee2MqttConvention()
    first = convention.map("bridge/devices", s.Z2M_DEVICES, NOW)
    assert convention.map("bridge/devices", s.Z2M_DEVICES, NOW) == first


def test_zigbee2mqtt_one_unreadable_device_entry_is_refused_while_the_rest_is_read() -> None:
    """An entry without a friendly name is refused (logged, counted); the others register."""
    payload = orjson.dumps([{"ieee_address": "0x1"}, s.Z2M_WEATHER_SENSOR])
    items = Zigbee2MqttConvention().map("bridge/devices", payload, NOW)
    assert isinstance(items[0], Refused)
    assert "friendly_name" in items[0].reason
    assert isinstance(items[1], Discovered)


def test_zigbee2mqtt_bridge_devices_that_is_not_a_list_is_a_bad_payload() -> None:
    """bridge/devices is a JSON array."""
    with pytest.raises(BadPayload, match="expected a JSON array"):
        Zigbee2MqttConvention().map("bridge/devices", b'{"a": 1}', NOW)


def test_zigbee2mqtt_state_gives_readings_with_units() -> None:
    """A sensor's JSON state is one reading per numeric expose, with the expose's unit."""
    [data] = _known().map("weather_sensor", s.Z2M_WEATHER_STATE, NOW)
    assert isinstance(data, Data)
    assert data.device == DeviceRef(name="weather_sensor")
    assert {r.sensor: r.value for r in data.report.readings} == {
        "temperature": 27.34,
        "humidity": 44.72,
    }
    assert data.units == {"temperature": "°C", "humidity": "%"}
    assert data.report.status is None


def test_zigbee2mqtt_state_of_a_light_is_readings_actuator_state_and_a_state_report() -> None:
    """`state` ON/OFF is actuator state; settable numbers are readings and actuator state."""
    data, reply = _known().map("bulb", s.Z2M_BULB_STATE, NOW)
    assert isinstance(data, Data)
    assert {r.sensor: r.value for r in data.report.readings} == {
        "brightness": 215.0,
        "color_temp": 325.0,
    }
    assert data.units == {"color_temp": "mired"}
    assert data.report.status is not None
    assert data.report.status.state == DeviceState.ONLINE
    assert data.report.status.actuator == {"state": "ON", "brightness": 215, "color_temp": 325}
    assert reply == CommandReply(BULB, None, state=data.report.status.actuator)


def test_zigbee2mqtt_state_before_bridge_devices_reads_numbers_and_an_on_off_state() -> None:
    """Before the device is described, numbers are readings and `state` ON/OFF a relay."""
    data, _reply = Zigbee2MqttConvention().map("bulb", s.Z2M_BULB_STATE, NOW)
    assert isinstance(data, Data)
    assert {r.sensor for r in data.report.readings} == {"brightness", "color_temp"}
    assert data.report.status is not None
    assert data.report.status.actuator == {"state": "ON"}


def test_zigbee2mqtt_a_binary_with_an_unknown_value_is_a_bad_payload() -> None:
    """A binary expose takes its value_on or value_off only."""
    with pytest.raises(BadPayload, match=r"bulb\.state"):
        _known().map("bulb", b'{"state": "DIM"}', NOW)


@pytest.mark.parametrize(
    ("payload", "online"),
    [(s.Z2M_ONLINE, True), (s.Z2M_OFFLINE, False), (s.Z2M_ONLINE_LEGACY, True)],
)
def test_zigbee2mqtt_availability_is_liveness(payload: bytes, online: bool) -> None:
    """Both the JSON and the legacy availability payloads give the device's liveness."""
    assert _known().map("bulb/availability", payload, NOW) == [Liveness(BULB, online, NOW)]


def test_zigbee2mqtt_unknown_availability_is_a_bad_payload() -> None:
    """Only online and offline."""
    with pytest.raises(BadPayload, match="online or offline"):
        _known().map("bulb/availability", b'{"state": "sleeping"}', NOW)


def test_zigbee2mqtt_friendly_names_with_a_slash_are_one_device() -> None:
    """`kitchen/floor_light` (the docs' example) is one device, named with `_`."""
    entry = dict(s.Z2M_BULB, friendly_name="kitchen/floor_light")
    convention = Zigbee2MqttConvention()
    [found] = convention.map("bridge/devices", orjson.dumps([entry]), NOW)
    assert isinstance(found, Discovered)
    assert found.device == DeviceRef(name="kitchen_floor_light")
    data, _ = convention.map("kitchen/floor_light", s.Z2M_BULB_STATE, NOW)
    assert isinstance(data, Data)
    assert data.device == DeviceRef(name="kitchen_floor_light")
    assert convention.map("kitchen/floor_light/availability", s.Z2M_ONLINE, NOW) == [
        Liveness(DeviceRef(name="kitchen_floor_light"), True, NOW)
    ]
    [out] = convention.command(DeviceRef(name="kitchen_floor_light"), _cmd("state", "ON"))
    assert out.topic == "kitchen/floor_light/set"


def test_zigbee2mqtt_other_bridge_topics_are_ignored_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """bridge/state, bridge/logging... map to nothing, each logged once at debug."""
    convention = _known()
    with caplog.at_level(logging.DEBUG, logger="farmbridge.ingest.mqtt.conventions.zigbee2mqtt"):
        assert convention.map("bridge/state", s.Z2M_BRIDGE_STATE, NOW) == []
        assert convention.map("bridge/state", s.Z2M_BRIDGE_STATE, NOW) == []
        assert convention.map("bridge/logging", s.Z2M_BRIDGE_LOGGING, NOW) == []
    assert [r.getMessage() for r in caplog.records] == [
        "zigbee2mqtt bridge/state is not read (only bridge/devices is)",
        "zigbee2mqtt bridge/logging is not read (only bridge/devices is)",
    ]


def test_zigbee2mqtt_set_and_get_topics_are_ignored() -> None:
    """Our own /set, echoed back by '#', and another client's /get are not states."""
    convention = _known()
    assert convention.map("bulb/set", s.Z2M_SET_ON, NOW) == []
    assert convention.map("bulb/get", b'{"state": ""}', NOW) == []
    assert Zigbee2MqttConvention().map("bulb/set", s.Z2M_SET_ON, NOW) == []


def test_zigbee2mqtt_command_sets_a_binary_with_its_value_on() -> None:
    """`{"state": "ON"}` to `{friendly_name}/set`; a boolean is value_on/value_off."""
    convention = _known()
    assert convention.command(BULB, _cmd("state", "on")) == [Publish("bulb/set", s.Z2M_SET_ON)]
    assert convention.command(BULB, _cmd("state", False)) == [
        Publish("bulb/set", b'{"state":"OFF"}')
    ]
    assert convention.command(BULB, _cmd("state")) == [Publish("bulb/set", b'{"state":"TOGGLE"}')]


def test_zigbee2mqtt_command_sets_a_settable_number_within_its_range() -> None:
    """Numbers go as numbers; outside value_min..value_max the command fails."""
    convention = _known()
    assert convention.command(BULB, _cmd("brightness", 128.0)) == [
        Publish("bulb/set", b'{"brightness":128}')
    ]
    with pytest.raises(BadPayload, match="outside"):
        convention.command(BULB, _cmd("brightness", 300))
    with pytest.raises(BadPayload, match="not a number"):
        convention.command(BULB, _cmd("brightness", True))


def test_zigbee2mqtt_command_on_a_read_only_or_unknown_property_fails() -> None:
    """Only exposes with the set access bit take commands; unknown devices none."""
    convention = _known()
    with pytest.raises(BadPayload, match="no settable 'linkquality'"):
        convention.command(BULB, _cmd("linkquality", 3))
    with pytest.raises(BadPayload, match="no settable 'effect'"):
        convention.command(BULB, _cmd("effect", "blink"))  # an enum: not read yet
    with pytest.raises(BadPayload, match="bridge/devices"):
        Zigbee2MqttConvention().command(BULB, _cmd("state", "ON"))


def test_zigbee2mqtt_state_showing_the_value_completes_the_command() -> None:
    """The next state report with the requested value completes it; another value not."""
    convention = _known()
    [_, reply] = convention.map("bulb", s.Z2M_BULB_STATE, NOW)
    assert isinstance(reply, CommandReply)
    assert convention.completes(_cmd("state", "ON"), reply)
    assert convention.completes(_cmd("state", True), reply)
    assert convention.completes(_cmd("brightness", 215), reply)
    assert not convention.completes(_cmd("state", "OFF"), reply)
    assert not convention.completes(_cmd("brightness", 100), reply)
    assert convention.completes(_cmd("state"), reply)  # TOGGLE: any report
    assert not convention.completes(_cmd("power_outage_memory", True), reply)


def test_zigbee2mqtt_command_to_a_friendly_name_that_is_no_topic_fails() -> None:
    """A wildcard in the friendly name would publish to no device's /set."""
    entry = dict(s.Z2M_BULB, friendly_name="bulb+1")
    convention = Zigbee2MqttConvention()
    convention.map("bridge/devices", orjson.dumps([entry]), NOW)
    with pytest.raises(BadPayload, match="cannot be a topic"):
        convention.command(DeviceRef(name="bulb_1"), _cmd("state", "ON"))


def _generic(action: str, **params: object) -> OutgoingCommand:
    return OutgoingCommand(9, action, dict(params), NOW + 60_000)


def test_zigbee2mqtt_takes_the_dashboards_generic_commands() -> None:
    """on/off/toggle set the bulb's `state` binary with its own values, `set` a value its
    one settable number (brightness), and the next state report completes them; a generic
    command the device cannot take fails at once."""
    convention = _known()
    assert convention.command(BULB, _generic("on")) == [Publish("bulb/set", s.Z2M_SET_ON)]
    assert convention.command(BULB, _generic("off")) == [Publish("bulb/set", b'{"state":"OFF"}')]
    assert convention.command(BULB, _generic("toggle")) == [
        Publish("bulb/set", b'{"state":"TOGGLE"}')
    ]
    assert convention.command(BULB, _generic("set", value=128)) == [
        Publish("bulb/set", b'{"brightness":128}')
    ]
    [_, reply] = convention.map("bulb", s.Z2M_BULB_STATE, NOW)
    assert isinstance(reply, CommandReply)
    assert convention.completes(_generic("on"), reply)
    assert not convention.completes(_generic("off"), reply)
    assert convention.completes(_generic("set", value=215), reply)
    with pytest.raises(BadPayload, match="several settable numbers"):
        convention.command(BULB, _generic("set", position=40))
    with pytest.raises(BadPayload, match="generic power"):
        convention.command(BULB, _generic("on", target="state_l2"))
