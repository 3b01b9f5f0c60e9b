"""The wire contract: client message parsing and the compact batch encoding."""

from __future__ import annotations

from pathlib import Path
from typing import Final, get_args

import orjson
import pytest

from farmbridge.domain import (
    CommandState,
    CommandUpdate,
    DeviceState,
    DeviceStatus,
    Event,
    EventLevel,
    Reading,
    StatusRecord,
)
from farmbridge.protocol.client_messages import (
    Auth,
    ClientMessage,
    ProtocolViolation,
    Subscribe,
    parse,
)
from farmbridge.protocol.const import (
    ALL_TOPICS,
    AUTH_TIMEOUT_S,
    CLIENT_MESSAGE_TYPES,
    HEARTBEAT_S,
    MAX_FRAME_BYTES,
    MAX_ID,
    MAX_MESSAGES_PER_S,
    MAX_SUBSCRIPTIONS,
    MAX_VIOLATIONS,
    MESSAGE_BURST,
    PROTOCOL_VERSION,
    CloseCode,
    ErrorCode,
    Mode,
    Topic,
)
from farmbridge.protocol.server_messages import batch_prefix, sent_tail, subscribed
from farmbridge.ws.limits import MAX_SLOW_STRIKES, SEND_TIMEOUT_S
from farmbridge.ws.session import HEARTBEAT_SILENCE_INTERVALS, PING_ANSWER_INTERVALS

T0 = 1_767_225_600_000
HEARTBEAT_SILENCE_INTERVALS_WORD: Final = "two"


def test_parse_subscribe_with_defaults() -> None:
    """A bare subscribe means all topics, mode all, no resume."""
    msg = parse(b'{"type": "subscribe", "farm": 3, "id": 9}')
    assert msg == Subscribe(type="subscribe", farm=3, id=9)
    assert msg.mode is Mode.ALL
    assert msg.topics is None


@pytest.mark.parametrize(
    ("raw", "code", "text"),
    [
        (b"{nope", ErrorCode.INVALID_JSON, "not valid JSON"),
        (b"[1, 2]", ErrorCode.INVALID_MESSAGE, "JSON object"),
        (b'{"type": "dance"}', ErrorCode.UNKNOWN_TYPE, "'dance'"),
        (b'{"type": "subscribe"}', ErrorCode.INVALID_MESSAGE, "farm"),
        (
            b'{"type": "subscribe", "farm": 1, "topics": ["weather"]}',
            ErrorCode.INVALID_MESSAGE,
            "topics",
        ),
        (b'{"type": "subscribe", "farm": 1, "since": -1}', ErrorCode.INVALID_MESSAGE, "since"),
        (b'{"type": "auth", "token": "x", "protocol": 3}', ErrorCode.INVALID_MESSAGE, "protocol"),
        (b'{"type": "auth"}', ErrorCode.UNAUTHENTICATED, "token"),
        (b'{"type": "auth", "token": ""}', ErrorCode.UNAUTHENTICATED, "token"),
        (b'{"type": "auth", "token": 7}', ErrorCode.UNAUTHENTICATED, "token"),
        (b'{"type": ["auth"]}', ErrorCode.UNKNOWN_TYPE, "['auth']"),
    ],
)
def test_parse_refuses_bad_messages_naming_the_problem(
    raw: bytes, code: ErrorCode, text: str
) -> None:
    """Every malformed client message raises a violation with its code and the culprit named."""
    with pytest.raises(ProtocolViolation) as info:
        parse(raw)
    assert info.value.code is code
    assert text in info.value.message


def test_parse_echoes_the_id_of_a_bad_message() -> None:
    """A message with an id gets its id back in the error, so the client can match it."""
    with pytest.raises(ProtocolViolation) as info:
        parse(b'{"type": "subscribe", "id": "s-1"}')
    assert info.value.ref == "s-1"


