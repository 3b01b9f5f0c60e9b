"""The MQTT simulator's device side, checked against the bridge's own conventions (no broker).

What a simulated device publishes is fed to the convention the bridge would read it with,
and what the bridge publishes for a command is fed to the simulated device, so these tests
hold the two halves of each convention to each other.
"""

from __future__ import annotations

from typing import Any

import pytest

from farmbridge.config import MqttBinding, Settings
from farmbridge.demo import DEMO_FARM, with_demo_binding
from farmbridge.domain import DeviceState
from farmbridge.domain.mqtt import Publish
from farmbridge.ingest.mqtt.conventions import CONVENTIONS, make_convention
from farmbridge.ingest.mqtt.conventions.base import (
    CommandReply,
    Convention,
    Data,
    DeviceRef,
    Discovered,
    Liveness,
    Mapped,
    OutgoingCommand,
)
from farmbridge.sim.devices import DEMO_DEVICES, DeviceSpec
from farmbridge.sim.greenhouse import Greenhouse
from farmbridge.sim.mqtt import (
    DEFAULT_PREFIXES,
    DIALECTS,
    LOAD_SENSORS,
    Dialect,
    MqttSimulator,
    Outcome,
    Request,
    SimEvent,
    load_devices,
    make_dialect,
)

NOW = 1_767_225_600_000
DEVICES = {d.name: d for d in DEMO_DEVICES}
PUMP, VENT = DEVICES["pump-1"], DEVICES["vent-1"]
READINGS = {"temperature": 21.5, "humidity": 60.25, "co2": 450.0, "light": 1200.0}


def _dialect(convention: str) -> Dialect:
    return make_dialect(convention, farm=DEMO_FARM)


def _feed(dialect: Dialect, convention: Convention, messages: list[Publish]) -> list[Mapped]:
    """What the bridge makes of `messages`, under a binding with the dialect's prefix."""
    out: list[Mapped] = []
    for m in messages:
        assert m.topic.startswith(dialect.prefix), m.topic
        out += convention.map(m.topic[len(dialect.prefix) :], m.payload, NOW)
    return out


def _ref(convention: str, device: DeviceSpec) -> DeviceRef:
    return DeviceRef(name=device.name, farm=DEMO_FARM if convention == "native" else None)


def _readings(mapped: list[Mapped]) -> dict[str, float]:
    return {r.sensor: r.value for m in mapped if isinstance(m, Data) for r in m.report.readings}


def _online(mapped: list[Mapped]) -> set[bool]:
    """Every online/offline the bridge reads, from liveness or from a status."""
    seen = {m.online for m in mapped if isinstance(m, Liveness)}
    for m in mapped:
        if isinstance(m, Data) and m.report.status is not None:
            seen.add(m.report.status.state is DeviceState.ONLINE)
    return seen


@pytest.mark.parametrize("convention", sorted(DIALECTS))
def test_simulated_readings_reach_the_bridge_under_the_seeded_sensor_names(
    convention: str,
) -> None:
    """Every sensor of the demo's climate node arrives, named as the demo seeds it."""
    dialect, bridge = _dialect(convention), make_convention(convention)
    climate = DEVICES["climate-1"]
    _feed(dialect, bridge, dialect.birth(climate, {}, NOW))  # discovery, where there is one
    mapped = _feed(dialect, bridge, dialect.telemetry(climate, READINGS, {}, NOW, "m-1"))
    expected = {dialect.sensor_name(climate, s): READINGS[s.name] for s in climate.sensors}
    assert _readings(mapped) == expected
    assert {m.device.name for m in mapped if isinstance(m, Data)} == {"climate-1"}


@pytest.mark.parametrize("convention", sorted(DIALECTS))
def test_birth_says_online_and_the_will_or_farewell_says_offline(convention: str) -> None:
    """The bridge reads a connecting device as online and a vanished one as offline."""
    dialect, bridge = _dialect(convention), make_convention(convention)
    assert _online(_feed(dialect, bridge, dialect.birth(PUMP, {"power": "off"}, NOW))) == {True}
    will = dialect.will(PUMP)
    if dialect.shared:
        assert will is None  # a gateway speaks for many devices; its will could name one
    else:
        assert will is not None
        assert will.retain
        assert _online(_feed(dialect, bridge, [will])) == {False}
    assert _online(_feed(dialect, bridge, dialect.farewell(PUMP, {}, NOW))) == {False}


