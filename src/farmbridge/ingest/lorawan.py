"""LoRaWAN network-server HTTP integrations (The Things Stack, ChirpStack) read into reports.

Pure: a request body in, an `Uplink` (or None for a message that carries no data) out.
The HTTP layer authenticates the network server, resolves `Uplink.device` to a farm
device and answers 422 with `LorawanError.message` for a body these parsers cannot read.

What becomes a reading:

- every number, boolean (1/0) or numeric string (via `number`) in the decoded payload
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
to copy). What is refused with LorawanError: a body that is not a JSON object, missing
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
`received_at`; ChirpStack `time`), else the moment the bridge received the body.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from farmbridge.ingest.mqtt.conventions.base import BadPayload, clean_name, number
from farmbridge.service.ingest import DeviceReport, ReportedReading

MAX_READINGS: Final = 200
MAX_LIST_ITEMS: Final = 16
MAX_DEPTH: Final = 8
MAX_MESSAGE_ID_CHARS: Final = 64
MAX_UNIT_CHARS: Final = 16

RSSI_UNIT: Final = "dBm"
SNR_UNIT: Final = "dB"
BATTERY_UNIT: Final = "%"
MARGIN_UNIT: Final = "dB"

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]+))?(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))",
    re.ASCII,
)
_EUI = re.compile(r"[0-9A-Fa-f]{16}", re.ASCII)


class LorawanError(Exception):
    """A body we cannot read; `message` names the field at fault (HTTP 422)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
    Raises LorawanError naming the first field it cannot read.
    """
    msg = _load(body)
    ids = _require_object(msg, "end_device_ids", "")
    device_id = _require_str(ids, "device_id", "end_device_ids")
    up = _optional_object(msg, "uplink_message", "")
    if up is None:
        return None
    device = _device_name(device_id, "end_device_ids.device_id")
    dev_eui = _optional_eui(ids, "dev_eui", "end_device_ids")
    ts_ms = _first_time(
        (up, "received_at", "uplink_message"), (msg, "received_at", ""), default=received_ms
    )

    readings = _Readings("uplink_message.decoded_payload")
    decoded = _optional_object(up, "decoded_payload", "uplink_message")
    if decoded is not None:
        readings.walk(decoded)
    settings = _optional_object(up, "settings", "uplink_message") or {}
    data_rate = _optional_object(settings, "data_rate", "uplink_message.settings") or {}
    lora = _optional_object(data_rate, "lora", "uplink_message.settings.data_rate") is not None
    readings.add_radio(
        _gateways(
            up,
            "rx_metadata",
            "uplink_message",
            rssi_keys=("rssi", "channel_rssi"),
            lora=lora,
        )
    )

    session = _optional_str(up, "session_key_id", "uplink_message") or _optional_str(
        ids, "dev_addr", "end_device_ids"
    )
    f_cnt = _counter(up, "f_cnt", "uplink_message")
    message_id = _bounded(f"{dev_eui or device}:{session or ''}:{f_cnt}")
    return readings.uplink(device, dev_eui, ts_ms, message_id)


def parse_chirpstack_event(event: str, body: bytes, received_ms: int) -> Uplink | None:
    """Reads a ChirpStack v4 HTTP integration body (JSON marshaler) of type `event`.

    `event` is the request's `event` query parameter. `up` and `status` give an Uplink;
    every other event (join, ack, txack, log, location, integration, ...) returns None
    without reading the body. Raises LorawanError naming the first field it cannot read,
    including for a Protobuf body (the integration must be set to JSON).
    """
    if event not in ("up", "status"):
        return None
    msg = _load(body)
    info = _require_object(msg, "deviceInfo", "")
    device = _device_name(_require_str(info, "deviceName", "deviceInfo"), "deviceInfo.deviceName")
    dev_eui = _optional_eui(info, "devEui", "deviceInfo")
    if not dev_eui:
        raise LorawanError("deviceInfo.devEui: missing")
    ts_ms = _first_time((msg, "time", ""), default=received_ms)
    dedup_id = _optional_str(msg, "deduplicationId", "")

    if event == "status":
        readings = _Readings("")
        # proto3 JSON leaves out zeros and falses: a missing margin is 0 dB.
        margin = _optional_number(msg, "margin", "") or 0.0
        external = _optional_bool(msg, "externalPowerSource", "")
        unavailable = _optional_bool(msg, "batteryLevelUnavailable", "")
        battery = _optional_number(msg, "batteryLevel", "")
        if battery is not None and not external and not unavailable:
            readings.add(("battery",), battery, BATTERY_UNIT)
        readings.add(("margin",), margin, MARGIN_UNIT)
        message_id = _bounded(f"status:{dedup_id}") if dedup_id else None
        return readings.uplink(device, dev_eui, ts_ms, message_id)

    readings = _Readings("object")
    decoded = _optional_object(msg, "object", "")
    if decoded is not None:
        readings.walk(decoded)
    tx_info = _optional_object(msg, "txInfo", "") or {}
    modulation = _optional_object(tx_info, "modulation", "txInfo") or {}
    lora = _optional_object(modulation, "lora", "txInfo.modulation") is not None
    readings.add_radio(_gateways(msg, "rxInfo", "", rssi_keys=("rssi",), lora=lora))
    if dedup_id:
        message_id = _bounded(dedup_id)
    else:
        dev_addr = _optional_str(msg, "devAddr", "") or ""
        message_id = _bounded(f"{dev_eui}:{dev_addr}:{_counter(msg, 'fCnt', '')}")
    return readings.uplink(device, dev_eui, ts_ms, message_id)


def epoch_ms(text: str, where: str) -> int:
    """Epoch milliseconds of an RFC 3339 date-time with any number of fractional digits.

    Network servers write nanoseconds ("2024-05-01T10:11:12.123456789Z"); the fraction
    is truncated to milliseconds. Stricter than `datetime.fromisoformat`, which also
    takes week dates, basic formats and times without a zone. Raises LorawanError
    naming `where` for anything else.
    """
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise LorawanError(f"{where}: {text[:64]!r} is not an RFC 3339 date-time")
    offset = timedelta(0)
    if m.group(9):
        offset = timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
        if offset >= timedelta(days=1) or int(m.group(11)) > 59:
            raise LorawanError(f"{where}: {text[:64]!r} has no valid UTC offset")
        if m.group(9) == "-":
            offset = -offset
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    try:
        # Leap seconds (:60) are refused too; the Go and Rust clocks behind both
        # servers never write them.
        local = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        raise LorawanError(f"{where}: {text[:64]!r} is not a valid date and time") from None
    fraction_ms = int(((m.group(7) or "") + "000")[:3])
    return (local - _EPOCH - offset) // _ONE_MS + fraction_ms


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
        try:
            reading = number(value, "")
        except BadPayload:
            return
        if math.isfinite(reading):
            self.add(path, reading, unit)

    def add(self, path: tuple[str, ...], value: float, unit: str | None) -> None:
        try:
            name = clean_name(*path)
        except BadPayload:
            return
        shown = ".".join(path)
        if name in self._values:
            raise LorawanError(
                f"{self._at(shown)}: its sensor name {name!r} is also that of "
                f"{self._at(self._paths[name])}"
            )
        if len(self._values) >= MAX_READINGS:
            raise LorawanError(f"{self._where or 'body'}: more than {MAX_READINGS} readings")
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


def _gateways(
    obj: dict[str, Any], key: str, where: str, *, rssi_keys: tuple[str, ...], lora: bool
) -> list[_Gateway]:
    entries = obj.get(key)
    if entries is None:
        return []
    at = _join(where, key)
    if not isinstance(entries, list):
        raise LorawanError(f"{at}: not a list")
    gateways: list[_Gateway] = []
    for i, entry in enumerate(entries):
        item = f"{at}[{i}]"
        if not isinstance(entry, dict):
            raise LorawanError(f"{item}: not an object")
        rssi = None
        for rssi_key in rssi_keys:
            rssi = _optional_number(entry, rssi_key, item)
            if rssi is not None:
                break
        if rssi is None:
            continue
        snr = _optional_number(entry, "snr", item)
        # Both servers leave zeros out of their JSON; LoRa always has an SNR, so a
        # missing one is 0 dB. Other modulations (FSK) have none.
        if snr is None and lora:
            snr = 0.0
        gateways.append(_Gateway(rssi, snr))
    return gateways


# -- fields --------------------------------------------------------------------------------


def _load(body: bytes) -> dict[str, Any]:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise LorawanError(f"body: not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise LorawanError("body: not a JSON object")
    return obj


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _optional_object(obj: dict[str, Any], key: str, where: str) -> dict[str, Any] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise LorawanError(f"{_join(where, key)}: not an object")
    return value


def _require_object(obj: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = _optional_object(obj, key, where)
    if value is None:
        raise LorawanError(f"{_join(where, key)}: missing")
    return value


def _optional_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise LorawanError(f"{_join(where, key)}: not a string")
    return value


def _require_str(obj: dict[str, Any], key: str, where: str) -> str:
    value = _optional_str(obj, key, where)
    if value is None:
        raise LorawanError(f"{_join(where, key)}: missing")
    return value


def _optional_number(obj: dict[str, Any], key: str, where: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LorawanError(f"{_join(where, key)}: not a number")
    result = float(value)
    if not math.isfinite(result):
        raise LorawanError(f"{_join(where, key)}: not a finite number")
    return result


def _optional_bool(obj: dict[str, Any], key: str, where: str) -> bool:
    value = obj.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise LorawanError(f"{_join(where, key)}: not a boolean")
    return value


def _counter(obj: dict[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    if value is None:
        return 0  # proto3 JSON leaves a zero counter out
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise LorawanError(f"{_join(where, key)}: not a 32-bit frame counter")
    return value


def _optional_eui(obj: dict[str, Any], key: str, where: str) -> str:
    value = _optional_str(obj, key, where)
    if value is None:
        return ""
    if not _EUI.fullmatch(value):
        raise LorawanError(f"{_join(where, key)}: {value[:32]!r} is not a 16-digit hex EUI")
    return value.lower()


def _device_name(value: str, where: str) -> str:
    try:
        return clean_name(value)
    except BadPayload:
        raise LorawanError(f"{where}: {value[:64]!r} leaves no usable device name") from None


def _first_time(*fields: tuple[dict[str, Any], str, str], default: int) -> int:
    for obj, key, where in fields:
        text = _optional_str(obj, key, where)
        if text is not None:
            return epoch_ms(text, _join(where, key))
    return default


def _bounded(message_id: str) -> str:
    # Ids built from free-form parts (a device name, an odd session key) could outgrow
    # the store's column; a digest keeps them unique and stable instead of truncating.
    if len(message_id) <= MAX_MESSAGE_ID_CHARS:
        return message_id
    return hashlib.sha256(message_id.encode()).hexdigest()[:MAX_MESSAGE_ID_CHARS]
