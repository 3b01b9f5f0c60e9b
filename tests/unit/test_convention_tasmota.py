"""The Tasmota MQTT convention: tele/ telemetry, stat/ results and cmnd/ commands."""

from __future__ import annotations

import pytest

from farmbridge.domain import DeviceState, EventLevel
from farmbridge.domain.errors import BadPayload
from farmbridge.domain.mqtt import Publish
from farmbridge.domain.reports import (
    CommandReply,
    Data,
    DeviceRef,
    DeviceReport,
    Liveness,
    ReportedStatus,
)
from farmbridge.ingest.mqtt.conventions.base import OutgoingCommand
from farmbridge.ingest.mqtt.conventions.tasmota import TasmotaConvention

NOW = 1_767_225_600_000
DEVICE = DeviceRef(name="plug_4F2A")
SENSOR = b"""{"Time": "2024-01-01T10:00:00",
  "AM2301": {"Temperature": 21.3, "Humidity": 55.1, "DewPoint": 11.9},
  "BMP280": {"Temperature": 20.9, "Pressure": 1013.2},
  "DS18B20-1": {"Id": "01144A0CB2AA", "Temperature": 19.5},
  "ENERGY": {"TotalStartTime": "2024-01-01T00:00:00", "Total": 1.25, "Power": 40,
             "Voltage": 230, "Current": 0.17, "Factor": 0.98},
  "Switch1": "ON",
  "TempUnit": "C", "PressureUnit": "hPa"}"""


def _map(topic: str, payload: bytes) -> list[object]:
    return list(TasmotaConvention().map(topic, payload, NOW))


def test_tasmota_filters_cover_tele_and_stat() -> None:
    """stat/+/+ also covers stat/+/RESULT, so RESULT is not subscribed twice."""
    assert TasmotaConvention().filters() == [
        "tele/+/SENSOR",
        "tele/+/STATE",
        "tele/+/LWT",
        "stat/+/+",
    ]


def test_tasmota_sensor_reads_every_numeric_leaf_by_its_path() -> None:
    """Numeric leaves become `Sensor.Key` readings with units; Time, *Unit and text are not."""
    [item] = _map("tele/plug_4F2A/SENSOR", SENSOR)
    assert isinstance(item, Data)
    assert item.device == DEVICE
    readings = {r.sensor: r.value for r in item.report.readings}
    assert readings == {
        "AM2301.Temperature": 21.3,
        "AM2301.Humidity": 55.1,
        "AM2301.DewPoint": 11.9,
        "BMP280.Temperature": 20.9,
        "BMP280.Pressure": 1013.2,
        "DS18B20-1.Temperature": 19.5,
        "ENERGY.Total": 1.25,
        "ENERGY.Power": 40.0,
        "ENERGY.Voltage": 230.0,
        "ENERGY.Current": 0.17,
        "ENERGY.Factor": 0.98,
    }
    assert {r.ts_ms for r in item.report.readings} == {NOW}
    assert item.units == {
        "AM2301.Temperature": "°C",
        "AM2301.Humidity": "%",
        "AM2301.DewPoint": "°C",
        "BMP280.Temperature": "°C",
        "BMP280.Pressure": "hPa",
        "DS18B20-1.Temperature": "°C",
        "ENERGY.Total": "kWh",
        "ENERGY.Power": "W",
        "ENERGY.Voltage": "V",
        "ENERGY.Current": "A",
    }


# A Sonoff Dual R3 (two metered channels), captured from tele/tasmota/SENSOR
# (ferrets6/wattson, internal/mqtt/collector_test.go, realPayload).
DUAL_METER = (
    b'{"Time":"2026-09-18T11:19:21","ENERGY":{"TotalStartTime":"2026-09-16T00:00:00",'
    b'"Total":[2.813,0.254],"Yesterday":[1.530,0.125],"Today":[0.772,0.059],"Power":[52,5],'
    b'"ApparentPower":[66,10],"ReactivePower":[40,9],"Factor":[0.79,0.50],"Voltage":235,'
    b'"Current":[0.278,0.044],"BL09XX":{"Temperature":46.5}}}'
)
# A Sonoff NSPanel's SENSOR (smarthomeNG/plugins, tasmota/__init__.py, a comment); Tasmota's
# PID driver quotes the same numbered key (arendst/Tasmota,
# tasmota/tasmota_xdrv_driver/xdrv_49_pid.ino: "ANALOG":{"Temperature1":19.6}).
NSPANEL = (
    b'{"Time":"2022-12-03T13:16:26","ANALOG":{"Temperature1":27.4},'
    b'"ESP32":{"Temperature":37.8},"TempUnit":"C"}'
)


