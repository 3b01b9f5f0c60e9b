"""The Home Assistant MQTT discovery convention: configs, learned state topics, commands."""

from __future__ import annotations

import orjson
import pytest

from farmbridge.domain.errors import BadPayload
from farmbridge.domain.mqtt import Publish
from farmbridge.domain.reports import CommandReply, Data, DeviceRef, Discovered, Liveness
from farmbridge.ingest.mqtt.conventions._template import parse
from farmbridge.ingest.mqtt.conventions.base import Mapped, OutgoingCommand, Refused, Watch
from farmbridge.ingest.mqtt.conventions.hass import HassConvention

NOW = 1_767_225_600_000
PLUG = DeviceRef(name="Kitchen_plug")
TEMPERATURE = {
    "name": "Temperature",
    "~": "tasmota_4F2A/",
    "stat_t": "~tele/SENSOR",
    "avty_t": "~tele/LWT",
    "pl_avail": "Online",
    "pl_not_avail": "Offline",
    "unit_of_meas": "°C",
    "val_tpl": "{{ value_json['AM2301'].Temperature | float | round(1) }}",
    "uniq_id": "4F2A_AM2301_Temperature",
    "dev": {"ids": ["4F2A"], "name": "Kitchen plug"},
}
HUMIDITY = {
    **TEMPERATURE,
    "name": "Humidity",
    "unit_of_meas": "%",
    "val_tpl": '{{ value_json["AM2301"]["Humidity"] }}',
}
RELAY = {
    "name": "Relay",
    "stat_t": "tasmota_4F2A/stat/RESULT",
    "cmd_t": "tasmota_4F2A/cmnd/POWER",
    "val_tpl": "{{ value_json.POWER }}",
    "pl_on": "ON",
    "pl_off": "OFF",
    "dev": {"ids": ["4F2A"], "name": "Kitchen plug"},
}


def _config(hass: HassConvention, topic: str, config: object) -> list[Mapped]:
    return hass.map(topic, orjson.dumps(config), NOW)


def _plug() -> HassConvention:
    hass = HassConvention()
    _config(hass, "homeassistant/sensor/4F2A/AM2301_Temperature/config", TEMPERATURE)
    _config(hass, "homeassistant/sensor/4F2A/AM2301_Humidity/config", HUMIDITY)
    _config(hass, "homeassistant/switch/4F2A/relay/config", RELAY)
    return hass


def test_hass_filters_are_discovery_configs_then_learned_topics() -> None:
    """The discovery prefix is in the filters; learned state topics are added to them."""
    assert HassConvention().filters() == ["homeassistant/+/+/config", "homeassistant/+/+/+/config"]
    assert HassConvention(discovery_prefix="ha").filters()[0] == "ha/+/+/config"
    assert _plug().filters()[2:] == [
        "tasmota_4F2A/stat/RESULT",
        "tasmota_4F2A/tele/LWT",
        "tasmota_4F2A/tele/SENSOR",
    ]


def test_hass_config_discovers_the_sensor_and_watches_its_topics() -> None:
    """A config names the device, its sensor and unit, and asks to watch new topics."""
    hass = HassConvention()
    items = _config(hass, "homeassistant/sensor/4F2A/AM2301_Temperature/config", TEMPERATURE)
    assert items == [
        Discovered(PLUG, "Kitchen plug", {"AM2301_Temperature": "°C"}),
        Watch("tasmota_4F2A/tele/SENSOR"),
        Watch("tasmota_4F2A/tele/LWT"),
    ]
    [again] = _config(hass, "homeassistant/sensor/4F2A/AM2301_Humidity/config", HUMIDITY)
    assert again == Discovered(PLUG, "Kitchen plug", {"AM2301_Humidity": "%"})


def test_hass_known_retained_config_is_not_data() -> None:
    """The same config again (a retained redelivery) maps to []."""
    hass = _plug()
    assert _config(hass, "homeassistant/sensor/4F2A/AM2301_Temperature/config", TEMPERATURE) == []


@pytest.mark.parametrize(
    ("topic", "device", "name"),
    [
        ({"identifiers": "abc-1"}, "abc-1", "abc-1"),
        ({}, "node_7", "node_7"),
    ],
)
def test_hass_device_name_falls_back_to_identifier_then_node_id(
    topic: dict[str, object], device: str, name: str
) -> None:
    """Without device.name the first identifier names the device, then the node_id."""
    config = {"state_topic": "x/state", "device": topic} if topic else {"state_topic": "x/state"}
    [discovered, _] = _config(HassConvention(), "homeassistant/sensor/node_7/t/config", config)
    assert discovered == Discovered(DeviceRef(name=device), name, {"t": ""})