COMMANDS = [
    ("native", PUMP, "on", {}, "on"),
    ("native", VENT, "set", {"position": 40}, "set"),
    ("thingsboard", PUMP, "on", {}, "on"),
    ("thingsboard", VENT, "set", {"position": 40}, "set"),
    ("homie", PUMP, "pump.power", {"value": True}, "on"),
    ("homie", PUMP, "pump/power", {"value": False}, "off"),
    ("homie", VENT, "vent.target", {"value": 40}, "set"),
    ("tasmota", PUMP, "POWER", {"value": "ON"}, "on"),
    ("tasmota", PUMP, "POWER1", {"value": "TOGGLE"}, "toggle"),
    ("tasmota", VENT, "ShutterPosition1", {"value": 40}, "set"),
    ("tasmota", VENT, "ShutterOpen1", {}, "open"),
    ("esphome", PUMP, "pump", {"value": "ON"}, "on"),
    ("esphome", VENT, "vent", {"value": "OFF"}, "close"),
    ("hass", PUMP, "power", {"value": "ON"}, "on"),
    ("hass", VENT, "open", {"value": "OFF"}, "close"),
    # The dashboard's generic commands, translated by each convention.
    ("tasmota", PUMP, "on", {}, "on"),
    ("tasmota", PUMP, "toggle", {}, "toggle"),
    ("tasmota", VENT, "set", {"position": 40}, "set"),
    ("esphome", PUMP, "off", {}, "off"),
    ("esphome", VENT, "set", {"position": 40}, "set"),
    ("homie", PUMP, "on", {}, "on"),
    ("homie", VENT, "set", {"position": 40}, "set"),
    ("hass", PUMP, "on", {}, "on"),
    ("hass", VENT, "off", {}, "close"),
    ("thingsboard", PUMP, "off", {}, "off"),
    ("thingsboard", VENT, "set", {"position": 40}, "set"),
    ("zigbee2mqtt", PUMP, "state", {"value": "ON"}, "on"),
    ("zigbee2mqtt", PUMP, "state", {}, "toggle"),
    ("zigbee2mqtt", VENT, "position", {"value": 40}, "set"),
]


@pytest.mark.parametrize(
    ("convention", "device", "action", "params", "model_action"),
    COMMANDS,
    ids=[f"{c[0]}-{c[1].name}-{c[2]}" for c in COMMANDS],
)
def test_a_command_from_the_bridge_runs_and_its_answer_completes_it(
    convention: str, device: DeviceSpec, action: str, params: dict[str, Any], model_action: str
) -> None:
    """The device reads the bridge's command as a model action, and the bridge reads the
    device's answer as completing that command."""
    dialect, bridge = _dialect(convention), make_convention(convention)
    model = Greenhouse(seed=1, start_s=NOW / 1000)
    assert device.actuator is not None
    state = model.actuator_state(device.actuator)
    _feed(dialect, bridge, dialect.birth(device, state, NOW))  # hass learns its switches here
    cmd = OutgoingCommand(42, action, params, NOW + 60_000)
    requests = []
    for p in bridge.command(_ref(convention, device), cmd):
        topic = dialect.prefix + p.topic
        assert any(_matches(f, topic) for f in dialect.subscriptions(device)), topic
        request = dialect.command(device, topic, p.payload, state, NOW)
        if request is not None:
            requests.append(request)
    [request] = requests
    assert request.error is None
    assert request.action == model_action
    outcome = Outcome(True, model.apply(device.actuator, model_action, request.params))
    after = model.actuator_state(device.actuator)
    replies = [
        m
        for m in _feed(dialect, bridge, dialect.reply(device, request, outcome, after, NOW))
        if isinstance(m, CommandReply)
    ]
    assert replies, "the bridge read no answer"
    assert any(
        (r.command_id == 42 and r.ok) or (r.command_id is None and bridge.completes(cmd, r))
        for r in replies
    )


def _matches(topic_filter: str, topic: str) -> bool:
    f, t = topic_filter.split("/"), topic.split("/")
    return len(f) == len(t) and all(a in ("+", b) for a, b in zip(f, t, strict=True))


def test_native_telemetry_carries_a_message_id_for_dedup() -> None:
    """A redelivered native report is recognisable by the message id it carries."""
    dialect, bridge = _dialect("native"), make_convention("native")
    [message] = dialect.telemetry(DEVICES["soil-1"], {"soil_moisture": 40.0}, {}, NOW, "sim-x-7")
    [data] = _feed(dialect, bridge, [message])
    assert isinstance(data, Data)
    assert data.report.message_id == "sim-x-7"
    assert message.topic == "farmbridge/greenhouse-1/soil-1/telemetry"


def test_native_expired_command_is_answered_with_a_failed_ack() -> None:
    """A command past its expiry is refused, and the ack names it and says why."""
    dialect, bridge = _dialect("native"), make_convention("native")
    [p] = bridge.command(_ref("native", PUMP), OutgoingCommand(7, "on", {}, NOW - 1))
    request = dialect.command(PUMP, dialect.prefix + p.topic, p.payload, {}, NOW)
    assert request is not None
    assert request.error == "expired before it reached the device"
    [reply] = _feed(
        dialect, bridge, dialect.reply(PUMP, request, Outcome(False, request.error), {}, NOW)
    )
    assert isinstance(reply, CommandReply)
    assert (reply.command_id, reply.ok, reply.detail) == (7, False, request.error)