def test_tasmota_sensor_array_is_one_reading_per_channel() -> None:
    """A multi-channel meter's array values become one reading per channel, named by the
    index after the key (HA's Tasmota integration: hatasmota/sensor.py, "Array sensor"),
    each with the key's unit."""
    [item] = _map("tele/tasmota/SENSOR", DUAL_METER)
    assert isinstance(item, Data)
    readings = {r.sensor: r.value for r in item.report.readings}
    assert readings["ENERGY.Power.0"] == 52.0
    assert readings["ENERGY.Power.1"] == 5.0
    assert readings["ENERGY.Total.0"] == 2.813
    assert readings["ENERGY.Total.1"] == 0.254
    assert readings["ENERGY.Current.1"] == 0.044
    assert readings["ENERGY.Voltage"] == 235.0
    assert readings["ENERGY.BL09XX.Temperature"] == 46.5
    assert len(readings) == 2 * 8 + 2
    assert item.units["ENERGY.Power.0"] == item.units["ENERGY.Power.1"] == "W"
    assert item.units["ENERGY.Total.1"] == "kWh"
    assert item.units["ENERGY.Current.0"] == "A"
    assert "ENERGY.Factor.0" not in item.units


def test_tasmota_numbered_key_has_its_quantitys_unit() -> None:
    """Temperature1 (one of several) is a temperature in the unit TempUnit says."""
    [item] = _map("tele/NSPanel1/SENSOR", NSPANEL)
    assert isinstance(item, Data)
    assert {r.sensor: r.value for r in item.report.readings} == {
        "ANALOG.Temperature1": 27.4,
        "ESP32.Temperature": 37.8,
    }
    assert item.units == {"ANALOG.Temperature1": "°C", "ESP32.Temperature": "°C"}


def test_tasmota_sensor_in_fahrenheit_says_so() -> None:
    """TempUnit F gives °F."""
    [item] = _map("tele/plug_4F2A/SENSOR", b'{"SI7021": {"Temperature": 70.1}, "TempUnit": "F"}')
    assert isinstance(item, Data)
    assert item.units == {"SI7021.Temperature": "°F"}


def test_tasmota_sensor_without_numbers_is_not_data() -> None:
    """A SENSOR message of switch states and text only maps to []."""
    assert _map("tele/plug_4F2A/SENSOR", b'{"Time": "2024-01-01T10:00:00", "Switch1": "ON"}') == []


def test_tasmota_state_is_online_with_power_and_rssi() -> None:
    """STATE gives an online status with the relays and dimmer in the domain's words, a
    Wifi.RSSI reading, and a state report that completes commands."""
    [item, reply] = _map(
        "tele/plug_4F2A/STATE",
        b'{"Time": "2024-01-01T10:00:00", "Uptime": "0T01:00:00", "UptimeSec": 3600,'
        b' "POWER1": "ON", "POWER2": "OFF", "Dimmer": 40,'
        b' "Wifi": {"AP": 1, "SSId": "farm", "RSSI": 76, "Signal": -62}}',
    )
    assert isinstance(item, Data)
    status = item.report.status
    assert status is not None
    assert (status.state, status.actuator) == (
        DeviceState.ONLINE,
        {"power": "on", "power2": "off", "value": 40},
    )
    assert isinstance(reply, CommandReply)
    assert reply.state["POWER1"] == "ON"
    assert [(r.sensor, r.value) for r in item.report.readings] == [("Wifi.RSSI", 76.0)]
    assert item.units == {"Wifi.RSSI": "%"}


@pytest.mark.parametrize(("payload", "online"), [(b"Online", True), (b"Offline", False)])
def test_tasmota_lwt_is_liveness(payload: bytes, online: bool) -> None:
    """The plain-text LWT says whether the device is connected."""
    assert _map("tele/plug_4F2A/LWT", payload) == [Liveness(DEVICE, online, NOW)]