def test_hass_config_without_node_or_device_names_the_device_by_object_id() -> None:
    """A lone entity is its own device."""
    [discovered, _] = _config(
        HassConvention(), "homeassistant/binary_sensor/door/config", {"state_topic": "d"}
    )
    assert discovered == Discovered(DeviceRef(name="door"), "door", {"door": ""})


# HA's MQTT docs, "Sensors" (https://www.home-assistant.io/integrations/mqtt/#sensors;
# home-assistant/home-assistant.io, source/_integrations/mqtt.markdown): the second config
# names its device only by identifiers ("it is enough to add shared identifiers").
BEDROOM_T = {
    "device_class": "temperature",
    "state_topic": "homeassistant/sensor/sensorBedroom/state",
    "unit_of_measurement": "°C",
    "value_template": "{{ value_json.temperature}}",
    "unique_id": "temp01ae",
    "device": {
        "identifiers": ["bedroom01ae"],
        "name": "Bedroom",
        "manufacturer": "Example sensors Ltd.",
        "model": "Example Sensor",
        "model_id": "K9",
        "serial_number": "12AE3010545",
        "hw_version": "1.01a",
        "sw_version": "2024.1.0",
        "configuration_url": "https://example.com/sensor_portal/config",
    },
}
BEDROOM_H = {
    "device_class": "humidity",
    "state_topic": "homeassistant/sensor/sensorBedroom/state",
    "unit_of_measurement": "%",
    "value_template": "{{ value_json.humidity}}",
    "unique_id": "hum01ae",
    "device": {"identifiers": ["bedroom01ae"]},
}
BEDROOM = DeviceRef(name="Bedroom")


def test_hass_config_naming_its_device_by_identifiers_only_joins_that_device() -> None:
    """A later config whose device has only identifiers joins the device named with them,
    and the shared state topic gives that one device both readings."""
    hass = HassConvention()
    _config(hass, "homeassistant/sensor/sensorBedroomT/config", BEDROOM_T)
    [discovered] = _config(hass, "homeassistant/sensor/sensorBedroomH/config", BEDROOM_H)
    assert discovered == Discovered(BEDROOM, "Bedroom", {"sensorBedroomH": "%"})
    # The docs' "common state payload".
    [item] = hass.map(
        "homeassistant/sensor/sensorBedroom/state",
        b'{ "temperature": 23.20, "humidity": 43.70 }',
        NOW,
    )
    assert isinstance(item, Data)
    assert item.device == BEDROOM
    assert [(r.sensor, r.value) for r in item.report.readings] == [
        ("sensorBedroomT", 23.2),
        ("sensorBedroomH", 43.7),
    ]
    assert _config(hass, "homeassistant/sensor/sensorBedroomH/config", BEDROOM_H) == []


def test_hass_identifiers_only_config_seen_first_moves_to_the_device_named_later() -> None:
    """Retained configs come in any order: one that only points at its device by
    identifiers, read before the config naming it, is discovered again on the named device."""
    hass = HassConvention()
    [first, _] = _config(hass, "homeassistant/sensor/sensorBedroomH/config", BEDROOM_H)
    assert first == Discovered(
        DeviceRef(name="bedroom01ae"), "bedroom01ae", {"sensorBedroomH": "%"}
    )
    items = _config(hass, "homeassistant/sensor/sensorBedroomT/config", BEDROOM_T)
    assert [i for i in items if isinstance(i, Discovered)] == [
        Discovered(BEDROOM, "Bedroom", {"sensorBedroomT": "°C"}),
        Discovered(BEDROOM, "Bedroom", {"sensorBedroomH": "%"}),
    ]
    [item] = hass.map("homeassistant/sensor/sensorBedroom/state", b'{"humidity": 43.70}', NOW)
    assert isinstance(item, Data)
    assert item.device == BEDROOM


def test_hass_connections_join_configs_of_one_device() -> None:
    """device.connections (abbreviated cns) identify a device as identifiers do."""
    hass = HassConvention()
    mac = [["mac", "02:5b:26:a8:dc:12"]]
    named = {"stat_t": "plug/state", "dev": {"cns": mac, "name": "Plug"}}
    _config(hass, "homeassistant/sensor/plug/power/config", named)
    pointing = {"stat_t": "plug/state", "dev": {"connections": mac}}
    [discovered, *_] = _config(hass, "homeassistant/sensor/plug/energy/config", pointing)
    assert discovered == Discovered(DeviceRef(name="Plug"), "Plug", {"energy": ""})


