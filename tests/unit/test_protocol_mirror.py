"""The dashboard's mirror of the wire contract (web-admin/src/lib/ws/messages.ts) against
the Python definitions, read from the TypeScript source, so the two cannot drift."""

from __future__ import annotations

import ast
import operator
import re
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest

from farmbridge.domain import (
    Ack,
    Alarm,
    AlarmKind,
    AlarmState,
    CommandState,
    CommandUpdate,
    Device,
    DeviceKind,
    DeviceState,
    DeviceStatus,
    Event,
    EventLevel,
    Reading,
    Sensor,
    Severity,
    StatusRecord,
)
from farmbridge.domain.live_window import Slot
from farmbridge.protocol import const
from farmbridge.protocol import server_messages as out
from farmbridge.protocol.client_messages import (
    Auth,
    Ping,
    Pong,
    Subscribe,
    SubscribeStats,
    Unsubscribe,
    UnsubscribeStats,
)
from farmbridge.protocol.const import (
    ALL_TOPICS,
    CloseCode,
    ErrorCode,
    Mode,
    ResyncReason,
    Topic,
    UnsubscribeReason,
)

MIRROR = Path(__file__).parents[2] / "web-admin" / "src" / "lib" / "ws" / "messages.ts"
T0 = 1_767_225_600_000


@cache
def raw() -> str:
    return MIRROR.read_text()


@cache
def code() -> str:
    """The TypeScript source without comments."""
    text = re.sub(r"/\*.*?\*/", "", raw(), flags=re.S)
    return re.sub(r"(^|\s)//[^\n]*", r"\1", text)


def ts_enum(name: str) -> dict[str, str | int]:
    """An `export enum`'s members, each named as Python names it (InvalidJson: INVALID_JSON)."""
    match = re.search(rf"export enum {name} \{{(.*?)\}}", code(), flags=re.S)
    assert match, f"no enum {name} in {MIRROR.name}"
    members: dict[str, str | int] = {}
    for key, value in re.findall(r"(\w+)\s*=\s*(\"[^\"]*\"|-?\d+)", match.group(1)):
        snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).upper()
        members[snake] = value.strip('"') if value.startswith('"') else int(value)
    assert members, f"enum {name} has no members"
    return members


def ts_const(name: str) -> str:
    match = re.search(rf"export const {name}(?:\s*:[^=]+)?\s*=\s*([^;]+);", code())
    assert match, f"no const {name} in {MIRROR.name}"
    return match.group(1).strip()


