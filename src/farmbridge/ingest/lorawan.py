"""LoRaWAN network-server HTTP integrations (The Things Stack, ChirpStack) read into reports.

Pure: a request body in, an `Uplink` (or None for a message that carries no data) out.
The HTTP layer authenticates the network server, resolves `Uplink.device` to a farm
device and answers 422 with the BadPayload's message for a body these parsers cannot read.

What becomes a reading:

- every number, boolean (1/0) or numeric string (`fields.reading`) in the decoded payload
  (TTS `decoded_payload`, ChirpStack `object`), named by its path through nested
  objects, keys joined by '.' and list items by their index (`temps.0`);
- an object holding a `value` and a string `unit` is one reading with that unit: the
  only way a payload states a unit; units are never guessed from key names;
- `rssi` (dBm) and `snr` (dB) of the gateway that heard the uplink best (highest RSSI,
  then SNR), units as the network servers document them; a decoded value of the same
  name wins, being the device's own statement;
- ChirpStack `status` events: `battery` (%) unless the device is on external power or
  cannot tell, and `margin` (dB).

The frame counter is not a reading: it is no measurement, and every reading needs a
sensor on the device. It goes into the message id instead.

What is skipped rather than refused, so that one odd value does not lose the others:
strings that are no number, nulls, values that are not finite ("NaN" strings; JSON
itself cannot carry NaN or infinity), keys that leave no usable name, lists longer than
`MAX_LIST_ITEMS` (a byte dump or a sample buffer, not sensors), nesting deeper than
`MAX_DEPTH`, and TTS's normalized payload (its units come from a schema we would have
to copy). What is refused with BadPayload: a body that is not a JSON object, missing
or mistyped identifiers and metadata, unreadable timestamps, more than `MAX_READINGS`
readings, and two values whose names collide once cleaned.

Message ids, for the store's per-device deduplication, at most 64 characters:

- TTS: `{dev_eui}:{session_key_id or dev_addr}:{f_cnt}`. It names the LoRaWAN frame
  itself, so a queued webhook retry and a second delivery of the same frame both dedup;
  correlation ids are stable across webhook retries but new whenever the Application
  Server processes the frame again. A rejoin opens a new session, so a reset counter
  does not collide with the last session's frames. (An ABP device that resets its
  counter within one session would collide until the store prunes old ids.)
- ChirpStack: the `deduplicationId` for `up`, and `status:{deduplicationId}` for
  `status`: ChirpStack gives a status event the id of the uplink that carried the
  DevStatusAns, which would otherwise dedup one against the other.

Timestamps: the uplink's own time (TTS `uplink_message.received_at`, else the message's
`received_at`; ChirpStack `time`), in RFC 3339 (`fields.rfc3339_ms`), else the moment the
bridge received the body.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any, Final

from farmbridge.domain.errors import BadPayload
from farmbridge.domain.reports import DeviceReport, ReportedReading
from farmbridge.ingest.fields import (
    at,
    bad,
    boolean,
    clean_name,
    integer,
    json_array,
    json_object,
    json_value,
    maybe_reading,
    number,
    optional,
    required,
    rfc3339_ms,
    string,
)

MAX_READINGS: Final = 200
MAX_LIST_ITEMS: Final = 16
MAX_DEPTH: Final = 8
MAX_MESSAGE_ID_CHARS: Final = 64
MAX_UNIT_CHARS: Final = 16
MAX_FRAME_COUNTER: Final = 2**32 - 1

RSSI_UNIT: Final = "dBm"
SNR_UNIT: Final = "dB"
BATTERY_UNIT: Final = "%"
MARGIN_UNIT: Final = "dB"

_EUI = re.compile(r"[0-9A-Fa-f]{16}", re.ASCII)


@dataclass(frozen=True, slots=True)
class Uplink:
    """What one network-server message says about one device.

    `device` is the device's name in the farm, `dev_eui` its DevEUI in lower-case hex
    ("" when TTS does not know it: ABP devices may be registered without one), `units`
    the units the message states (sensor name -> unit), for auto-registration.
    """

    device: str
    dev_eui: str
    report: DeviceReport
    units: dict[str, str] = field(default_factory=dict)


def parse_tts_uplink(body: bytes, received_ms: int) -> Uplink | None:
    """Reads a The Things Stack v3 webhook body (JSON format).

    Returns None for the other message types a webhook may post to the same endpoint
    (join accepts, downlink events, normalized uplinks, locations, service data).
    Raises BadPayload naming the first field it cannot read.
    """
    msg = _body(body)
    ids = required(json_object, msg.get("end_device_ids"), "end_device_ids")
    device_id = required(string, _given(ids.get("device_id")), "end_device_ids.device_id")
    up = optional(json_object, msg.get("uplink_message"), "uplink_message")
    if up is None:
        return None
    device = _device_name(device_id, "end_device_ids.device_id")
    dev_eui = _eui(ids.get("dev_eui"), "end_device_ids.dev_eui")
    ts_ms = _first_time(
        (up.get("received_at"), "uplink_message.received_at"),
        (msg.get("received_at"), "received_at"),
        default=received_ms,
    )

    readings = _Readings("uplink_message.decoded_payload")
    decoded = optional(json_object, up.get("decoded_payload"), "uplink_message.decoded_payload")
    if decoded is not None:
        readings.walk(decoded)
    settings = optional(json_object, up.get("settings"), "uplink_message.settings") or {}
    data_rate = (
        optional(json_object, settings.get("data_rate"), "uplink_message.settings.data_rate") or {}
    )
    lora = (
        optional(json_object, data_rate.get("lora"), "uplink_message.settings.data_rate.lora")
        is not None
    )
    readings.add_radio(
        _gateways(
            up.get("rx_metadata"),
            "uplink_message.rx_metadata",
            rssi_keys=("rssi", "channel_rssi"),
            lora=lora,
        )
    )

    session = optional(
        string, _given(up.get("session_key_id")), "uplink_message.session_key_id"
    ) or optional(string, _given(ids.get("dev_addr")), "end_device_ids.dev_addr")
    f_cnt = _counter(up.get("f_cnt"), "uplink_message.f_cnt")
    message_id = _bounded(f"{dev_eui or device}:{session or ''}:{f_cnt}")
    return readings.uplink(device, dev_eui, ts_ms, message_id)


def parse_chirpstack_event(event: str, body: bytes, received_ms: int) -> Uplink | None:
    """Reads a ChirpStack v4 HTTP integration body (JSON marshaler) of type `event`.

    `event` is the request's `event` query parameter. `up` and `status` give an Uplink;
    every other event (join, ack, txack, log, location, integration, ...) returns None
    without reading the body. Raises BadPayload naming the first field it cannot read,
    including for a Protobuf body (the integration must be set to JSON).
    """
    if event not in ("up", "status"):
        return None
    msg = _body(body)
    info = required(json_object, msg.get("deviceInfo"), "deviceInfo")
    name = required(string, _given(info.get("deviceName")), "deviceInfo.deviceName")
    device = _device_name(name, "deviceInfo.deviceName")
    dev_eui = _eui(info.get("devEui"), "deviceInfo.devEui")
    if not dev_eui:
        raise bad("deviceInfo.devEui", "missing")
    ts_ms = _first_time((msg.get("time"), "time"), default=received_ms)
    dedup_id = optional(string, _given(msg.get("deduplicationId")), "deduplicationId")

    if event == "status":
        readings = _Readings("")
        # proto3 JSON leaves out zeros and falses: a missing margin is 0 dB.
        margin = optional(number, msg.get("margin"), "margin") or 0.0
        external = optional(boolean, msg.get("externalPowerSource"), "externalPowerSource")
        unavailable = optional(
            boolean, msg.get("batteryLevelUnavailable"), "batteryLevelUnavailable"
        )
        battery = optional(number, msg.get("batteryLevel"), "batteryLevel")
        if battery is not None and not external and not unavailable:
            readings.add(("battery",), battery, BATTERY_UNIT)
        readings.add(("margin",), margin, MARGIN_UNIT)
        message_id = _bounded(f"status:{dedup_id}") if dedup_id else None
        return readings.uplink(device, dev_eui, ts_ms, message_id)

    readings = _Readings("object")
    decoded = optional(json_object, msg.get("object"), "object")
    if decoded is not None:
        readings.walk(decoded)
    tx_info = optional(json_object, msg.get("txInfo"), "txInfo") or {}
    modulation = optional(json_object, tx_info.get("modulation"), "txInfo.modulation") or {}
    lora = optional(json_object, modulation.get("lora"), "txInfo.modulation.lora") is not None
    readings.add_radio(_gateways(msg.get("rxInfo"), "rxInfo", rssi_keys=("rssi",), lora=lora))
    if dedup_id:
        message_id = _bounded(dedup_id)
    else:
        dev_addr = optional(string, _given(msg.get("devAddr")), "devAddr") or ""
        message_id = _bounded(f"{dev_eui}:{dev_addr}:{_counter(msg.get('fCnt'), 'fCnt')}")
    return readings.uplink(device, dev_eui, ts_ms, message_id)


# -- readings ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Gateway:
    rssi: float
    snr: float | None


class _Readings:
    """Named values and their units, in payload order, refusing collisions and floods."""

    def __init__(self, where: str) -> None:
        self._where = where
        self._values: dict[str, float] = {}
        self._paths: dict[str, str] = {}
        self._units: dict[str, str] = {}

    def walk(self, obj: dict[str, Any]) -> None:
        self._walk(obj, (), 0)

    def _walk(self, value: Any, path: tuple[str, ...], depth: int) -> None:
        if isinstance(value, dict):
            if depth >= MAX_DEPTH:
                return
            # At the top there is no key to name a value/unit pair by: plain keys then.
            if path and isinstance(value.get("unit"), str) and "value" in value:
                self._leaf(value["value"], path, value["unit"])
                return
            for key, item in value.items():
                self._walk(item, (*path, key), depth + 1)
        elif isinstance(value, list):
            if depth >= MAX_DEPTH or len(value) > MAX_LIST_ITEMS:
                return
            for i, item in enumerate(value):
                self._walk(item, (*path, str(i)), depth + 1)
        else:
            self._leaf(value, path, None)

    def _leaf(self, value: Any, path: tuple[str, ...], unit: str | None) -> None:
        reading = maybe_reading(value)
        if reading is not None:
            self.add(path, reading, unit)

    def add(self, path: tuple[str, ...], value: float, unit: str | None) -> None:
        try:
            name = clean_name(*path)
        except BadPayload:
            return
        shown = ".".join(path)
        if name in self._values:
            raise bad(
                self._at(shown),
                f"its sensor name {name!r} is also that of {self._at(self._paths[name])}",
            )
        if len(self._values) >= MAX_READINGS:
            raise bad(self._where or "body", f"more than {MAX_READINGS} readings")
        self._values[name] = value
        self._paths[name] = shown
        # A cut unit would be a wrong one; the sensors table holds 16 characters.
        if unit and len(unit) <= MAX_UNIT_CHARS:
            self._units[name] = unit

    def add_radio(self, gateways: list[_Gateway]) -> None:
        if not gateways:
            return
        best = max(gateways, key=lambda g: (g.rssi, -math.inf if g.snr is None else g.snr))
        if "rssi" not in self._values:
            self.add(("rssi",), best.rssi, RSSI_UNIT)
        if best.snr is not None and "snr" not in self._values:
            self.add(("snr",), best.snr, SNR_UNIT)

    def uplink(self, device: str, dev_eui: str, ts_ms: int, message_id: str | None) -> Uplink:
        return Uplink(
            device=device,
            dev_eui=dev_eui,
            report=DeviceReport(
                readings=[ReportedReading(n, v, ts_ms) for n, v in self._values.items()],
                message_id=message_id,
            ),
            units=dict(self._units),
        )

    def _at(self, path: str) -> str:
        return ".".join(p for p in (self._where, path) if p)


def _gateways(raw: Any, where: str, *, rssi_keys: tuple[str, ...], lora: bool) -> list[_Gateway]:
    gateways: list[_Gateway] = []
    for i, entry in enumerate(optional(json_array, raw, where) or []):
        item_at = at(where, i)
        item = json_object(entry, item_at)
        rssi = None
        for rssi_key in rssi_keys:
            rssi = optional(number, item.get(rssi_key), at(item_at, rssi_key))
            if rssi is not None:
                break
        if rssi is None:
            continue
        snr = optional(number, item.get("snr"), at(item_at, "snr"))
        # Both servers leave zeros out of their JSON; LoRa always has an SNR, so a
        # missing one is 0 dB. Other modulations (FSK) have none.
        if snr is None and lora:
            snr = 0.0
        gateways.append(_Gateway(rssi, snr))
    return gateways


# -- fields: the kit's readers, with what the network servers' JSON means by absence ------


def _body(body: bytes) -> dict[str, Any]:
    return json_object(json_value(body, "body"), "body", wording="not a JSON object")


def _given(raw: Any) -> Any:
    # proto3 JSON writes an unset string as "" or leaves it out: both are absent.
    return None if raw == "" else raw


def _counter(raw: Any, where: str) -> int:
    counter = optional(
        integer, raw, where, low=0, high=MAX_FRAME_COUNTER, wording="not a 32-bit frame counter"
    )
    return counter or 0  # proto3 JSON leaves a zero counter out


def _eui(raw: Any, where: str) -> str:
    value = optional(string, _given(raw), where)
    if value is None:
        return ""
    if not _EUI.fullmatch(value):
        raise bad(where, f"{value[:32]!r} is not a 16-digit hex EUI")
    return value.lower()


def _device_name(value: str, where: str) -> str:
    try:
        return clean_name(value)
    except BadPayload:
        raise bad(where, f"{value[:64]!r} leaves no usable device name") from None


def _first_time(*fields: tuple[Any, str], default: int) -> int:
    for raw, where in fields:
        text = optional(string, _given(raw), where)
        if text is not None:
            return rfc3339_ms(text, where)
    return default


def _bounded(message_id: str) -> str:
    # Ids built from free-form parts (a device name, an odd session key) could outgrow
    # the store's column; a digest keeps them unique and stable instead of truncating.
    if len(message_id) <= MAX_MESSAGE_ID_CHARS:
        return message_id
    return hashlib.sha256(message_id.encode()).hexdigest()[:MAX_MESSAGE_ID_CHARS]