# HA's MQTT docs, "Device discovery payload" and its migration example
# (https://www.home-assistant.io/integrations/mqtt/#device-discovery-payload;
# home-assistant/home-assistant.io, source/_integrations/mqtt.markdown).
KITCHEN_DEVICE = {
    "dev": {
        "ids": "ea334450945afc",
        "name": "Kitchen",
        "mf": "Bla electronics",
        "mdl": "xya",
        "sw": "1.0",
        "sn": "ea334450945afc",
        "hw": "1.0rev2",
    },
    "o": {"name": "bla2mqtt", "sw": "2.1", "url": "https://bla2mqtt.example.com/support"},
    "cmps": {
        "some_unique_component_id1": {
            "p": "sensor",
            "device_class": "temperature",
            "unit_of_measurement": "°C",
            "value_template": "{{ value_json.temperature}}",
            "unique_id": "temp01ae_t",
        },
        "some_unique_id2": {
            "p": "sensor",
            "device_class": "humidity",
            "unit_of_measurement": "%",
            "value_template": "{{ value_json.humidity}}",
            "unique_id": "temp01ae_h",
        },
    },
    "state_topic": "sensorBedroom/state",
    "qos": 2,
}
MIGRATED_DEVICE = {
    "device": {"identifiers": ["0AFFD2"]},
    "o": {"name": "foobar"},
    "cmps": {
        "bla1": {
            "p": "device_automation",
            "automation_type": "trigger",
            "payload": "short_press",
            "topic": "foobar/triggers/button1",
            "type": "button_short_press",
            "subtype": "button_1",
        },
        "bla2": {
            "p": "sensor",
            "state_topic": "foobar/sensor/sensor1",
            "unique_id": "bla_sensor001",
        },
    },
}
KITCHEN = DeviceRef(name="Kitchen")


def test_hass_device_config_sets_up_each_component_on_one_device() -> None:
    """A device config's components are entities of its one device, sharing the root's
    state topic; one state message gives that device every component's reading."""
    hass = HassConvention()
    items = _config(hass, "homeassistant/device/ea334450945afc/config", KITCHEN_DEVICE)
    assert items == [
        Discovered(KITCHEN, "Kitchen", {"some_unique_component_id1": "°C"}),
        Watch("sensorBedroom/state"),
        Discovered(KITCHEN, "Kitchen", {"some_unique_id2": "%"}),
    ]
    [item] = hass.map("sensorBedroom/state", b'{ "temperature": 23.20, "humidity": 43.70 }', NOW)
    assert isinstance(item, Data)
    assert item.device == KITCHEN
    assert [(r.sensor, r.value) for r in item.report.readings] == [
        ("some_unique_component_id1", 23.2),
        ("some_unique_id2", 43.7),
    ]
    assert _config(hass, "homeassistant/device/ea334450945afc/config", KITCHEN_DEVICE) == []


def test_hass_device_config_removes_a_component_given_only_its_platform() -> None:
    """A component left with only `p` is removed (the docs' humidity removal), as is one
    dropped from the config; an empty config removes them all."""
    hass = HassConvention()
    topic = "homeassistant/device/ea334450945afc/config"
    _config(hass, topic, KITCHEN_DEVICE)
    cmps = KITCHEN_DEVICE["cmps"]
    assert isinstance(cmps, dict)
    removal = {**KITCHEN_DEVICE, "cmps": {**cmps, "some_unique_id2": {"p": "sensor"}}}
    assert _config(hass, topic, removal) == []
    [item] = hass.map("sensorBedroom/state", b'{"temperature": 20, "humidity": 40}', NOW)
    assert isinstance(item, Data)
    assert [r.sensor for r in item.report.readings] == ["some_unique_component_id1"]
    assert hass.map(topic, b"", NOW) == []
    assert hass.map("sensorBedroom/state", b'{"temperature": 20}', NOW) == []