def ts_number(name: str) -> float:
    """A numeric const, whose value may be simple arithmetic (64 * 1024)."""
    ops = {ast.Mult: operator.mul, ast.Add: operator.add, ast.Sub: operator.sub}

    def value(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in ops:
            return ops[type(node.op)](value(node.left), value(node.right))
        raise AssertionError(f"{name}: not a plain number: {ast.dump(node)}")

    return value(ast.parse(ts_const(name), mode="eval").body)


def ts_string_union(name: str) -> set[str]:
    match = re.search(rf"export type {name} =([^;]+);", code())
    assert match, f"no type {name} in {MIRROR.name}"
    return set(re.findall(r'"([^"]+)"', match.group(1)))


def ts_interface(name: str) -> dict[str, bool]:
    """An interface's fields, each with whether it is required."""
    match = re.search(rf"export interface {name}(?: extends \w+)? \{{(.*?)\n\}}", code(), re.S)
    assert match, f"no interface {name} in {MIRROR.name}"
    fields = re.findall(r"^\s*(\w+)(\?)?:", match.group(1), flags=re.M)
    return {field: not optional for field, optional in fields}


def ts_message_types(union: str) -> dict[str, str]:
    """The `type` of each interface in a union of messages: {type: interface}."""
    match = re.search(rf"export type {union} =([^;]+);", code())
    assert match, f"no type {union} in {MIRROR.name}"
    types: dict[str, str] = {}
    for iface in re.findall(r"\w+", match.group(1)):
        body = re.search(rf"export interface {iface} \{{(.*?)\n\}}", code(), re.S)
        assert body, f"no interface {iface}"
        (kind,) = re.findall(r'^\s*type: "(\w+)";', body.group(1), flags=re.M)
        types[kind] = iface
    return types


def test_mirror_protocol_version_and_limits() -> None:
    """The version and the client-side limits are the server's."""
    assert ts_number("PROTOCOL_VERSION") == const.PROTOCOL_VERSION
    assert ts_number("MAX_SUBSCRIPTIONS_PER_CONNECTION") == const.MAX_SUBSCRIPTIONS
    assert ts_number("MAX_CLIENT_MESSAGES_PER_S") == const.MAX_MESSAGES_PER_S
    assert ts_number("MAX_CLIENT_FRAME_BYTES") == const.MAX_FRAME_BYTES
    assert re.findall(r"bursts of (\d+)", raw()) == [str(const.MESSAGE_BURST)]


@pytest.mark.parametrize(
    ("name", "enum", "mirror_only"),
    [
        ("Topic", Topic, {}),
        ("Mode", Mode, {}),
        ("ErrorCode", ErrorCode, {}),
        # 1006 is the browser's own (a drop without a close frame); the server never sends it.
        ("CloseCode", CloseCode, {"ABNORMAL": 1006}),
        ("ResyncReason", ResyncReason, {}),
        ("UnsubscribeReason", UnsubscribeReason, {}),
    ],
)
def test_mirror_enums_match(name: str, enum: type[Enum], mirror_only: dict[str, int]) -> None:
    """Each mirrored enum has the same members, by name and value, as the Python one."""
    python = {m.name: m.value for m in enum}
    assert ts_enum(name) == python | mirror_only


def test_mirror_all_topics_in_the_servers_order() -> None:
    """ALL_TOPICS lists every topic, sorted as `subscribed.topics` lists them."""
    names = re.findall(r"Topic\.(\w+)", ts_const("ALL_TOPICS"))
    topics = ts_enum("Topic")
    values = [topics[re.sub(r"(?<=[a-z])(?=[A-Z])", "_", n).upper()] for n in names]
    assert values == sorted(t.value for t in ALL_TOPICS)


@pytest.mark.parametrize(
    ("name", "enum"),
    [("DeviceState", DeviceState), ("EventLevel", EventLevel), ("CommandState", CommandState)],
)
def test_mirror_domain_states_match(name: str, enum: type[Enum]) -> None:
    """The states a batch row carries are the domain's."""
    assert ts_string_union(name) == {m.value for m in enum}


def test_mirror_message_types_match() -> None:
    """The client and server message unions hold exactly the protocol's message types."""
    assert set(ts_message_types("ClientMessage")) == const.CLIENT_MESSAGE_TYPES
    assert set(ts_message_types("ServerMessage")) == const.SERVER_MESSAGE_TYPES


@pytest.mark.parametrize(
    "model", [Auth, Subscribe, Unsubscribe, SubscribeStats, UnsubscribeStats, Ping, Pong]
)
def test_mirror_client_messages_send_what_the_server_accepts(model: Any) -> None:
    """A mirrored client message has only fields the server's model accepts, and every one
    the model requires."""
    kind = model.model_fields["type"].annotation.__args__[0]
    fields = ts_interface(ts_message_types("ClientMessage")[kind])
    assert set(fields) <= set(model.model_fields)
    required = {n for n, f in model.model_fields.items() if f.is_required()}
    assert required <= {n for n, needed in fields.items() if needed}


def _server_examples() -> list[dict[str, Any]]:
    """One live encoding of each server message, with every optional field present."""
    device = Device(3, 1, "pump-1", DeviceKind.ACTUATOR, "Pump", T0, last_seen_ms=T0)
    sensor = Sensor(7, 2, 1, "temperature", "C", -20.0, 60.0, 21.4, T0, 11)
    alarm = Alarm(
        17, 1, 10, AlarmKind.BELOW, "frost_risk", Severity.CRITICAL, "cold",
        AlarmState.ACKNOWLEDGED, T0, rule_id=5, device_id=2, sensor_id=7, value=1.4,
        ack=Ack(4, "ann", T0 + 1, "on it"),
    )  # fmt: skip
    snapshot = orjson.dumps(out.snapshot_body(12, [device], [sensor], [alarm])).decode()
    changes = [
        Reading(7, 2, 1, 21.5, T0 - 120, T0, 11),
        StatusRecord(1, 3, DeviceStatus(DeviceState.ONLINE, {"power": "on"}, T0 - 5, 12), T0),
        Event(1, 2, EventLevel.ALARM, "hot", "too hot", T0 - 4, T0 + 4, 13),
        CommandUpdate(41, 1, 3, CommandState.ACKNOWLEDGED, T0 + 6, "done", 14, action="on"),
    ]
    batch = out.batch_prefix(1, changes, ALL_TOPICS)
    assert batch is not None
    texts = [
        out.welcome("c1", server_time_ms=T0, heartbeat_s=15.0),
        out.authenticated(1, "alice", 1_767_268_800),
        out.subscribed(
            2, 1, "ep", 14, ALL_TOPICS, Mode.ALL, snapshot_json=snapshot, resume_from=12
        ),
        batch + out.sent_tail(T0 + 9),
        out.resync_required(1, ResyncReason.TOO_FAR_BEHIND, 14, "ep"),
        out.unsubscribed(4, 1, UnsubscribeReason.REQUESTED),
        out.error(ErrorCode.RATE_LIMITED, "slow down", 5, retry_after_ms=51),
        out.pong(5, T0),
        out.ping(T0),
        out.stats(
            8,
            instance="host:1",
            slot_s=10.0,
            window_s=300.0,
            connections=3,
            farms={1: 2},
            slots=[Slot(T0, 10.0, 3, 1, 0, 1, 0, 5, (5,))],
        ),
        out.stats_unsubscribed(9, UnsubscribeReason.REQUESTED),
    ]
    return [orjson.loads(t) for t in texts]


def test_mirror_server_messages_know_every_field_the_server_sends() -> None:
    """Every key of a live server message is a field of its mirrored interface, and every
    field the mirror requires is sent."""
    interfaces = ts_message_types("ServerMessage")
    examples = _server_examples()
    assert {m["type"] for m in examples} == const.SERVER_MESSAGE_TYPES
    for msg in examples:
        fields = ts_interface(interfaces[msg["type"]])
        assert set(msg) <= set(fields), msg["type"]
        assert {n for n, needed in fields.items() if needed} <= set(msg), msg["type"]
    snapshot = next(m["snapshot"] for m in examples if m["type"] == "subscribed")
    for iface, sample in (
        ("Snapshot", snapshot),
        ("SnapshotDevice", snapshot["devices"][0]),
        ("SnapshotSensor", snapshot["sensors"][0]),
        ("Alarm", snapshot["alarms"][0]),
        ("AlarmAck", snapshot["alarms"][0]["ack"]),
        ("StatsSlot", next(m for m in examples if m["type"] == "stats")["slots"][0]),
    ):
        fields = ts_interface(iface)
        assert set(sample) == set(fields), iface
