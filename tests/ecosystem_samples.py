"""Real payloads of Zigbee2MQTT, Shelly Gen2 and Tasmota discovery, each cited beside it.

Shared by the conventions' unit tests and the integration tests against Mosquitto. A
sample is copied from the project's own docs or tests; where a field was left out (long
descriptions, labels, options), the comment says so. None was written to fit the parser.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

# -- Zigbee2MQTT ---------------------------------------------------------------------------
# Koenkk/zigbee2mqtt test/extensions/bridge.test.ts, "Should publish devices on startup":
# the zigbee2mqtt/bridge/devices entries of the coordinator, `bulb` (IKEA LED1545G12),
# `weather_sensor` (Aqara WSDCGQ11LM) and `power_plug` (Xiaomi ZNCZ02LM). Left out:
# `description`, `label`, `category` and `presets` of each expose, `options`, `endpoints`.
Z2M_COORDINATOR: Final[dict[str, Any]] = {
    "disabled": False,
    "friendly_name": "Coordinator",
    "ieee_address": "0x00124b00120144ae",
    "interview_completed": False,
    "interviewing": False,
    "network_address": 0,
    "supported": True,
    "type": "Coordinator",
}
Z2M_BULB: Final[dict[str, Any]] = {
    "definition": {
        "description": "TRADFRI bulb E26/E27, white spectrum, globe, opal, 980 lm",
        "exposes": [
            {
                "features": [
                    {"access": 7, "name": "state", "property": "state", "type": "binary",
                     "value_off": "OFF", "value_on": "ON", "value_toggle": "TOGGLE"},
                    {"access": 7, "name": "brightness", "property": "brightness",
                     "type": "numeric", "value_max": 254, "value_min": 0},
                    {"access": 7, "name": "color_temp", "property": "color_temp",
                     "type": "numeric", "unit": "mired", "value_max": 454, "value_min": 250},
                    {"access": 7, "name": "color_temp_startup",
                     "property": "color_temp_startup", "type": "numeric", "unit": "mired",
                     "value_max": 454, "value_min": 250},
                    {"access": 7, "features": [
                        {"access": 7, "name": "execute_if_off", "property": "execute_if_off",
                         "type": "binary", "value_off": False, "value_on": True},
                        {"access": 7, "name": "current_level_startup",
                         "property": "current_level_startup", "type": "numeric",
                         "value_max": 254, "value_min": 1},
                    ], "name": "level_config", "property": "level_config", "type": "composite"},
                ],
                "type": "light",
            },
            {"access": 2, "name": "effect", "property": "effect", "type": "enum",
             "values": ["blink", "breathe", "okay", "channel_change", "finish_effect",
                        "stop_effect"]},
            {"access": 7, "name": "power_on_behavior", "property": "power_on_behavior",
             "type": "enum", "values": ["off", "on", "toggle", "previous"]},
            {"access": 2, "name": "identify", "property": "identify", "type": "enum",
             "values": ["identify"]},
            {"access": 1, "name": "linkquality", "property": "linkquality", "type": "numeric",
             "unit": "lqi", "value_max": 255, "value_min": 0},
        ],
        "model": "LED1545G12",
        "supports_ota": True,
        "vendor": "IKEA",
    },
    "description": "this is my bulb",
    "disabled": False,
    "friendly_name": "bulb",
    "ieee_address": "0x000b57fffec6a5b2",
    "interview_completed": True,
    "interviewing": False,
    "model_id": "TRADFRI bulb E27 WS opal 980lm",
    "network_address": 40369,
    "power_source": "Mains (single phase)",
    "supported": True,
    "type": "Router",
}  # fmt: skip
Z2M_WEATHER_SENSOR: Final[dict[str, Any]] = {
    "definition": {
        "description": "Temperature and humidity sensor",
        "exposes": [
            {"access": 1, "name": "battery", "property": "battery", "type": "numeric",
             "unit": "%", "value_max": 100, "value_min": 0},
            {"access": 1, "name": "temperature", "property": "temperature", "type": "numeric",
             "unit": "°C"},
            {"access": 1, "name": "humidity", "property": "humidity", "type": "numeric",
             "unit": "%"},
            {"access": 1, "name": "pressure", "property": "pressure", "type": "numeric",
             "unit": "hPa"},
            {"access": 1, "name": "voltage", "property": "voltage", "type": "numeric",
             "unit": "mV"},
            {"access": 1, "name": "linkquality", "property": "linkquality", "type": "numeric",
             "unit": "lqi", "value_max": 255, "value_min": 0},
        ],
        "model": "WSDCGQ11LM",
        "supports_ota": False,
        "vendor": "Aqara",
    },
    "disabled": False,
    "friendly_name": "weather_sensor",
    "ieee_address": "0x0017880104e45522",
    "interview_completed": True,
    "interviewing": False,
    "model_id": "lumi.weather",
    "network_address": 6539,
    "power_source": "Battery",
    "supported": True,
    "type": "EndDevice",
}  # fmt: skip
Z2M_POWER_PLUG: Final[dict[str, Any]] = {
    "definition": {
        "description": "Mi smart plug",
        "exposes": [
            {"features": [
                {"access": 7, "name": "state", "property": "state", "type": "binary",
                 "value_off": "OFF", "value_on": "ON", "value_toggle": "TOGGLE"},
            ], "type": "switch"},
            {"access": 5, "name": "power", "property": "power", "type": "numeric", "unit": "W"},
            {"access": 1, "name": "energy", "property": "energy", "type": "numeric",
             "unit": "kWh"},
            {"access": 1, "name": "device_temperature", "property": "device_temperature",
             "type": "numeric", "unit": "°C"},
            {"access": 7, "name": "power_outage_memory", "property": "power_outage_memory",
             "type": "binary", "value_off": False, "value_on": True},
            {"access": 1, "name": "linkquality", "property": "linkquality", "type": "numeric",
             "unit": "lqi", "value_max": 255, "value_min": 0},
        ],
        "model": "ZNCZ02LM",
        "supports_ota": True,
        "vendor": "Xiaomi",
    },
    "disabled": False,
    "friendly_name": "power_plug",
    "ieee_address": "0x0017880104e45524",
    "interview_completed": True,
    "interviewing": False,
    "model_id": "lumi.plug",
    "network_address": 6540,
    "power_source": "Mains (single phase)",
    "supported": True,
    "type": "Router",
}  # fmt: skip
# Koenkk/zigbee2mqtt.io docs/guide/usage/mqtt_topics_and_messages.md, bridge/devices: an
# unsupported device has `"definition": null` (the docs' `my_sensor`; endpoints left out).
Z2M_UNSUPPORTED: Final[dict[str, Any]] = {
    "ieee_address": "0x00169a00022256da",
    "type": "Router",
    "network_address": 22160,
    "supported": False,
    "friendly_name": "my_sensor",
    "definition": None,
    "power_source": "Battery",
    "date_code": "04-28-2019",
    "model_id": None,
    "scenes": [],
    "interviewing": False,
    "interview_completed": True,
}
Z2M_DEVICES: Final = orjson.dumps(
    [Z2M_COORDINATOR, Z2M_BULB, Z2M_WEATHER_SENSOR, Z2M_POWER_PLUG, Z2M_UNSUPPORTED]
)
# Same page, zigbee2mqtt/FRIENDLY_NAME: "Xiaomi MiJia temperature & humidity sensor" and
# "IKEA TRADFRI LED bulb E27 980 lumen ... (LED1545G12)".
Z2M_WEATHER_STATE: Final = b'{"temperature": 27.34, "humidity": 44.72}'
Z2M_BULB_STATE: Final = b'{"state": "ON", "brightness": 215, "color_temp": 325}'
# Same page, zigbee2mqtt/FRIENDLY_NAME/set: `{"state": "ON"}` (mosquitto_pub example).
Z2M_SET_ON: Final = b'{"state":"ON"}'
# Same page, zigbee2mqtt/bridge/state: `online`; bridge/logging's example.
Z2M_BRIDGE_STATE: Final = b"online"
Z2M_BRIDGE_LOGGING: Final = b'{"level": "info", "message": "Zigbee: allowing new devices to join."}'
# Koenkk/zigbee2mqtt.io docs/guide/configuration/device-availability.md, "Availability
# payload": legacy `online`/`offline`, else `{"state":"online"}`/`{"state":"offline"}`.
Z2M_ONLINE_LEGACY: Final = b"online"
Z2M_ONLINE: Final = b'{"state":"online"}'
Z2M_OFFLINE: Final = b'{"state":"offline"}'

# -- Shelly Gen2+ --------------------------------------------------------------------------
# The device of the Shelly API docs' examples; its MQTT topic prefix is its id (the default).
SHELLY_ID: Final = "shellypro4pm-f008d1d8b8b8"
# https://shelly-api-docs.shelly.cloud/gen2/General/Notifications, NotifyStatus "Example 1:
# Notify that a button has changed the output state of the switch with id=0".
SHELLY_NOTIFY_STATUS: Final = (
    b'{"src": "shellypro4pm-f008d1d8b8b8", "dst": "user_1", "method": "NotifyStatus",'
    b' "params": {"ts": 1631186545.04, "switch:0": {"id": 0, "output": true, "source": "button"}}}'
)
# Same page, NotifyStatus "Example 2: Notify that this device has lost connection to the cloud".
SHELLY_NOTIFY_CLOUD: Final = (
    b'{"src": "shellypro4pm-f008d1d8b8b8", "dst": "user_1", "method": "NotifyStatus",'
    b' "params": {"ts": 1624348482.25, "cloud": {"connected": false}}}'
)
# The NotifyEvent example of the same page (the index's copy of the page is cut before it;
# read verbatim, with the NotifyFullStatus below, in a public Rust Shelly client's tests,
# `it_deserializes_an_event` / `it_deserializes_a_full_status`, code-index file 5716906089,
# whose repository the index does not name).
SHELLY_NOTIFY_EVENT: Final = (
    b'{"src": "shellypro4pm-f008d1d8b8b8", "dst": "user_1", "method": "NotifyEvent",'
    b' "params": {"ts": 1631266595.44, "events": [{"component": "input:0", "id": 0,'
    b' "event": "single_push", "ts": 1631266595.44}]}}'
)
SHELLY_HT_FULL_STATUS: Final = orjson.dumps(
    {
        "src": "shellyplusht-f008d1d8b8b8",
        "dst": "user_1",
        "method": "NotifyFullStatus",
        "params": {
            "ts": 1631186545.04,
            "ble": {},
            "cloud": {"connected": False},
            "mqtt": {"connected": False},
            "sys": {
                "mac": "F008D1E62338", "restart_required": False, "time": None,
                "unixtime": None, "uptime": 41, "ram_size": 254948, "ram_free": 146620,
                "fs_size": 458752, "fs_free": 229376, "cfg_rev": 0, "available_updates": {},
            },
            "wifi": {"sta_ip": None, "status": "disconnected", "ssid": None, "rssi": 0},
            "temperature:0": {"id": 0, "tC": 20.0, "tF": 68.0},
            "humidity:0": {"id": 0, "rh": 50.0},
            "devicepower:0": {
                "id": 0, "battery": {"V": 4.59, "percent": 11}, "external": {"present": False}
            },
            "ht_ui": {},
        },
    }
)  # fmt: skip
# The `switch:0` status of the docs' Shelly.GetStatus example (a Pro 4PM,
# https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/Shelly#shellygetstatus-example),
# what `<id>/status/switch:0` carries with status_ntf on (the MQTT page: "the entire status
# payload of components is published on <topic_prefix>/status/<component:id>",
# https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/Mqtt). Read verbatim in
# public mocks of that example (code-index files 449249422 and 17230511366).
SHELLY_SWITCH_STATUS: Final = (
    b'{"id": 0, "source": "timer", "output": true, "timer_started_at": 1626935739.79,'
    b' "timer_duration": 60, "apower": 8.9, "voltage": 237.5, "aenergy": {"total": 6.532,'
    b' "by_minute": [45.199, 47.141, 88.397], "minute_ts": 1626935779},'
    b' "temperature": {"tC": 23.5, "tF": 74.4}}'
)
# `<id>/online`: `true` on connect (the device's birth message), `false` as its last will;
# https://gist.github.com/sroebert/59ea06ce8b7b89f597224bc73d30f3da publishes the same
# `MQTT.publish(topicPrefix + "/online", "true")` from a Plus 1 script.
SHELLY_ONLINE: Final = b"true"
SHELLY_OFFLINE: Final = b"false"
# https://shelly-api-docs.shelly.cloud/gen2/General/RPCProtocol, request "Example 2: Request
# frame invoking Switch.Set method" (src `user_1`, the bridge's client id here).
SHELLY_SWITCH_SET: Final[dict[str, Any]] = {
    "id": 2,
    "src": "user_1",
    "method": "Switch.Set",
    "params": {"id": 1, "on": True},
}
# https://shelly-api-docs.shelly.cloud/gen2/General/RPCChannels, the response of a Switch.Set
# POST to /rpc (its request id 0).
SHELLY_RESULT: Final = b'{"id":0,"src":"shellydev1-c8f09e47e6f0","result":{"was_on":true}}'
# https://shelly-api-docs.shelly.cloud/gen2/General/CommonErrors, "-103: INVALID ARGUMENT".
SHELLY_ERROR: Final = (
    b'{"id": 1, "src": "shellypro4pm-f008d1d8b8b8", "dst": "user_1",'
    b' "error": {"code": -103, "message": "Missing required \'id\'"}}'
)


def shelly_result_for(command_id: int, src: str, dst: str) -> bytes:
    """SHELLY_RESULT answering request `command_id` of `dst` from device `src` (a device
    answers with the request's id, its own id as src, the requester's as dst; the rest is
    the docs' response)."""
    frame = orjson.loads(SHELLY_RESULT)
    frame.update(id=command_id, src=src, dst=dst)
    return orjson.dumps(frame)


# -- Tasmota discovery ---------------------------------------------------------------------
# home-assistant/core tests/components/tasmota/test_common.py, DEFAULT_CONFIG: what HA's
# Tasmota integration (hatasmota) reads on tasmota/discovery/{mac}/config.
TASMOTA_DEFAULT_CONFIG: Final[dict[str, Any]] = {
    "ip": "192.168.15.10",
    "dn": "Tasmota",
    "fn": ["Test", "Beer", "Milk", "Four", None],
    "hn": "tasmota_49A3BC-0956",
    "if": 0,
    "lk": 1,
    "mac": "00000049A3BC",
    "md": "Sonoff Basic",
    "ofln": "Offline",
    "onln": "Online",
    "state": ["OFF", "ON", "TOGGLE", "HOLD"],
    "sw": "8.4.0.2",
    "swn": [None, None, None, None, None],
    "t": "tasmota_49A3BC",
    "ft": "%topic%/%prefix%/",
    "tp": ["cmnd", "stat", "tele"],
    "rl": [0, 0, 0, 0, 0, 0, 0, 0],
    "swc": [-1, -1, -1, -1, -1, -1, -1, -1],
    "btn": [0, 0, 0, 0],
    "so": {"4": 0, "11": 0, "13": 0, "17": 1, "20": 0, "30": 0, "68": 0, "73": 0, "82": 0,
           "114": 0},
    "ty": 0,
    "lt_st": 0,
    "ver": 1,
}  # fmt: skip


def tasmota_config(**changes: Any) -> dict[str, Any]:
    """TASMOTA_DEFAULT_CONFIG with `changes`, as HA's Tasmota tests derive theirs from it
    (test_switch.py: `config["rl"][0] = 1`). Tasmota's own default FullTopic is
    `%prefix%/%topic%/` (https://tasmota.github.io/docs/MQTT/#fulltopic)."""
    return {**TASMOTA_DEFAULT_CONFIG, **changes}


# home-assistant/core tests/components/tasmota/test_sensor.py: TEMPERATURE_SENSOR_CONFIG
# and LIST_SENSOR_CONFIG_2, what tasmota/discovery/{mac}/sensors carries.
TASMOTA_TEMPERATURE_SENSORS: Final[dict[str, Any]] = {
    "sn": {
        "Time": "2023-01-27T11:04:56",
        "DS18B20": {"Id": "01191ED79190", "Temperature": 2.4},
        "TempUnit": "C",
    }
}
TASMOTA_LIST_SENSORS: Final[dict[str, Any]] = {
    "sn": {
        "Time": "2020-09-25T12:47:15",
        "ENERGY": {
            "TotalStartTime": "2018-11-23T15:33:47",
            "Total": [0.000, 0.017],
            "TotalTariff": [0.000, 0.017],
            "Yesterday": 0.000,
            "Today": 0.002,
            "ExportActive": 0.000,
            "ExportTariff": [0.000, 0.000],
            "Period": 0.00,
            "Power": 0.00,
            "ApparentPower": 7.84,
            "ReactivePower": -7.21,
            "Factor": 0.39,
            "Frequency": 50.0,
            "Voltage": 234.31,
            "Current": 0.039,
            "ImportActive": 12.580,
            "ImportReactive": 0.002,
            "ExportReactive": 39.131,
            "PhaseAngle": 290.45,
        },
    }
}
# Same file, the tele/SENSOR message its DS18B20 test then sends.
TASMOTA_DS18B20_SENSOR: Final = b'{"DS18B20":{"Id": "01191ED79190","Temperature": 12.3}}'


def shelly_at(payload: bytes, ts_s: float) -> bytes:
    """A Shelly notification sample with its `ts` (and its events' ts) set to `ts_s`: the
    docs' examples are from 2021, older than the ingest accepts."""
    frame = orjson.loads(payload)
    frame["params"]["ts"] = ts_s
    for event in frame["params"].get("events", []):
        event["ts"] = ts_s
    return orjson.dumps(frame)