@pytest.mark.parametrize(
    ("field", "literal"),
    [
        ("farm", "true"),
        ("farm", '"2"'),
        ("farm", "2.0"),
        ("farm", "0"),
        ("farm", str(MAX_ID + 1)),
        ("farm", "99999999999999999999"),
        ("since", "true"),
        ("since", '"5"'),
        ("since", str(MAX_ID + 1)),
        ("epoch", "5"),
        ("id", "true"),
        ("id", str(MAX_ID + 1)),
    ],
)
def test_parse_subscribe_fields_are_strict_and_bounded(field: str, literal: str) -> None:
    """No bool or string passes as an int, and no id or seq beyond what the store holds."""
    raw = '{"type": "subscribe", "farm": 1, "%s": %s}' % (field, literal)  # noqa: UP031
    with pytest.raises(ProtocolViolation) as info:
        parse(raw)
    assert info.value.code is ErrorCode.INVALID_MESSAGE
    assert info.value.field == field
    assert info.value.message.startswith(f"{field}: ")


def test_parse_accepts_ids_up_to_what_the_store_holds() -> None:
    """Farm 2**63-1 and seq 2**63-1 are valid: the bound is the store's, not smaller."""
    msg = parse(orjson.dumps({"type": "subscribe", "farm": MAX_ID, "since": MAX_ID, "id": MAX_ID}))
    assert msg == Subscribe(type="subscribe", farm=MAX_ID, since=MAX_ID, id=MAX_ID)


def test_parse_auth_tolerates_the_protocol_field_and_unknown_optional_fields() -> None:
    """`protocol` (the served version) and fields a later release may add are accepted."""
    msg = parse(
        orjson.dumps(
            {"type": "auth", "token": "x", "protocol": PROTOCOL_VERSION, "client": "v9", "id": 1}
        )
    )
    assert msg == Auth(type="auth", token="x", protocol=PROTOCOL_VERSION, id=1)
    assert parse(b'{"type": "ping", "future": {"a": 1}}').type == "ping"


def test_parse_refuses_a_bool_protocol_version() -> None:
    """`"protocol": true` is not version 1."""
    with pytest.raises(ProtocolViolation) as info:
        parse(b'{"type": "auth", "token": "x", "protocol": true}')
    assert (info.value.code, info.value.field) == (ErrorCode.INVALID_MESSAGE, "protocol")


def test_client_models_cover_the_protocols_client_types() -> None:
    """Each client message type of the protocol has one model, and no model another type."""
    models = get_args(get_args(ClientMessage)[0])
    tags = [get_args(m.model_fields["type"].annotation)[0] for m in models]
    assert sorted(tags) == sorted(CLIENT_MESSAGE_TYPES)


def _changes() -> list[object]:
    return [
        Reading(7, 2, 1, 21.5, T0 - 120, T0, 11),
        StatusRecord(1, 3, DeviceStatus(DeviceState.ONLINE, {"power": "on"}, T0 - 5, 12), T0 + 3),
        Event(1, 2, EventLevel.ALARM, "hot", "too hot", T0 - 4, T0 + 4, 13),
        CommandUpdate(41, 1, 3, CommandState.ACKNOWLEDGED, T0 + 6, "done", 14, action="on"),
    ]


def test_batch_prefix_encodes_every_kind_relative_to_t0() -> None:
    """A batch groups changes by kind as arrays whose times are offsets from t0."""
    prefix = batch_prefix(1, _changes(), ALL_TOPICS)  # type: ignore[arg-type]
    assert prefix is not None
    msg = orjson.loads(prefix + sent_tail(T0 + 9))
    assert msg == {
        "type": "batch",
        "farm": 1,
        "t0": T0,
        "r": [[11, 7, 21.5, -120, 0]],
        "s": [[12, 3, "online", {"power": "on"}, -5, 3]],
        "e": [[13, 2, "alarm", "hot", "too hot", -4, 4]],
        "c": [[14, 41, 3, "acknowledged", "on", "done", 6]],
        "sent": T0 + 9,
    }