def test_native_command_for_another_device_is_not_taken() -> None:
    """A device only reads commands on its own topic."""
    dialect = _dialect("native")
    topic = "farmbridge/greenhouse-1/fan-1/commands"
    assert dialect.command(PUMP, topic, b'{"id": 1, "action": "on"}', {}, NOW) is None


def test_thingsboard_refusal_fails_the_rpc_with_its_reason() -> None:
    """A gateway RPC the device cannot run is answered with an error naming why."""
    dialect, bridge = _dialect("thingsboard"), make_convention("thingsboard")
    request = Request("pump-1", "dance", {}, id=9)
    [reply] = _feed(dialect, bridge, dialect.reply(PUMP, request, Outcome(False, "no"), {}, NOW))
    assert isinstance(reply, CommandReply)
    assert (reply.command_id, reply.ok, reply.detail) == (9, False, "no")


def test_thingsboard_gateway_skips_its_own_replies_and_other_devices() -> None:
    """On the shared RPC topic a device takes only requests that name it."""
    dialect = _dialect("thingsboard")
    own_reply = b'{"device": "pump-1", "id": 3, "data": {"success": true}}'
    other = b'{"device": "fan-1", "data": {"id": 4, "method": "on", "params": {}}}'
    assert dialect.command(PUMP, "v1/gateway/rpc", own_reply, {}, NOW) is None
    assert dialect.command(PUMP, "v1/gateway/rpc", other, {}, NOW) is None
    assert dialect.subscriptions(PUMP) == dialect.subscriptions(VENT) == ["v1/gateway/rpc"]


def test_tasmota_unknown_command_is_answered_without_completing_anything() -> None:
    """Tasmota answers an unknown command with Command Unknown, which completes no command."""
    dialect, bridge = _dialect("tasmota"), make_convention("tasmota")
    request = dialect.command(PUMP, "cmnd/pump-1/Dance", b"1", {"power": "off"}, NOW)
    assert request == Request("Dance", error="Unknown")
    outcome = Outcome(False, "Unknown")
    [reply, _warning] = _feed(
        dialect, bridge, dialect.reply(PUMP, request, outcome, {"power": "off"}, NOW)
    )
    assert isinstance(reply, CommandReply)
    assert reply.state == {"Command": "Unknown"}
    assert not bridge.completes(OutgoingCommand(1, "Dance", {"value": 1}, NOW), reply)


def test_tasmota_power_without_a_value_is_a_query_of_the_relay() -> None:
    """An empty POWER asks for the state; the answer completes the query."""
    dialect, bridge = _dialect("tasmota"), make_convention("tasmota")
    request = dialect.command(PUMP, "cmnd/pump-1/POWER", b"", {"power": "on"}, NOW)
    assert request == Request("POWER")
    [reply, _] = _feed(
        dialect, bridge, dialect.reply(PUMP, request, Outcome(True, ""), {"power": "on"}, NOW)
    )
    assert isinstance(reply, CommandReply)
    assert reply.state == {"POWER": "ON"}
    assert bridge.completes(OutgoingCommand(1, "POWER", {}, NOW), reply)


def test_esphome_and_hass_devices_stay_silent_about_a_bad_command() -> None:
    """ESPHome and Home Assistant devices ignore a payload they cannot use."""
    for convention in ("esphome", "hass"):
        dialect = _dialect(convention)
        request = Request("x", error="bad")
        assert dialect.reply(PUMP, request, Outcome(False, "bad"), {"power": "off"}, NOW) == []


def test_homie_description_announces_the_seeded_sensor_names() -> None:
    """Homie's $description registers the sensors under the names the demo seeds."""
    dialect, bridge = _dialect("homie"), make_convention("homie")
    soil = DEVICES["soil-1"]
    discovered = [
        m for m in _feed(dialect, bridge, dialect.birth(soil, {}, NOW)) if isinstance(m, Discovered)
    ]
    assert [d.sensors for d in discovered] == [{"sensors.soil-moisture": "%"}]
    assert dialect.sensor_name(soil, soil.sensors[0]) == "sensors.soil-moisture"


def test_homie_refusal_is_logged_not_answered() -> None:
    """A value Homie cannot set is refused on $log, which completes nothing."""
    dialect, bridge = _dialect("homie"), make_convention("homie")
    request = dialect.command(PUMP, "homie/5/pump-1/pump/power/set", b"maybe", {}, NOW)
    assert request is not None
    assert request.error is not None
    [log] = dialect.reply(PUMP, request, Outcome(False, request.error), {}, NOW)
    assert log.topic == "homie/5/pump-1/$log/warn"
    assert _feed(dialect, bridge, [log]) == []


