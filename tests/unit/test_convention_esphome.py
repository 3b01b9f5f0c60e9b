"""The ESPHome MQTT convention: entity state topics, node availability and commands."""

from __future__ import annotations

import orjson
import pytest

from farmbridge.domain import DeviceState
from farmbridge.domain.errors import BadPayload
from farmbridge.domain.mqtt import Publish
from farmbridge.domain.reports import CommandReply, Data, DeviceRef, Discovered, Liveness
from farmbridge.ingest.mqtt.conventions.base import OutgoingCommand
from farmbridge.ingest.mqtt.conventions.esphome import EsphomeConvention

NOW = 1_767_225_600_000
DEVICE = DeviceRef(name="greenhouse-node")


def _map(topic: str, payload: bytes) -> list[object]:
    return list(EsphomeConvention().map(topic, payload, NOW))


def test_esphome_filters_cover_status_and_states() -> None:
    """It subscribes to availability and every entity's state topic."""
    assert EsphomeConvention().filters() == ["+/status", "+/+/+/state"]


# Discovery configs exactly as an ESP32 running ESPHome 2026.8.0 published them, captured
# from a real device (avanha/pmaas-plugin-esphome, internal/hadiscovery/captured_test.go).
# Their topics follow ESPHome's get_discovery_topic_ (esphome/esphome,
# esphome/components/mqtt/mqtt_component.cpp): <prefix>/<component>/<node>/<object_id>/config.
GARAGE_TEMPERATURE = (
    b'{"sug_dsp_prc":1,"unit_of_meas":"\xc2\xb0C","stat_cla":"measurement","name":"Garage'
    b' Temperature","dev_cla":"temperature","stat_t":"garagedoor1/sensor/garage_temperature/state",'
    b'"avty_t":"garagedoor1/status","uniq_id":"ESPsensorgarage_temperature","dev":{"ids":'
    b'"20500de464ec","name":"GarageDoor1","sw":"2026.8.0 (config hash 0x0dd1e1e6)","mdl":"esp32",'
    b'"mf":"Espressif","cns":[["mac","20500de464ec"]]}}'
)
GARAGE_DOOR = (
    b'{"name":"Garage Door Position",'
    b'"stat_t":"garagedoor1/binary_sensor/garage_door_position/state",'
    b'"avty_t":"garagedoor1/status","uniq_id":"ESPbinary_sensorgarage_door_position","dev":{"ids":'
    b'"20500de464ec","name":"GarageDoor1","sw":"2026.8.0 (config hash 0x0dd1e1e6)","mdl":"esp32",'
    b'"mf":"Espressif","cns":[["mac","20500de464ec"]]}}'
)
GARAGE = DeviceRef(name="garagedoor1")


def test_esphome_discovery_config_gives_the_unit_of_later_readings() -> None:
    """The node's HA discovery config registers the sensor with its unit_of_meas, and the
    state readings after it carry that unit."""
    esphome = EsphomeConvention()
    assert esphome.discovery_filters() == ["homeassistant/+/+/+/config"]
    topic = "homeassistant/sensor/garagedoor1/garage_temperature/config"
    assert esphome.discovery(topic, GARAGE_TEMPERATURE, NOW, prefix="") == [
        Discovered(GARAGE, "garagedoor1", {"garage_temperature": "°C"})
    ]
    [item] = esphome.map("garagedoor1/sensor/garage_temperature/state", b"21.5", NOW)
    assert isinstance(item, Data)
    assert item.units == {"garage_temperature": "°C"}
    door = "homeassistant/binary_sensor/garagedoor1/garage_door_position/config"
    assert esphome.discovery(door, GARAGE_DOOR, NOW, prefix="") == [
        Discovered(GARAGE, "garagedoor1", {"garage_door_position": ""})
    ]


@pytest.mark.parametrize(
    ("topic", "payload", "prefix"),
    [
        # Under another binding's prefix: not this binding's node.
        ("homeassistant/sensor/garagedoor1/garage_temperature/config", GARAGE_TEMPERATURE, "esp/"),
        # Zigbee2MQTT's config (Koenkk/zigbee2mqtt, test/extensions/homeassistant.test.ts).
        (
            "homeassistant/sensor/0x0017880104e45522/temperature/config",
            b'{"unit_of_measurement":"\xc2\xb0C","state_topic":"zigbee2mqtt/weather_sensor"}',
            "",
        ),
        ("homeassistant/light/garagedoor1/led/config", GARAGE_TEMPERATURE, ""),
        ("homeassistant/sensor/garagedoor1/garage_temperature/config", b"", ""),
        ("homeassistant/sensor/garagedoor1/garage_temperature/config", b"{bad", ""),
    ],
)
def test_esphome_discovery_of_other_devices_is_not_its_business(
    topic: str, payload: bytes, prefix: str
) -> None:
    """Configs whose state topic is not `<prefix><node>/<component>/<object_id>/state` of
    this binding, other components, removals and non-JSON map to []."""
    assert EsphomeConvention().discovery(topic, payload, NOW, prefix=prefix) == []