def test_hass_device_config_refuses_unread_components_once_and_reads_the_rest() -> None:
    """A component of a platform not read (the docs' device_automation) is refused, never
    ignored silently; the sensor beside it is read, on the device its identifiers name."""
    hass = HassConvention()
    topic = "homeassistant/device/0AFFD2/config"
    items = _config(hass, topic, MIGRATED_DEVICE)
    assert items[0] == Refused(
        "component 'bla1': platform 'device_automation' is not read"
        " (sensor, binary_sensor, switch, number)"
    )
    assert items[1:] == [
        Discovered(DeviceRef(name="0AFFD2"), "0AFFD2", {"bla2": ""}),
        Watch("foobar/sensor/sensor1"),
    ]
    assert _config(hass, topic, MIGRATED_DEVICE) == []  # a retained redelivery
    [item] = hass.map("foobar/sensor/sensor1", b"12", NOW)
    assert isinstance(item, Data)
    assert item.report.readings[0].value == 12.0


@pytest.mark.parametrize(
    "cmps",
    [[], "x", {"a": 1}, {"a": {"p": "sensor", "unique_id": "u", "state_topic": 5}}],
)
def test_hass_device_config_malformed_components_are_refused_or_bad(cmps: object) -> None:
    """A device config whose components cannot be read raises BadPayload or refuses the
    component; it never raises anything else."""
    config = {"dev": {"ids": "x"}, "o": {"name": "t"}, "cmps": cmps}
    try:
        items = _config(HassConvention(), "homeassistant/device/x/config", config)
    except BadPayload:
        return
    assert items
    assert all(isinstance(i, Refused) for i in items)


@pytest.mark.parametrize("component", ["light", "climate", "cover", "device_automation"])
def test_hass_ignores_other_components(component: str) -> None:
    """Only sensor, binary_sensor and switch configs are read."""
    config = {"state_topic": "a/b", "command_topic": "a/c"}
    assert _config(HassConvention(), f"homeassistant/{component}/x/config", config) == []


def test_hass_state_topic_feeds_all_its_entities_as_one_data() -> None:
    """One tele/SENSOR message gives the device all its readings, templates applied."""
    [item] = _plug().map(
        "tasmota_4F2A/tele/SENSOR",
        b'{"Time": "2024-01-01T10:00:00", "AM2301": {"Temperature": 21.34, "Humidity": 55}}',
        NOW,
    )
    assert isinstance(item, Data)
    assert item.device == PLUG
    assert [(r.sensor, r.value, r.ts_ms) for r in item.report.readings] == [
        ("AM2301_Temperature", 21.3, NOW),
        ("AM2301_Humidity", 55.0, NOW),
    ]
    assert item.units == {"AM2301_Temperature": "°C", "AM2301_Humidity": "%"}


def test_hass_state_topic_of_several_devices_gives_one_data_each() -> None:
    """Entities of two devices on one topic (a Zigbee2MQTT-like bridge) split by device."""
    hass = HassConvention()
    for device, key in (("left", "a"), ("right", "b")):
        config = {
            "state_topic": "bridge/state",
            "value_template": f"{{{{ value_json.{key} }}}}",
            "device": {"name": device},
        }
        _config(hass, f"homeassistant/sensor/{device}/{key}/config", config)
    items = hass.map("bridge/state", b'{"a": 1, "b": 2}', NOW)
    assert all(isinstance(i, Data) for i in items)
    assert [
        (i.device.name, [r.value for r in i.report.readings]) for i in items if isinstance(i, Data)
    ] == [("left", [1.0]), ("right", [2.0])]


def test_hass_entity_missing_from_a_shared_message_is_skipped() -> None:
    """An entity whose key is absent is skipped while the others still read."""
    [item] = _plug().map("tasmota_4F2A/tele/SENSOR", b'{"AM2301": {"Humidity": 55}}', NOW)
    assert isinstance(item, Data)
    assert [r.sensor for r in item.report.readings] == ["AM2301_Humidity"]


def test_hass_binary_sensor_compares_with_its_payloads() -> None:
    """payload_on/payload_off map to 1/0, with the plain value template."""
    hass = HassConvention()
    config = {"state_topic": "door/contact", "payload_on": "open", "payload_off": "closed"}
    _config(hass, "homeassistant/binary_sensor/door/contact/config", config)
    [item] = hass.map("door/contact", b"open", NOW)
    assert isinstance(item, Data)
    assert item.report.readings[0].value == 1.0
    [item] = hass.map("door/contact", b"closed", NOW)
    assert isinstance(item, Data)
    assert item.report.readings[0].value == 0.0


