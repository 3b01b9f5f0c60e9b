"""The Homie 5 MQTT convention: $state, $description and property values."""

from __future__ import annotations

import pytest

from farmbridge.domain import DeviceState, EventLevel
from farmbridge.domain.errors import BadPayload
from farmbridge.domain.mqtt import Publish
from farmbridge.domain.reports import CommandReply, Data, DeviceRef, Discovered, Liveness
from farmbridge.ingest.mqtt.conventions.base import OutgoingCommand
from farmbridge.ingest.mqtt.conventions.homie import HomieConvention

NOW = 1_767_225_600_000
DEVICE = DeviceRef(name="greenhouse-1")
DESCRIPTION = b"""{
  "homie": "5.0", "version": 3, "name": "Greenhouse 1",
  "nodes": {
    "climate": {"name": "Climate", "properties": {
      "temperature": {"datatype": "float", "unit": "\xc2\xb0C"},
      "humidity": {"datatype": "integer", "unit": "%"},
      "mode": {"datatype": "enum", "format": "auto,manual", "settable": true}
    }},
    "vent": {"properties": {
      "open": {"datatype": "boolean", "settable": true},
      "angle": {"datatype": "float", "settable": true}
    }}
  }
}"""


def _described() -> HomieConvention:
    homie = HomieConvention()
    homie.map("5/greenhouse-1/$description", DESCRIPTION, NOW)
    return homie


def test_homie_filters_use_version_5() -> None:
    """It subscribes to $state, $description and property values of v5 devices."""
    assert HomieConvention().filters() == ["5/+/$state", "5/+/$description", "5/+/+/+"]


@pytest.mark.parametrize(
    ("state", "online"),
    [("ready", True), ("disconnected", False), ("sleeping", False), ("lost", False)],
)
def test_homie_state_is_liveness_online_only_when_ready(state: str, online: bool) -> None:
    """ready is online; disconnected, sleeping and lost are offline."""
    assert HomieConvention().map("5/greenhouse-1/$state", state.encode(), NOW) == [
        Liveness(DEVICE, online, NOW)
    ]


def test_homie_init_state_and_cleared_state_are_not_data() -> None:
    """A device starting up, or a cleared retained $state, maps to []."""
    assert HomieConvention().map("5/greenhouse-1/$state", b"init", NOW) == []
    assert HomieConvention().map("5/greenhouse-1/$state", b"", NOW) == []


def test_homie_description_discovers_numeric_and_boolean_properties() -> None:
    """Sensors are node.property for integer, float and boolean properties, with units."""
    [item] = HomieConvention().map("5/greenhouse-1/$description", DESCRIPTION, NOW)
    assert item == Discovered(
        DEVICE,
        "Greenhouse 1",
        {
            "climate.temperature": "°C",
            "climate.humidity": "%",
            "vent.open": "",
            "vent.angle": "",
        },
    )


def test_homie_property_value_is_a_reading_and_a_state_report() -> None:
    """A value is one reading (with the described unit) plus the raw value for commands."""
    items = _described().map("5/greenhouse-1/climate/temperature", b"21.5", NOW)
    data, reply = items
    assert isinstance(data, Data)
    assert [(r.sensor, r.value, r.ts_ms) for r in data.report.readings] == [
        ("climate.temperature", 21.5, NOW)
    ]
    assert data.units == {"climate.temperature": "°C"}
    assert reply == CommandReply(DEVICE, None, state={"climate/temperature": "21.5"})


def test_homie_boolean_value_is_one_or_zero() -> None:
    """Homie booleans (true/false) read as 1/0."""
    data, _ = _described().map("5/greenhouse-1/vent/open", b"true", NOW)
    assert isinstance(data, Data)
    assert data.report.readings[0].value == 1.0


def test_homie_non_numeric_property_is_only_a_state_report() -> None:
    """A described enum value is no reading, but can still complete a command."""
    assert _described().map("5/greenhouse-1/climate/mode", b"auto", NOW) == [
        CommandReply(DEVICE, None, state={"climate/mode": "auto"})
    ]