def test_native_events_are_stored_as_events() -> None:
    """Model events reach the bridge as native events with level, code and time."""
    dialect, bridge = _dialect("native"), make_convention("native")
    events = [SimEvent("warning", "soil_dry", "Soil dry: 19.5 %", NOW - 5)]
    [data] = _feed(dialect, bridge, dialect.events(DEVICES["soil-1"], events))
    assert isinstance(data, Data)
    [event] = data.report.events
    assert (event.level.value, event.code, event.message, event.ts_ms) == (
        "warning",
        "soil_dry",
        "Soil dry: 19.5 %",
        NOW - 5,
    )


def test_homie_alerts_are_raised_and_cleared() -> None:
    """A warning raises a retained Homie alert; its `_cleared` event clears it."""
    dialect = _dialect("homie")
    raised, cleared = dialect.events(
        DEVICES["soil-1"],
        [
            SimEvent("warning", "soil_dry", "Soil dry", NOW),
            SimEvent("info", "soil_dry_cleared", "Soil dry no more", NOW),
        ],
    )
    assert (raised.topic, raised.payload, raised.retain) == (
        "homie/5/soil-1/$alert/soil-dry",
        b"Soil dry",
        True,
    )
    assert (cleared.topic, cleared.payload) == ("homie/5/soil-1/$alert/soil-dry", b"")


# Conventions the simulator does not speak yet (docs/mqtt.md, "Demo and simulator").
NOT_SIMULATED = {"shelly"}


def test_every_bridge_convention_has_a_simulated_device_side() -> None:
    """The simulator speaks each convention the bridge reads, with a default prefix, but
    the ones listed as not simulated yet."""
    assert set(DIALECTS) == set(CONVENTIONS) - NOT_SIMULATED == set(DEFAULT_PREFIXES)


def test_make_dialect_rejects_an_unknown_convention() -> None:
    """An unknown convention name is refused, listing the known ones."""
    with pytest.raises(ValueError, match="known: esphome, hass"):
        make_dialect("zigbee", farm="f")


def test_a_prefix_moves_every_topic() -> None:
    """Every topic a device publishes or subscribes to sits under the given prefix."""
    for convention in ("native", "tasmota", "homie", "esphome", "thingsboard"):
        dialect = make_dialect(convention, farm="f", prefix="site-9/")
        messages = [
            *dialect.birth(PUMP, {"power": "on"}, NOW),
            *dialect.telemetry(DEVICES["climate-1"], READINGS, {}, NOW, "m"),
        ]
        topics = [m.topic for m in messages] + dialect.subscriptions(PUMP)
        assert all(t.startswith("site-9/") for t in topics), (convention, topics)


def test_load_devices_are_numbered_sensor_nodes() -> None:
    """Load devices are named by their number and measure the first quantities asked for."""
    devices = load_devices(3, sensors=2, name_prefix="d")
    assert [d.name for d in devices] == ["d0", "d1", "d2"]
    assert all(d.kind == "sensor_node" and d.sensors == LOAD_SENSORS[:2] for d in devices)
    with pytest.raises(ValueError, match="at least one device"):
        load_devices(0)
    with pytest.raises(ValueError, match="sensors must be 1 to 5"):
        load_devices(1, sensors=6)


def test_simulator_refuses_bad_settings_before_connecting() -> None:
    """A bad URL, convention or interval fails at construction, not in a background thread."""
    with pytest.raises(ValueError, match="scheme"):
        MqttSimulator(url="http://broker", farm="f")
    with pytest.raises(ValueError, match="unknown MQTT convention"):
        MqttSimulator(url="mqtt://broker", farm="f", convention="zigbee")
    with pytest.raises(ValueError, match="interval_s"):
        MqttSimulator(url="mqtt://broker", farm="f", interval_s=0)


def test_demo_binding_replaces_the_default_and_keeps_configured_ones() -> None:
    """The demo reads its convention for its farm, beside bindings set explicitly only."""
    default = with_demo_binding(Settings(mqtt_url="mqtt://b"), "tasmota")
    assert default.mqtt_bindings == (MqttBinding(convention="tasmota", farm=DEMO_FARM),)
    homie = MqttBinding(convention="homie", prefix="homie/", farm="orchard")
    configured = Settings(mqtt_url="mqtt://b", mqtt_bindings=(homie,))
    assert with_demo_binding(configured, "native").mqtt_bindings == (
        homie,
        MqttBinding(convention="native", prefix="farmbridge/", farm=DEMO_FARM),
    )