# Zigbee2MQTT's binary sensors, as its HA discovery gives them (Koenkk/zigbee2mqtt,
# lib/extension/homeassistant.js, cfg.binary_sensor_contact and binary_sensor_water_leak),
# published with the state_topic and device it adds (Koenkk/zigbee2mqtt,
# test/extensions/homeassistant.test.ts). `contact` is true when closed, so on is false
# (Koenkk/zigbee2mqtt.io, docs/devices/MCCGQ11LM.md: "If value equals `false` contact is ON").
Z2M_CONTACT = {
    "payload_on": False,
    "payload_off": True,
    "value_template": "{{ value_json.contact }}",
    "device_class": "door",
    "state_topic": "zigbee2mqtt/door_sensor",
    "unique_id": "0x00158d00029b063b_contact_zigbee2mqtt",
    "device": {"identifiers": ["zigbee2mqtt_0x00158d00029b063b"], "name": "door_sensor"},
}
Z2M_WATER_LEAK = {
    **Z2M_CONTACT,
    "payload_on": True,
    "payload_off": False,
    "value_template": "{{ value_json.water_leak }}",
    "device_class": "moisture",
    "unique_id": "0x00158d00029b063b_water_leak_zigbee2mqtt",
}


def test_hass_binary_sensor_with_boolean_payloads_reads_json_booleans() -> None:
    """payload_on/payload_off given as JSON booleans compare as HA's str() of them, so a
    Zigbee2MQTT state {"contact": true} (closed) reads 0 and false (open) reads 1."""
    hass = HassConvention()
    [discovered, _] = _config(
        hass, "homeassistant/binary_sensor/0x00158d00029b063b/contact/config", Z2M_CONTACT
    )
    assert discovered == Discovered(DeviceRef(name="door_sensor"), "door_sensor", {"contact": ""})
    leak = "homeassistant/binary_sensor/0x00158d00029b063b/water_leak/config"
    _config(hass, leak, Z2M_WATER_LEAK)
    # The state Zigbee2MQTT publishes for an MCCGQ11LM (contact, battery, temperature...).
    [item] = hass.map(
        "zigbee2mqtt/door_sensor",
        b'{"battery": 100, "contact": true, "water_leak": false, "linkquality": 90}',
        NOW,
    )
    assert isinstance(item, Data)
    assert [(r.sensor, r.value) for r in item.report.readings] == [
        ("contact", 0.0),
        ("water_leak", 0.0),
    ]
    [item] = hass.map("zigbee2mqtt/door_sensor", b'{"contact": false, "water_leak": true}', NOW)
    assert isinstance(item, Data)
    assert [r.value for r in item.report.readings] == [1.0, 1.0]


def test_hass_switch_state_is_a_reading_and_a_state_report() -> None:
    """A switch reads 1/0 and reports ON/OFF so its commands can complete."""
    items = _plug().map("tasmota_4F2A/stat/RESULT", b'{"POWER": "ON"}', NOW)
    data, reply = items
    assert isinstance(data, Data)
    assert [(r.sensor, r.value) for r in data.report.readings] == [("relay", 1.0)]
    assert reply == CommandReply(PLUG, None, state={"relay": "ON"})


def test_hass_availability_is_liveness() -> None:
    """The availability topic's payloads bring the device online or offline, once each."""
    hass = _plug()
    assert hass.map("tasmota_4F2A/tele/LWT", b"Online", NOW) == [Liveness(PLUG, True, NOW)]
    assert hass.map("tasmota_4F2A/tele/LWT", b"Offline", NOW) == [Liveness(PLUG, False, NOW)]


def test_hass_removed_entity_is_forgotten() -> None:
    """An empty config removes the entity: its topic no longer maps, commands fail."""
    hass = _plug()
    assert hass.map("homeassistant/switch/4F2A/relay/config", b"", NOW) == []
    assert hass.map("tasmota_4F2A/stat/RESULT", b'{"POWER": "ON"}', NOW) == []
    with pytest.raises(BadPayload):
        hass.command(PLUG, OutgoingCommand(1, "relay", {"value": "ON"}, NOW))


def test_hass_changed_config_replaces_the_entity() -> None:
    """A new config for the same topic moves the entity to its new state topic."""
    hass = _plug()
    moved = {**RELAY, "stat_t": "tasmota_4F2A/stat/POWER", "val_tpl": "{{ value }}"}
    items = _config(hass, "homeassistant/switch/4F2A/relay/config", moved)
    assert items[1:] == [Watch("tasmota_4F2A/stat/POWER")]
    assert hass.map("tasmota_4F2A/stat/RESULT", b'{"POWER": "ON"}', NOW) == []
    data, _ = hass.map("tasmota_4F2A/stat/POWER", b"OFF", NOW)
    assert isinstance(data, Data)
    assert data.report.readings[0].value == 0.0