def test_homie_undescribed_property_is_read_when_numeric() -> None:
    """Before $description arrives, numeric values are readings and text only state."""
    data, _ = HomieConvention().map("5/greenhouse-1/soil/moisture", b"40", NOW)
    assert isinstance(data, Data)
    assert data.units == {}
    assert HomieConvention().map("5/greenhouse-1/info/name", b"Box", NOW) == [
        CommandReply(DEVICE, None, state={"info/name": "Box"})
    ]


@pytest.mark.parametrize(
    "topic",
    [
        "5/greenhouse-1/vent/open/set",
        "5/greenhouse-1/vent/open/$target",
        "5/greenhouse-1/$log",
        "5/$broadcast/alert/x",
        "4/greenhouse-1/$state",
        "5/greenhouse-1",
    ],
)
def test_homie_ignores_set_topics_and_other_attributes(topic: str) -> None:
    """/set, $target, $log, broadcasts and other versions map to []."""
    assert HomieConvention().map(topic, b"ready", NOW) == []


def test_homie_cleared_description_or_value_is_not_data() -> None:
    """Empty retained payloads (a device being removed) map to []."""
    homie = _described()
    assert homie.map("5/greenhouse-1/$description", b"", NOW) == []
    assert homie.map("5/greenhouse-1/climate/temperature", b"", NOW) == []


@pytest.mark.parametrize(
    ("action", "value", "payload"),
    [
        ("vent/open", True, b"true"),
        ("vent/open", False, b"false"),
        ("vent/angle", 30.0, b"30"),
        ("vent/angle", 12.5, b"12.5"),
        ("climate/mode", "manual", b"manual"),
    ],
)
def test_homie_command_sets_the_property(action: str, value: object, payload: bytes) -> None:
    """A `node/property` action publishes its value as text to the property's /set topic."""
    cmd = OutgoingCommand(1, action, {"value": value}, NOW)
    assert _described().command(DEVICE, cmd) == [Publish(f"5/greenhouse-1/{action}/set", payload)]


def test_homie_command_action_may_be_the_sensor_name() -> None:
    """`node.property` (what the API's action names allow) is the same property."""
    cmd = OutgoingCommand(1, "vent.angle", {"value": 30}, NOW)
    homie = _described()
    assert homie.command(DEVICE, cmd) == [Publish("5/greenhouse-1/vent/angle/set", b"30")]
    assert homie.completes(cmd, CommandReply(DEVICE, None, state={"vent/angle": "30"}))


@pytest.mark.parametrize(
    ("action", "params"),
    [
        ("vent", {"value": 1}),
        ("vent/open/x", {"value": 1}),
        ("vent/+", {"value": 1}),
        ("vent/open", {}),
        ("vent/open", {"value": None}),
        ("vent/open", {"value": [1]}),
        ("vent/angle", {"value": float("inf")}),
        ("climate/temperature", {"value": 20}),
    ],
)
def test_homie_command_refuses_what_homie_cannot_express(
    action: str, params: dict[str, object]
) -> None:
    """Bad actions, missing or odd values and read-only properties fail the command."""
    with pytest.raises(BadPayload):
        _described().command(DEVICE, OutgoingCommand(1, action, params, NOW))


@pytest.mark.parametrize(
    ("value", "reported", "done"),
    [
        (True, "true", True),
        (True, "TRUE", True),
        (True, "false", False),
        (30, "30.0", True),
        (30.0, "30", True),
        (30, "31", False),
        ("Manual", "manual", True),
    ],
)
def test_homie_completes_when_the_property_shows_the_value(
    value: object, reported: str, done: bool
) -> None:
    """Values compare numerically when numeric, else as case-insensitive text."""
    cmd = OutgoingCommand(1, "vent/open", {"value": value}, NOW)
    reply = CommandReply(DEVICE, None, state={"vent/open": reported})
    assert HomieConvention().completes(cmd, reply) is done


