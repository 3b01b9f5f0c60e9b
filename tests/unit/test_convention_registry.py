"""The convention registry, and garbage fed to every topic kind of every convention."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from farmbridge.domain.errors import BadPayload
from farmbridge.domain.mqtt import Publish
from farmbridge.domain.reports import CommandReply, DeviceRef
from farmbridge.ingest.mqtt.conventions import CONVENTIONS, make_convention
from farmbridge.ingest.mqtt.conventions.base import Convention, Mapped, OutgoingCommand
from tests import ecosystem_samples

NOW = 1_767_225_600_000
SEED = 20_260_101
RANDOM_PAYLOADS = 300

# One topic per topic kind, after whatever discovery the convention needs (SETUP).
TOPICS: dict[str, list[str]] = {
    "native": ["n/d/telemetry", "n/d/status", "n/d/events", "n/d/commands/ack"],
    "thingsboard": [
        "K/v1/devices/me/telemetry",
        "K/v1/devices/me/attributes",
        "K/v1/devices/me/rpc/response/5",
        "v1/gateway/telemetry",
        "v1/gateway/attributes",
        "v1/gateway/connect",
        "v1/gateway/disconnect",
        "v1/gateway/rpc",
    ],
    "homie": [
        "5/dev/$state",
        "5/dev/$description",
        "5/dev/climate/temperature",
        "5/dev/climate/mode",
        "5/dev/other/value",
    ],
    "tasmota": [
        "tele/plug/SENSOR",
        "tele/plug/STATE",
        "tele/plug/LWT",
        "stat/plug/RESULT",
        "stat/plug/POWER",
    ],
    "esphome": [
        "node/status",
        "node/sensor/t/state",
        "node/binary_sensor/b/state",
        "node/switch/s/state",
        "node/light/l/state",
    ],
    "hass": [
        "homeassistant/sensor/n/t/config",
        "homeassistant/binary_sensor/n/b/config",
        "homeassistant/switch/n/s/config",
        "dev/sensor",
        "dev/plain",
        "dev/switch",
        "dev/avail",
    ],
    "shelly": ["sh1/online", "sh1/status/switch:0", "sh1/status/temperature:0", "sh1/events/rpc"],
    "zigbee2mqtt": [
        "bridge/devices",
        "bridge/state",
        "bulb",
        "bulb/availability",
        "bulb/set",
        "unknown_device",
    ],
}
SETUP: dict[str, list[tuple[str, bytes]]] = {
    "zigbee2mqtt": [("bridge/devices", ecosystem_samples.Z2M_DEVICES)],
    "homie": [
        (
            "5/dev/$description",
            b'{"nodes": {"climate": {"properties": {"temperature": {"datatype": "float"},'
            b' "mode": {"datatype": "enum", "settable": true}}}}}',
        )
    ],
    "hass": [
        (
            "homeassistant/sensor/n/t/config",
            b'{"stat_t": "dev/sensor", "val_tpl": "{{ value_json.a.b | float | round(1) }}",'
            b' "avty_t": "dev/avail", "dev": {"name": "n"}}',
        ),
        (
            "homeassistant/binary_sensor/n/b/config",
            b'{"stat_t": "dev/plain", "dev": {"name": "n"}}',
        ),
        (
            "homeassistant/switch/n/s/config",
            b'{"stat_t": "dev/switch", "cmd_t": "dev/set",'
            b' "val_tpl": "{{ value_json[\'state\'] }}"}',
        ),
    ],
}
KEYS = [
    "ts", "values", "readings", "message_id", "state", "actuator", "level", "code", "message",
    "id", "ok", "detail", "device", "data", "method", "error", "Time", "POWER", "POWER1",
    "Wifi", "RSSI", "TempUnit", "AM2301", "Temperature", "nodes", "properties", "datatype",
    "unit", "settable", "name", "a", "b", "stat_t", "val_tpl", "~", "dev", "ids", "", "___",
]  # fmt: skip
SCALARS: list[Any] = [
    None, True, False, 0, -1, 1.5, 2**63, -(2**63), 1e308, -0.0, "", " ", "ON", "off", "nan",
    "inf", "-Infinity", "1e999", "21.5", "online", "ready", "info", "alarm", "\x00", "\u00b2",
    "x" * 3000, "{{ value }}", "{{ value_json.a }}", "a/+/#",
]  # fmt: skip
FIXED: list[bytes] = [
    b"", b" ", b"\xff\xfe", b"\xc3\x28", b"null", b"true", b"0", b"-1", b"1e999", b"NaN",
    b'"text"', b"[]", b"{}", b"[[]]", b"[{}]", b'{"": {}}', b"{", b"}", b"[1,", b"ON", b"Online",
    b"ready", b"online", b"{\"a\": 1}garbage",
    b"[" * 1000 + b"]" * 1000,
    b'{"a":' * 1000 + b"1" + b"}" * 1000,
    b'{"Temperature":' * 1000 + b"1" + b"}" * 1000,
    b'{"values": ' * 500 + b"1" + b"}" * 500,
]  # fmt: skip


def _tree(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth > 4 or roll < 0.4:
        return rng.choice(SCALARS)
    if roll < 0.7:
        return {rng.choice(KEYS): _tree(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return [_tree(rng, depth + 1) for _ in range(rng.randint(0, 3))]


def _payloads() -> list[bytes]:
    rng = random.Random(SEED)
    out = list(FIXED)
    for _ in range(RANDOM_PAYLOADS):
        out.append(orjson.dumps(_tree(rng, 0)))
    for _ in range(RANDOM_PAYLOADS // 10):
        out.append(bytes(rng.randrange(256) for _ in range(rng.randint(1, 40))))
    return out


PAYLOADS = _payloads()


def _prepared(name: str) -> Convention:
    convention = make_convention(name)
    for topic, payload in SETUP.get(name, []):
        convention.map(topic, payload, NOW)
    return convention


def test_registry_names_every_convention() -> None:
    """Each convention is registered under its own name."""
    assert sorted(CONVENTIONS) == [
        "esphome",
        "hass",
        "homie",
        "native",
        "shelly",
        "tasmota",
        "thingsboard",
        "zigbee2mqtt",
    ]
    for name, factory in CONVENTIONS.items():
        assert factory().name == name


def test_make_convention_gives_a_fresh_instance() -> None:
    """Bindings never share what a convention learned."""
    assert make_convention("hass") is not make_convention("hass")


def test_make_convention_names_the_known_ones_for_an_unknown_name() -> None:
    """An unknown name is a ValueError listing the known conventions."""
    with pytest.raises(
        ValueError, match=r"unknown MQTT convention 'zigbee'.*native, shelly, tasmota"
    ):
        make_convention("zigbee")


def test_every_topic_kind_is_covered_by_its_filters() -> None:
    """The fuzzed topics are the ones each convention subscribes to (or learns)."""
    for name, topics in TOPICS.items():
        filters = _prepared(name).filters()
        for topic in topics:
            assert any(_matches(f, topic) for f in filters), (name, topic)


@pytest.mark.parametrize("name", sorted(TOPICS))
def test_garbage_on_every_topic_is_a_list_or_bad_payload(name: str) -> None:
    """Random and hostile payloads on every topic kind never raise anything but BadPayload."""
    for topic in TOPICS[name]:
        # Fresh per topic: an empty config would otherwise forget what later topics need.
        convention = _prepared(name)
        for payload in PAYLOADS:
            result: list[Mapped] | str
            try:
                result = convention.map(topic, payload, NOW)
            except BadPayload as exc:
                result = exc.message
            assert isinstance(result, list) or result, (topic, payload[:60])


@pytest.mark.parametrize("name", sorted(TOPICS))
def test_garbage_commands_are_publishes_or_bad_payload(name: str) -> None:
    """Odd actions and params either publish or fail the command; completes() never raises."""
    rng = random.Random(SEED)
    convention = _prepared(name)
    devices = [DeviceRef(name="n", farm="f"), DeviceRef(key="K"), DeviceRef(name="dev")]
    actions = ["POWER", "s", "climate/mode", "a/+", "", "x" * 300, "t"]
    for _ in range(RANDOM_PAYLOADS):
        params: dict[str, Any] = {"value": rng.choice(SCALARS)}
        tree = _tree(rng, 0)
        if rng.random() < 0.3 and isinstance(tree, dict):
            params = tree
        cmd = OutgoingCommand(rng.randint(0, 10**9), rng.choice(actions), params, NOW)
        try:
            publishes = convention.command(rng.choice(devices), cmd)
        except BadPayload:
            pass
        else:
            assert all(isinstance(p, Publish) for p in publishes)
        state = {cmd.action: rng.choice(SCALARS), rng.choice(KEYS): _tree(rng, 0)}
        reply = CommandReply(rng.choice(devices), None, state=state)
        assert isinstance(convention.completes(cmd, reply), bool)


def _matches(pattern: str, topic: str) -> bool:
    want, got = pattern.split("/"), topic.split("/")
    if want[-1] == "#":  # Zigbee2MQTT's: any levels below (and the parent itself)
        want = want[:-1]
        got = got[: len(want)]
    return len(want) == len(got) and all(w in ("+", g) for w, g in zip(want, got, strict=True))