def test_hass_unrelated_topics_are_not_data() -> None:
    """Topics neither a discovery config nor learned map to []."""
    hass = _plug()
    assert hass.map("tasmota_4F2A/tele/STATE", b"{}", NOW) == []
    assert hass.map("homeassistant/status", b"online", NOW) == []
    assert hass.map("homeassistant/sensor/a/b/c/config", b"{}", NOW) == []


@pytest.mark.parametrize(
    ("value", "payload"),
    [("ON", b"ON"), ("off", b"OFF"), (True, b"ON"), (False, b"OFF"), ("true", b"ON")],
)
def test_hass_command_publishes_the_switch_payloads(value: object, payload: bytes) -> None:
    """A switch command publishes payload_on/payload_off to its command topic."""
    cmd = OutgoingCommand(1, "relay", {"value": value}, NOW)
    assert _plug().command(PLUG, cmd) == [Publish("tasmota_4F2A/cmnd/POWER", payload)]


def test_hass_command_uses_custom_payloads() -> None:
    """payload_on/payload_off set in the config are what is published."""
    hass = HassConvention()
    config = {"cmd_t": "valve/set", "pl_on": 1, "pl_off": 0, "dev": {"name": "valve"}}
    _config(hass, "homeassistant/switch/valve/main/config", config)
    cmd = OutgoingCommand(1, "main", {"value": "ON"}, NOW)
    assert hass.command(DeviceRef(name="valve"), cmd) == [Publish("valve/set", b"1")]


@pytest.mark.parametrize(
    ("device", "action", "params"),
    [
        (PLUG, "relay", {"value": "HALF"}),
        (PLUG, "relay", {}),
        (PLUG, "AM2301_Temperature", {"value": "ON"}),
        (PLUG, "pump", {"value": "ON"}),
        (DeviceRef(name="other"), "relay", {"value": "ON"}),
    ],
)
def test_hass_command_refuses_unknown_entities_and_values(
    device: DeviceRef, action: str, params: dict[str, object]
) -> None:
    """Entities without a command topic, unknown ones and non-switch values fail."""
    with pytest.raises(BadPayload):
        _plug().command(device, OutgoingCommand(1, action, params, NOW))


@pytest.mark.parametrize(
    ("value", "state", "done"),
    [
        ("ON", {"relay": "ON"}, True),
        (True, {"relay": "ON"}, True),
        ("off", {"relay": "OFF"}, True),
        ("ON", {"relay": "OFF"}, False),
        ("ON", {"other": "ON"}, False),
        ("HALF", {"relay": "ON"}, False),
    ],
)
def test_hass_completes_when_the_state_shows_the_value(
    value: object, state: dict[str, object], done: bool
) -> None:
    """The switch's reported ON/OFF completes the command that asked for it."""
    cmd = OutgoingCommand(1, "relay", {"value": value}, NOW)
    assert _plug().completes(cmd, CommandReply(PLUG, None, state=state)) is done


@pytest.mark.parametrize(
    ("template", "payload", "value"),
    [
        ("{{ value }}", "21.5", "21.5"),
        ("{{value}}", "x", "x"),
        ("{{ value | float }}", "21.5", 21.5),
        ("{{ value | int }}", "21.7", 21),
        ("{{ value_json.a.b }}", '{"a": {"b": 3}}', 3),
        ("{{ value_json['a'] }}", '{"a": 4}', 4),
        ('{{ value_json["a"]["b c"] }}', '{"a": {"b c": 5}}', 5),
        ("{{ value_json['A'].T | float | round(1) }}", '{"A": {"T": "21.26"}}', 21.3),
        ("{{ value_json.list[1] }}", '{"list": [7, 8]}', 8),
        ("  {{ value_json.t | round(0) }}  ", '{"t": 2.6}', 3.0),
    ],
)
def test_hass_template_subset_renders(template: str, payload: str, value: object) -> None:
    """value, value_json paths and the float/int/round filters render like HA's."""
    assert parse(template).render(payload, lambda: orjson.loads(payload)) == value