def test_homie_other_property_does_not_complete() -> None:
    """A report of another property leaves the command open."""
    cmd = OutgoingCommand(1, "vent/open", {"value": True}, NOW)
    reply = CommandReply(DEVICE, None, state={"vent/angle": "true"})
    assert HomieConvention().completes(cmd, reply) is False


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("5/greenhouse-1/$state", b"sleepy"),
        ("5/greenhouse-1/$state", b"READY"),
        ("5/greenhouse-1/$state", b"\xff"),
        ("5/greenhouse-1/$description", b"{nope"),
        ("5/greenhouse-1/$description", b"[]"),
        ("5/greenhouse-1/$description", b'{"name": 5}'),
        ("5/greenhouse-1/$description", b'{"nodes": []}'),
        ("5/greenhouse-1/$description", b'{"nodes": {"n": 1}}'),
        ("5/greenhouse-1/$description", b'{"nodes": {"n": {"properties": {"p": {}}}}}'),
        ("5/greenhouse-1/$description", b'{"nodes": {"n": {"properties": {"p": 1}}}}'),
        (
            "5/greenhouse-1/$description",
            b'{"nodes": {"n": {"properties": {"p": {"datatype": "float", "unit": 1}}}}}',
        ),
        (
            "5/greenhouse-1/$description",
            b'{"nodes": {"n": {"properties": {"p": {"datatype": "float", "settable": 1}}}}}',
        ),
        ("5/greenhouse-1/climate/temperature", b"warm"),
        ("5/greenhouse-1/climate/temperature", b"nan"),
        ("5/greenhouse-1/climate/humidity", b"inf"),
        ("5/greenhouse-1/vent/open", b"\xc3\x28"),
        ("5/___/climate/temperature", b"1"),
    ],
)
def test_homie_malformed_payloads_raise_bad_payload(topic: str, payload: bytes) -> None:
    """Every malformed message raises BadPayload, never another exception."""
    with pytest.raises(BadPayload):
        _described().map(topic, payload, NOW)


# Generic commands (the dashboard's on, off, toggle, set), in Homie's terms. The device is
# the Homie 5 specification's own example (homieiot/convention, convention.md, "Property
# command topic"): `kitchen-light` with a `light` node, a settable boolean `power`
# ("homie/5/kitchen-light/light/power/set <- "true"", answered by
# "homie/5/kitchen-light/light/power -> "true"") and a dimmable `brightness` (0-100%).
KITCHEN = DeviceRef(name="kitchen-light")
KITCHEN_DESCRIPTION = b"""{"homie": "5.0", "version": 3, "name": "Kitchen light",
  "nodes": {"light": {"name": "Light", "properties": {
    "power": {"datatype": "boolean", "settable": true, "retained": true},
    "brightness": {"datatype": "integer", "format": "0:100", "unit": "%", "settable": true}
  }}}}"""


def _kitchen() -> HomieConvention:
    homie = HomieConvention()
    homie.map("5/kitchen-light/$description", KITCHEN_DESCRIPTION, NOW)
    return homie


@pytest.mark.parametrize(
    ("action", "params", "topic", "payload"),
    [
        ("on", {}, "5/kitchen-light/light/power/set", b"true"),
        ("off", {}, "5/kitchen-light/light/power/set", b"false"),
        ("set", {"power": "on"}, "5/kitchen-light/light/power/set", b"true"),
        ("set", {"position": 100}, "5/kitchen-light/light/brightness/set", b"100"),
        (
            "set",
            {"value": 40.0, "target": "light.brightness"},
            "5/kitchen-light/light/brightness/set",
            b"40",
        ),
    ],
)
def test_homie_generic_command_sets_the_described_settable_property(
    action: str, params: dict[str, object], topic: str, payload: bytes
) -> None:
    """on/off set the device's settable boolean true/false, set its settable number."""
    cmd = OutgoingCommand(5, action, params, NOW)
    assert _kitchen().command(KITCHEN, cmd) == [Publish(topic, payload)]