def test_tasmota_results_are_state_reports() -> None:
    """stat/RESULT JSON, a plain stat/POWER and a SetOption4 JSON topic all report state,
    and the actuator state they show."""

    def status(actuator: dict[str, object]) -> Data:
        return Data(DEVICE, DeviceReport(status=ReportedStatus(DeviceState.ONLINE, actuator, NOW)))

    assert _map("stat/plug_4F2A/RESULT", b'{"POWER": "ON", "Dimmer": 40}') == [
        CommandReply(DEVICE, None, state={"POWER": "ON", "Dimmer": 40}),
        status({"power": "on", "value": 40}),
    ]
    assert _map("stat/plug_4F2A/POWER1", b"OFF") == [
        CommandReply(DEVICE, None, state={"POWER1": "OFF"}),
        status({"power": "off"}),
    ]
    assert _map("stat/plug_4F2A/DIMMER", b'{"Dimmer": 40}') == [
        CommandReply(DEVICE, None, state={"Dimmer": 40}),
        status({"value": 40}),
    ]
    assert _map("stat/plug_4F2A/RESULT", b'{"Uptime": "0T01:00:00"}') == [
        CommandReply(DEVICE, None, state={"Uptime": "0T01:00:00"})
    ]


@pytest.mark.parametrize(
    "topic",
    ["tele/plug_4F2A/INFO1", "tele/plug_4F2A/HASS_STATE", "cmnd/plug_4F2A/POWER", "tele/x", ""],
)
def test_tasmota_ignores_other_topics(topic: str) -> None:
    """Other tele topics, our own commands and unrelated topics map to []."""
    assert _map(topic, b'{"POWER": "ON"}') == []


@pytest.mark.parametrize(
    ("action", "params", "payload"),
    [
        ("POWER", {"value": "ON"}, b"ON"),
        ("POWER2", {"value": False}, b"OFF"),
        ("Dimmer", {"value": 40}, b"40"),
        ("Dimmer", {"value": 40.0}, b"40"),
        ("POWER", {}, b""),
        ("POWER", {"value": "TOGGLE"}, b"TOGGLE"),
    ],
)
def test_tasmota_command_publishes_to_cmnd(
    action: str, params: dict[str, object], payload: bytes
) -> None:
    """A command is `cmnd/{topic}/{action}` with its value as plain text (empty: none)."""
    cmd = OutgoingCommand(1, action, params, NOW)
    assert TasmotaConvention().command(DEVICE, cmd) == [
        Publish(f"cmnd/plug_4F2A/{action}", payload)
    ]


@pytest.mark.parametrize(
    ("device", "action", "params"),
    [
        (DEVICE, "POWER/1", {"value": "ON"}),
        (DEVICE, "", {"value": "ON"}),
        (DEVICE, "Power On", {}),
        (DEVICE, "POWER", {"value": {"a": 1}}),
        (DEVICE, "POWER", {"value": float("nan")}),
        (DeviceRef(), "POWER", {}),
        (DeviceRef(name="a+b"), "POWER", {}),
    ],
)
def test_tasmota_command_refuses_what_tasmota_cannot_express(
    device: DeviceRef, action: str, params: dict[str, object]
) -> None:
    """Bad command names, odd values and unaddressable devices fail the command."""
    with pytest.raises(BadPayload):
        TasmotaConvention().command(device, OutgoingCommand(1, action, params, NOW))