def test_esphome_number_state_is_a_reading_and_completes_its_command() -> None:
    """A number's state (ESPHome's mqtt_number.cpp publishes it with printf %f) is a
    reading, and the state report that completes a number command."""
    items = _map("greenhouse-node/number/target_moisture/state", b"22.500000")
    data, reply = items
    assert isinstance(data, Data)
    assert [(r.sensor, r.value) for r in data.report.readings] == [("target_moisture", 22.5)]
    assert reply == CommandReply(DEVICE, None, state={"target_moisture": "22.500000"})
    cmd = OutgoingCommand(1, "target_moisture", {"value": 22.5, "component": "number"}, NOW)
    assert EsphomeConvention().command(DEVICE, cmd) == [
        Publish("greenhouse-node/number/target_moisture/command", b"22.5")
    ]
    assert isinstance(reply, CommandReply)
    assert EsphomeConvention().completes(cmd, reply)


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
    assert (status.state, status.actuator) == (DeviceState.ONLINE, {"power": "on"})
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


# Generic commands (the dashboard's on, off, toggle, set), in ESPHome's terms. Payloads
# as ESPHome's MQTT components speak them: a switch publishes "ON"/"OFF" on its state
# topic and parses ON, OFF and TOGGLE on its command topic (esphome/esphome,
# esphome/components/mqtt/mqtt_switch.cpp, parse_on_off); a number publishes its state
# with printf %f and takes the new value as text (esphome/components/mqtt/mqtt_number.cpp).


def _node_with(*states: tuple[str, bytes]) -> EsphomeConvention:
    convention = EsphomeConvention()
    for topic, payload in states:
        convention.map(f"greenhouse-node/{topic}/state", payload, NOW)
    return convention


@pytest.mark.parametrize(
    ("action", "params", "topic", "payload"),
    [
        ("on", {}, "greenhouse-node/switch/pump/command", b"ON"),
        ("off", {}, "greenhouse-node/switch/pump/command", b"OFF"),
        ("toggle", {}, "greenhouse-node/switch/pump/command", b"TOGGLE"),
        ("set", {"position": 40}, "greenhouse-node/number/target/command", b"40"),
        ("set", {"value": 22.5}, "greenhouse-node/number/target/command", b"22.5"),
    ],
)
def test_esphome_generic_command_drives_the_nodes_switch_or_number(
    action: str, params: dict[str, object], topic: str, payload: bytes
) -> None:
    """on/off/toggle go to the node's one switch as ON/OFF/TOGGLE, set to its one number."""
    convention = _node_with(("switch/pump", b"OFF"), ("number/target", b"20.000000"))
    cmd = OutgoingCommand(7, action, params, NOW)
    assert convention.command(DEVICE, cmd) == [Publish(topic, payload)]


def test_esphome_generic_command_completes_on_the_entitys_state() -> None:
    """The command completes when the entity it went to reports the requested state."""
    convention = _node_with(("switch/pump", b"OFF"), ("number/target", b"20.000000"))
    on = OutgoingCommand(7, "on", {}, NOW)
    position = OutgoingCommand(8, "set", {"position": 40}, NOW)
    convention.command(DEVICE, on)
    convention.command(DEVICE, position)
    [_, off_reply] = convention.map("greenhouse-node/switch/pump/state", b"OFF", NOW)
    [_, on_reply] = convention.map("greenhouse-node/switch/pump/state", b"ON", NOW)
    [_, number] = convention.map("greenhouse-node/number/target/state", b"40.000000", NOW)
    assert isinstance(off_reply, CommandReply)
    assert isinstance(on_reply, CommandReply)
    assert isinstance(number, CommandReply)
    assert not convention.completes(on, off_reply)
    assert not convention.completes(on, number)
    assert convention.completes(on, on_reply)
    assert convention.completes(position, number)


def test_esphome_generic_command_names_the_entity_among_several() -> None:
    """With two switches the command needs params.target; with it, it goes there."""
    convention = _node_with(("switch/pump", b"OFF"), ("light/lamp", b'{"state": "OFF"}'))
    with pytest.raises(BadPayload, match="several"):
        convention.command(DEVICE, OutgoingCommand(1, "on", {}, NOW))
    cmd = OutgoingCommand(1, "on", {"target": "lamp"}, NOW)
    assert convention.command(DEVICE, cmd) == [
        Publish("greenhouse-node/light/lamp/command", b'{"state":"ON"}')
    ]


@pytest.mark.parametrize(
    ("action", "params", "why"),
    [
        ("on", {}, "reported no switch, light or fan"),
        ("set", {"position": 40}, "reported no number"),
        ("on", {"target": "fan"}, "no switch, light or fan 'fan'"),
    ],
)
def test_esphome_generic_command_without_its_entity_fails_at_once(
    action: str, params: dict[str, object], why: str
) -> None:
    """A node that reported no entity for the command fails it with the reason."""
    convention = _node_with(("sensor/temperature", b"21.5"))
    with pytest.raises(BadPayload, match=why):
        convention.command(DEVICE, OutgoingCommand(1, action, params, NOW))


def test_esphome_actuator_names_several_switches_by_object_id() -> None:
    """A node's only switch is `power`; once it has two, each is `power.<object_id>`."""
    convention = _node_with(("switch/pump", b"OFF"))
    [data, _] = convention.map("greenhouse-node/fan/vent_fan/state", b"ON", NOW)
    assert isinstance(data, Data)
    assert data.report.status is not None
    assert data.report.status.actuator == {"power.vent_fan": "on"}