def test_homie_generic_toggle_negates_the_last_reported_state() -> None:
    """toggle sets the opposite of the last value the property reported; it completes
    when the property reports that value."""
    homie = _kitchen()
    toggle = OutgoingCommand(5, "toggle", {}, NOW)
    with pytest.raises(BadPayload, match="has not reported its state"):
        homie.command(KITCHEN, toggle)
    homie.map("5/kitchen-light/light/power", b"true", NOW)
    assert homie.command(KITCHEN, toggle) == [Publish("5/kitchen-light/light/power/set", b"false")]
    [_, still_on] = homie.map("5/kitchen-light/light/power", b"true", NOW)
    [_, off] = homie.map("5/kitchen-light/light/power", b"false", NOW)
    assert isinstance(still_on, CommandReply)
    assert isinstance(off, CommandReply)
    assert not homie.completes(toggle, still_on)
    assert homie.completes(toggle, off)


def test_homie_generic_command_completes_on_the_property_value() -> None:
    """on completes on power "true" (the spec's answer), set on the brightness value."""
    homie = _kitchen()
    on = OutgoingCommand(5, "on", {}, NOW)
    dim = OutgoingCommand(6, "set", {"position": 100}, NOW)
    homie.command(KITCHEN, on)
    homie.command(KITCHEN, dim)
    [_, power] = homie.map("5/kitchen-light/light/power", b"true", NOW)
    [_, brightness] = homie.map("5/kitchen-light/light/brightness", b"100", NOW)
    assert isinstance(power, CommandReply)
    assert isinstance(brightness, CommandReply)
    assert homie.completes(on, power)
    assert not homie.completes(on, brightness)
    assert homie.completes(dim, brightness)


@pytest.mark.parametrize(
    ("homie", "params", "why"),
    [
        (HomieConvention(), {}, "no \\$description"),
        (None, {"target": "light.colour"}, "no settable boolean property 'light/colour'"),
    ],
)
def test_homie_generic_command_it_cannot_place_fails_at_once(
    homie: HomieConvention | None, params: dict[str, object], why: str
) -> None:
    """Without a description, or for a property it does not have, the command fails."""
    convention = homie or _kitchen()
    with pytest.raises(BadPayload, match=why):
        convention.command(KITCHEN, OutgoingCommand(5, "on", params, NOW))


def test_homie_settable_values_are_the_dashboards_actuator_state() -> None:
    """The settable boolean is `power: on`, the settable % number `position`; a value of
    a device whose $state is lost is offline."""
    homie = _kitchen()
    [data, _] = homie.map("5/kitchen-light/light/power", b"true", NOW)
    assert isinstance(data, Data)
    assert data.report.status is not None
    assert (data.report.status.state, data.report.status.actuator) == (
        DeviceState.ONLINE,
        {"power": "on"},
    )
    homie.map("5/kitchen-light/$state", b"lost", NOW)
    [data, _] = homie.map("5/kitchen-light/light/brightness", b"70", NOW)
    assert isinstance(data, Data)
    assert data.report.status is not None
    assert (data.report.status.state, data.report.status.actuator) == (
        DeviceState.OFFLINE,
        {"position": 70.0},
    )


def test_homie_alerts_reach_the_event_log_once() -> None:
    """A raised $alert is a warning event, its removal an info; a retained redelivery of
    the same alert is not logged again. Alert from the spec (homieiot/convention,
    convention.md, "Alert topic"): $alert/battery = "Battery is low, at 8%"."""
    homie = HomieConvention()
    [raised] = homie.map("5/mydevid/$alert/battery", b"Battery is low, at 8%", NOW)
    assert isinstance(raised, Data)
    [event] = raised.report.events
    assert (event.level, event.code, event.message) == (
        EventLevel.WARNING,
        "battery",
        "Battery is low, at 8%",
    )
    assert homie.map("5/mydevid/$alert/battery", b"Battery is low, at 8%", NOW) == []
    [cleared] = homie.map("5/mydevid/$alert/battery", b"", NOW)
    assert isinstance(cleared, Data)
    assert [(e.level, e.code) for e in cleared.report.events] == [
        (EventLevel.INFO, "battery_cleared")
    ]
    assert homie.map("5/mydevid/$alert/battery", b"", NOW) == []
