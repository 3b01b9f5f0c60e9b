"""Fuzzing the WebSocket client-message decoder: any frame is a message or a refusal."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from farmbridge.protocol.client_messages import ProtocolViolation, parse
from farmbridge.protocol.const import CLIENT_MESSAGE_TYPES, ErrorCode
from tests.unit.fuzz_inputs import dumps, json_bytes, json_values

_messages = st.fixed_dictionaries(
    {"type": st.sampled_from(sorted(CLIENT_MESSAGE_TYPES))},
    optional={
        "id": json_values(),
        "token": json_values(),
        "farm": json_values(),
        "topics": json_values(),
        "since": json_values(),
        "epoch": json_values(),
        "mode": json_values(),
        "t": json_values(),
    },
)


def _outcome(raw: str | bytes) -> Any:
    try:
        return parse(raw)
    except ProtocolViolation as exc:
        refusal = exc
    assert refusal.code in set(ErrorCode)
    assert refusal.ref is None or isinstance(refusal.ref, int | str)
    return refusal


@given(json_bytes())
def test_parse_any_bytes_gives_a_message_or_a_violation(raw: bytes) -> None:
    """Any binary frame parses or raises ProtocolViolation, never another exception."""
    _outcome(raw)


@given(st.text(max_size=64) | json_values().map(lambda v: dumps(v).decode()))
def test_parse_any_text_gives_a_message_or_a_violation(raw: str) -> None:
    """Any text frame (lone surrogates included) parses or raises ProtocolViolation."""
    _outcome(raw)


@given(_messages)
def test_parse_known_types_with_any_fields_gives_a_message_or_a_violation(
    msg: dict[str, Any],
) -> None:
    """A known type with any values in its fields parses to that type or is refused."""
    result = _outcome(dumps(msg))
    if not isinstance(result, ProtocolViolation):
        assert result.type == msg["type"]