@pytest.mark.parametrize(
    "template",
    [
        "{{ value_json.t * 10 }}",
        "{{ value | float(0) }}",
        "{{ value | lower }}",
        "{{ value }} °C",
        "{{ value }}{{ value }}",
        "{% if value %}1{% endif %}",
        "{{ states('sensor.x') }}",
        "{{ value.x }}",
        "{{ value_json['a }}",
        "{{ value_jsonx }}",
        "value",
        "{{ value_json." + "a." * 100 + "b }}",
    ],
)
def test_hass_unsupported_template_fails_at_config_time(template: str) -> None:
    """A template outside the subset makes its config a BadPayload naming the template."""
    config = {"state_topic": "t", "value_template": template}
    with pytest.raises(BadPayload, match="template"):
        _config(HassConvention(), "homeassistant/sensor/x/config", config)


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("homeassistant/sensor/x/config", b"{bad"),
        ("homeassistant/sensor/x/config", b"[]"),
        ("homeassistant/sensor/x/config", b"{}"),
        ("homeassistant/sensor/x/config", b'{"state_topic": 5}'),
        ("homeassistant/sensor/x/config", b'{"state_topic": ""}'),
        ("homeassistant/sensor/x/config", b'{"state_topic": "a/+/b"}'),
        ("homeassistant/sensor/x/config", b'{"state_topic": "a", "unit_of_measurement": []}'),
        ("homeassistant/sensor/x/config", b'{"state_topic": "a", "value_template": 3}'),
        ("homeassistant/sensor/x/config", b'{"state_topic": "a", "device": []}'),
        ("homeassistant/sensor/x/config", b'{"~": 1, "state_topic": "~/a"}'),
        ("homeassistant/binary_sensor/x/config", b'{"state_topic": "a", "payload_on": {}}'),
        ("homeassistant/switch/x/config", b'{"cmd_t": "a", "stat_on": null}'),
        ("homeassistant/sensor/___/config", b'{"state_topic": "a"}'),
        ("homeassistant/sensor/x/config", b"\xff"),
        ("tasmota_4F2A/tele/SENSOR", b"{bad"),
        ("tasmota_4F2A/tele/SENSOR", b'{"AM2301": {}}'),
        ("tasmota_4F2A/tele/SENSOR", b'{"AM2301": {"Temperature": "warm"}}'),
        ("tasmota_4F2A/tele/SENSOR", b'{"AM2301": {"Temperature": "nan", "Humidity": [1]}}'),
        ("tasmota_4F2A/tele/SENSOR", b'{"AM2301": [1]}'),
        ("tasmota_4F2A/tele/SENSOR", b"\xff"),
        ("tasmota_4F2A/stat/RESULT", b'{"POWER": "HALF"}'),
        ("tasmota_4F2A/stat/RESULT", b'{"POWER": {"a": 1}}'),
        ("tasmota_4F2A/tele/LWT", b"Sleeping"),
    ],
)
def test_hass_malformed_payloads_raise_bad_payload(topic: str, payload: bytes) -> None:
    """Every malformed config or state message raises BadPayload, never another exception."""
    with pytest.raises(BadPayload):
        _plug().map(topic, payload, NOW)


# Generic commands (the dashboard's on, off, toggle), in Home Assistant's terms. The
# switch is HA's own discovery example (home-assistant/home-assistant.io,
# source/_integrations/mqtt.markdown, "Entities with command topics"; commanded there with
# `mosquitto_pub -t "homeassistant/switch/irrigation/set" -m ON` and reporting ON/OFF on
# its state topic; payload_on/payload_off default to ON/OFF, switch.mqtt.markdown).
IRRIGATION = {
    "name": "Irrigation",
    "command_topic": "homeassistant/switch/irrigation/set",
    "state_topic": "homeassistant/switch/irrigation/state",
    "unique_id": "irr01ad",
    "device": {"identifiers": ["garden01ad"], "name": "Garden"},
}
GARDEN = DeviceRef(name="Garden")


def _garden(config: dict[str, object] = IRRIGATION) -> HassConvention:
    hass = HassConvention()
    _config(hass, "homeassistant/switch/irrigation/config", config)
    return hass


@pytest.mark.parametrize(("action", "payload"), [("on", b"ON"), ("off", b"OFF")])
def test_hass_generic_command_is_the_switch_payload(action: str, payload: bytes) -> None:
    """on/off publish the device's switch's payload_on/payload_off to its command_topic."""
    cmd = OutgoingCommand(3, action, {}, NOW)
    assert _garden().command(GARDEN, cmd) == [
        Publish("homeassistant/switch/irrigation/set", payload)
    ]