@pytest.mark.parametrize(
    ("action", "params", "state", "done"),
    [
        ("POWER", {"value": "ON"}, {"POWER": "ON"}, True),
        ("POWER", {"value": "on"}, {"POWER": "ON"}, True),
        ("POWER", {"value": True}, {"POWER": "ON"}, True),
        ("POWER", {"value": "ON"}, {"POWER": "OFF"}, False),
        ("POWER1", {"value": "ON"}, {"POWER": "ON"}, True),
        ("POWER", {"value": "ON"}, {"POWER1": "ON"}, True),
        ("POWER2", {"value": "ON"}, {"POWER1": "ON"}, False),
        ("POWER", {}, {"POWER": "OFF"}, True),
        ("POWER", {"value": "TOGGLE"}, {"POWER": "OFF"}, True),
        ("Dimmer", {"value": 40}, {"Dimmer": 40}, True),
        ("dimmer", {"value": "40"}, {"Dimmer": 40}, True),
        ("Dimmer", {"value": 40}, {"POWER": "ON"}, False),
    ],
)
def test_tasmota_completes_when_the_result_shows_the_value(
    action: str, params: dict[str, object], state: dict[str, object], done: bool
) -> None:
    """Keys match case-insensitively (POWER is POWER1), values as text or numbers."""
    cmd = OutgoingCommand(1, action, params, NOW)
    assert TasmotaConvention().completes(cmd, CommandReply(DEVICE, None, state=state)) is done


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("tele/plug_4F2A/SENSOR", b"{bad"),
        ("tele/plug_4F2A/SENSOR", b"[]"),
        ("tele/plug_4F2A/SENSOR", b"21.5"),
        ("tele/plug_4F2A/SENSOR", b'{"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}'),
        ("tele/plug_4F2A/SENSOR", b'{"___": 1}'),
        ("tele/plug_4F2A/STATE", b"ON"),
        ("tele/plug_4F2A/STATE", b'{"POWER": {"a": 1}}'),
        ("tele/plug_4F2A/STATE", b'{"Wifi": {"RSSI": "strong"}}'),
        ("tele/plug_4F2A/LWT", b"Maybe"),
        ("tele/plug_4F2A/LWT", b"\xff"),
        ("stat/plug_4F2A/RESULT", b"ON"),
        ("stat/plug_4F2A/RESULT", b"{}"),
        ("stat/plug_4F2A/RESULT", b"[1]"),
        ("stat/plug_4F2A/POWER", b""),
        ("stat/plug_4F2A/POWER", b"{broken"),
        ("stat/plug_4F2A/POWER", b"\xfe\xff"),
        ("tele/___/LWT", b"Online"),
    ],
)
def test_tasmota_malformed_payloads_raise_bad_payload(topic: str, payload: bytes) -> None:
    """Every malformed message raises BadPayload, never another exception."""
    with pytest.raises(BadPayload):
        _map(topic, payload)


# Generic commands (the dashboard's on, off, toggle, set), in Tasmota's terms.

# tele/STATE as a Tasmota 13 plug publishes it, from a public console log
# (https://pastebin.com/4izDrY6W, line 1).
STATE_OFF = (
    b'{"Time":"2024-02-24T22:20:38","Uptime":"0T00:10:11","UptimeSec":611,"Heap":24,'
    b'"SleepMode":"Dynamic","Sleep":50,"LoadAvg":19,"MqttCount":1,"POWER":"OFF",'
    b'"Wifi":{"AP":1,"SSId":"ESP-Network","BSSId":"E6:8D:8C:4B:BE:F7","Channel":3,'
    b'"Mode":"11n","RSSI":44,"Signal":-78,"LinkCount":1,"Downtime":"0T00:00:05"}}'
)
# What ShutterPosition answers on stat/RESULT, as Tasmota's own Matter shutter plugin
# parses it (arendst/Tasmota lib/libesp32/berry_matter/src/embedded/
# Matter_Plugin_2_Shutter.be, "parse the output from `ShutterPosition`").
SHUTTER_RESULT = b'{"Shutter1":{"Position":50,"Direction":0,"Target":50,"Tilt":30}}'


@pytest.mark.parametrize(
    ("action", "params", "topic", "payload"),
    [
        # Power ON / OFF / TOGGLE and Power<x> for relay x: https://tasmota.github.io/docs/Commands/
        ("on", {}, "cmnd/plug_4F2A/POWER", b"ON"),
        ("off", {}, "cmnd/plug_4F2A/POWER", b"OFF"),
        ("toggle", {}, "cmnd/plug_4F2A/POWER", b"TOGGLE"),
        ("on", {"target": 2}, "cmnd/plug_4F2A/POWER2", b"ON"),
        ("set", {"power": "off"}, "cmnd/plug_4F2A/POWER", b"OFF"),
        ("set", {"position": 40}, "cmnd/plug_4F2A/ShutterPosition1", b"40"),
        ("set", {"position": 40, "target": "2"}, "cmnd/plug_4F2A/ShutterPosition2", b"40"),
        ("set", {"value": 75.0}, "cmnd/plug_4F2A/Dimmer", b"75"),
    ],
)
def test_tasmota_generic_command_is_power_shutter_or_dimmer(
    action: str, params: dict[str, object], topic: str, payload: bytes
) -> None:
    """on/off/toggle are POWER<x> ON/OFF/TOGGLE, set a position ShutterPosition<x>, set a
    value Dimmer<x>."""
    cmd = OutgoingCommand(1, action, params, NOW)
    assert TasmotaConvention().command(DEVICE, cmd) == [Publish(topic, payload)]