def test_batch_prefix_filters_topics_and_is_none_when_nothing_is_left() -> None:
    """A subscriber to events gets only events; one to readings of a status-only batch gets none."""
    changes = _changes()
    events_only = orjson.loads(batch_prefix(1, changes, frozenset({Topic.EVENTS})) + "}")  # type: ignore[arg-type, operator]
    assert set(events_only) == {"type", "farm", "t0", "e"}
    assert batch_prefix(1, changes[1:2], frozenset({Topic.READINGS})) is None  # type: ignore[arg-type]


def test_readings_cost_at_most_40_bytes_each_in_a_batch() -> None:
    """With realistic values and times, a batch of 100 readings stays under 40 bytes per reading."""
    readings = [
        Reading(
            100 + i % 20,
            10 + i % 5,
            round(18.0 + i * 0.37, 2),
            T0 - 2_000 + i * 13,
            T0 + i * 7,
            1_000_000 + i,
        )
        for i in range(100)
    ]
    prefix = batch_prefix(1, readings, ALL_TOPICS)
    assert prefix is not None
    frame = prefix + sent_tail(T0 + 800)
    assert len(frame.encode()) / 100 <= 40


def test_subscribed_splices_the_shared_snapshot() -> None:
    """The snapshot JSON is embedded as is, and the result is one valid JSON object."""
    text = subscribed(
        2,
        1,
        "ep",
        10,
        ALL_TOPICS,
        Mode.LATEST,
        snapshot_json='{"seq":10,"devices":[],"sensors":[]}',
    )
    msg = orjson.loads(text)
    assert msg["snapshot"] == {"seq": 10, "devices": [], "sensors": []}
    assert msg["mode"] == "latest"
    assert msg["id"] == 2


DOC = Path(__file__).parents[2] / "docs" / "protocol.md"


def _table_keys(section: str) -> set[str]:
    """The first column of the first table under the `section` heading of protocol.md."""
    text = DOC.read_text()
    body = text.split(section, 1)[1]
    keys: set[str] = set()
    started = False
    for line in body.splitlines():
        if line.startswith("|"):
            started = True
            first = line.split("|")[1].strip()
            if first and set(first) != {"-"} and first not in {"code", "what"}:
                keys |= {k.strip().strip("`") for k in first.split(",")}
        elif started:
            break
    return keys


def test_protocol_doc_close_code_table_is_the_servers() -> None:
    """The doc's close-code table lists exactly the server's close codes, no more, no fewer."""
    assert _table_keys("## Close codes") == {str(c.value) for c in CloseCode}


def test_protocol_doc_error_code_table_is_the_servers() -> None:
    """The doc's error-code table lists exactly the server's error codes."""
    assert _table_keys("### Recovery and errors") == {c.value for c in ErrorCode}


def test_protocol_doc_states_the_servers_limits_and_timings() -> None:
    """Every limit and timing the doc states is the default the server runs with."""
    text = " ".join(DOC.read_text().split())
    assert f"within {AUTH_TIMEOUT_S:g} s (`auth_timeout`)" in text
    assert f"| heartbeat | {HEARTBEAT_S:g} s |" in text
    assert f"silent for more than {HEARTBEAT_SILENCE_INTERVALS_WORD} intervals" in text
    assert f"More than {MAX_VIOLATIONS} violations close the connection with 4029" in text
    assert f"more than {MAX_SUBSCRIPTIONS} farms on one connection" in text
    assert f"| {MAX_MESSAGES_PER_S:g} (bursts of {MESSAGE_BURST}) |" in text
    assert f"| {MAX_FRAME_BYTES // 1024} KiB |" in text
    assert f"`welcome.protocol` is {PROTOCOL_VERSION}" in text
    assert f"a third queue overflow, or a socket that took nothing for {SEND_TIMEOUT_S:g} s" in text
    assert MAX_SLOW_STRIKES == 3
    assert HEARTBEAT_SILENCE_INTERVALS == 2
    assert PING_ANSWER_INTERVALS == 1
    assert "leaves the client a full interval" in text