def test_hass_generic_command_completes_on_the_state_topic() -> None:
    """on completes when the switch's state topic says ON, not OFF; the state is also the
    device's `power` actuator state."""
    hass = _garden()
    on = OutgoingCommand(3, "on", {}, NOW)
    hass.command(GARDEN, on)
    [data, off] = hass.map("homeassistant/switch/irrigation/state", b"OFF", NOW)
    assert isinstance(data, Data)
    assert data.report.status is not None
    assert data.report.status.actuator == {"power": "off"}
    [_, now_on] = hass.map("homeassistant/switch/irrigation/state", b"ON", NOW)
    assert isinstance(off, CommandReply)
    assert isinstance(now_on, CommandReply)
    assert not hass.completes(on, off)
    assert hass.completes(on, now_on)


def test_hass_generic_toggle_sends_the_opposite_of_the_last_state() -> None:
    """toggle needs a reported state (HA switches have no toggle payload) and sends its
    opposite."""
    hass = _garden()
    toggle = OutgoingCommand(4, "toggle", {}, NOW)
    with pytest.raises(BadPayload, match="has not reported its state"):
        hass.command(GARDEN, toggle)
    hass.map("homeassistant/switch/irrigation/state", b"ON", NOW)
    assert hass.command(GARDEN, toggle) == [Publish("homeassistant/switch/irrigation/set", b"OFF")]


def test_hass_generic_command_goes_through_a_value_command_template() -> None:
    """A command_template (switch.mqtt.markdown: rendered with `value`, the payload) that
    only places {{ value }} is rendered; any other Jinja fails the command at once."""
    templated = {**IRRIGATION, "command_template": '{"state": "{{ value }}"}'}
    cmd = OutgoingCommand(3, "on", {}, NOW)
    assert _garden(templated).command(GARDEN, cmd) == [
        Publish("homeassistant/switch/irrigation/set", b'{"state": "ON"}')
    ]
    jinja = {**IRRIGATION, "command_template": "{{ value | lower }}"}
    with pytest.raises(BadPayload, match="command_template"):
        _garden(jinja).command(GARDEN, cmd)


@pytest.mark.parametrize(
    ("device", "params", "why"),
    [
        (GARDEN, {"position": 40}, "has reported no number with a command_topic"),
        (DeviceRef(name="Shed"), {}, "has reported no switch"),
        (GARDEN, {"target": "pump"}, "no switch with a command_topic 'pump'"),
    ],
)
def test_hass_generic_command_it_cannot_place_fails_at_once(
    device: DeviceRef, params: dict[str, object], why: str
) -> None:
    """A set without a number, a device without a commandable switch, or an unknown
    target fail at once."""
    action = "set" if "position" in params else "on"
    with pytest.raises(BadPayload, match=why):
        _garden().command(device, OutgoingCommand(3, action, params, NOW))


# A number: HA's MQTT number example (home-assistant/home-assistant.io,
# source/_integrations/number.mqtt.markdown: `command_topic: my-device/threshold`) in
# discovery form, with the state_topic and unit_of_measurement options that page lists.
THRESHOLD = {
    "name": "Threshold",
    "command_topic": "my-device/threshold",
    "state_topic": "my-device/threshold/state",
    "unit_of_measurement": "%",
    "device": {"identifiers": ["my-device"], "name": "My device"},
}
MY_DEVICE = DeviceRef(name="My_device")


def _threshold(config: dict[str, object] = THRESHOLD) -> HassConvention:
    hass = HassConvention()
    _config(hass, "homeassistant/number/my-device/threshold/config", config)
    return hass


def test_hass_number_is_a_reading_a_position_and_takes_a_generic_set() -> None:
    """A number's state is a reading and (unit %) the `position`; `set` publishes the
    value to its command_topic (through a {{ value }} command_template) and the state
    showing it completes the command."""
    hass = _threshold()
    [data, _] = hass.map("my-device/threshold/state", b"20", NOW)
    assert isinstance(data, Data)
    assert [(r.sensor, r.value) for r in data.report.readings] == [("threshold", 20.0)]
    assert data.report.status is not None
    assert data.report.status.actuator == {"position": 20.0}
    cmd = OutgoingCommand(8, "set", {"position": 40}, NOW)
    assert hass.command(MY_DEVICE, cmd) == [Publish("my-device/threshold", b"40")]
    [_, reply] = hass.map("my-device/threshold/state", b"40.0", NOW)
    assert isinstance(reply, CommandReply)
    assert hass.completes(cmd, reply)
    templated = _threshold({**THRESHOLD, "cmd_tpl": '{"threshold": {{ value }}}'})
    assert templated.command(MY_DEVICE, OutgoingCommand(9, "set", {"value": 21.5}, NOW)) == [
        Publish("my-device/threshold", b'{"threshold": 21.5}')
    ]