@pytest.mark.parametrize(
    ("action", "params", "why"),
    [
        ("on", {"target": "pump"}, "not a channel number"),
        ("set", {}, "exactly one of"),
        ("set", {"position": 140}, "0 to 100"),
        ("set", {"value": 1, "position": 2}, "exactly one of"),
        ("on", {"value": 1}, "takes no params"),
    ],
)
def test_tasmota_generic_command_it_cannot_translate_fails_at_once(
    action: str, params: dict[str, object], why: str
) -> None:
    """A generic command Tasmota cannot express fails with the reason, not a time-out."""
    with pytest.raises(BadPayload, match=why):
        TasmotaConvention().command(DEVICE, OutgoingCommand(1, action, params, NOW))


def test_tasmota_generic_commands_complete_on_result_power_or_state() -> None:
    """on completes on stat/RESULT {"POWER":"ON"} or stat/POWER ON, off on the periodic
    tele/STATE with POWER OFF; a shutter position on the Shutter1 Target."""
    convention = TasmotaConvention()
    on = OutgoingCommand(1, "on", {}, NOW)
    off = OutgoingCommand(2, "off", {}, NOW)
    shutter = OutgoingCommand(3, "set", {"position": 50}, NOW)
    # {"POWER":"ON"} on stat/RESULT and ON on stat/POWER: the Commands page's example
    # replies (https://tasmota.github.io/docs/Commands/).
    [result, _] = convention.map("stat/plug_4F2A/RESULT", b'{"POWER":"ON"}', NOW)
    [plain, _] = convention.map("stat/plug_4F2A/POWER", b"ON", NOW)
    [_, state] = convention.map("tele/plug_4F2A/STATE", STATE_OFF, NOW)
    [moving, _] = convention.map("stat/plug_4F2A/RESULT", SHUTTER_RESULT, NOW)
    assert isinstance(result, CommandReply)
    assert isinstance(plain, CommandReply)
    assert isinstance(state, CommandReply)
    assert isinstance(moving, CommandReply)
    assert convention.completes(on, result)
    assert convention.completes(on, plain)
    assert not convention.completes(on, state)
    assert convention.completes(off, state)
    assert convention.completes(shutter, moving)
    assert not convention.completes(on, moving)


def test_tasmota_actuator_state_is_the_dashboards_vocabulary() -> None:
    """POWER OFF in tele/STATE is `power: off`; Shutter1's Position is `position`."""
    convention = TasmotaConvention()
    [data, _] = convention.map("tele/plug_4F2A/STATE", STATE_OFF, NOW)
    assert isinstance(data, Data)
    assert data.report.status is not None
    assert data.report.status.actuator == {"power": "off"}
    [_, shutter] = convention.map("stat/plug_4F2A/RESULT", SHUTTER_RESULT, NOW)
    assert isinstance(shutter, Data)
    assert shutter.report.status is not None
    assert shutter.report.status.actuator == {"position": 50}


@pytest.mark.parametrize("answer", ["Unknown", "Error"])
def test_tasmota_refused_command_is_a_warning_event(answer: str) -> None:
    """{"Command":"Unknown"} (what Tasmota's command dispatcher answers a command it does
    not know: arendst/Tasmota tasmota/tasmota_support/support_command.ino, D_JSON_COMMAND
    and D_JSON_UNKNOWN) reaches the event log as a warning; it completes nothing."""
    payload = f'{{"Command":"{answer}"}}'.encode()
    reply, event = _map("stat/plug_4F2A/RESULT", payload)
    assert isinstance(reply, CommandReply)
    assert isinstance(event, Data)
    [logged] = event.report.events
    assert (logged.level, logged.code) == (EventLevel.WARNING, f"command_{answer.lower()}")
    assert not TasmotaConvention().completes(OutgoingCommand(1, "on", {}, NOW), reply)


def test_tasmota_power_in_a_state_text_of_its_own_is_no_actuator_word() -> None:
    """A relay reported in a user's own StateText1/StateText2 (the OFF/ON words, set by
    the StateText<x> command: https://tasmota.github.io/docs/Commands/) is not guessed
    into `power`; the result still reports it for the command's own completion."""
    [data] = _map("tele/plug_4F2A/STATE", b'{"POWER": "AN", "Wifi": {"RSSI": 60}}')
    assert isinstance(data, Data)
    assert data.report.status is not None
    assert data.report.status.actuator == {}
    assert _map("stat/plug_4F2A/RESULT", b'{"POWER": "AN"}') == [
        CommandReply(DEVICE, None, state={"POWER": "AN"})
    ]
