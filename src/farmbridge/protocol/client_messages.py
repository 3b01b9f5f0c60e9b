"""Messages a client sends, parsed and validated; anything else is a ProtocolViolation."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, Strict, TypeAdapter, ValidationError

from farmbridge.domain.errors import ValidationFailed
from farmbridge.protocol.const import (
    CLIENT_MESSAGE_TYPES,
    MAX_ID,
    MAX_TOKEN_CHARS,
    SUPPORTED_PROTOCOLS,
    ErrorCode,
    Mode,
    Topic,
)


class ProtocolViolation(ValidationFailed):
    """A client message the server refuses; `code` goes back in the error message, with
    `ref` (the message's own `id`, when it had a readable one)."""

    code: ErrorCode

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        ref: int | str | None = None,
        *,
        field: str | None = None,
    ) -> None:
        super().__init__(message, field=field)
        self.code = code
        self.ref = ref


# Strict: JSON `true` is not 1 and `"2"` is not 2. Bounded: every integer fits the store's
# signed 64 bits (and orjson's), so no id reaches SQLite or an encoder it would overflow.
StoreId = Annotated[int, Strict(), Field(ge=1, le=MAX_ID)]
Seq = Annotated[int, Strict(), Field(ge=0, le=MAX_ID)]
Ref = (
    Annotated[int, Strict(), Field(ge=-MAX_ID, le=MAX_ID)]
    | Annotated[str, Strict(), Field(max_length=128)]
)


class _Msg(BaseModel):
    # Unknown fields are ignored: a later release of protocol 1 may add optional ones
    # (docs/protocol.md, Versioning), and an older server must still serve such a client.
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: Ref | None = Field(default=None, description="echoed in the answer")


class Auth(_Msg):
    type: Literal["auth"]
    token: Annotated[str, Strict(), Field(min_length=1, max_length=MAX_TOKEN_CHARS)]
    protocol: Annotated[int, Strict()] | None = Field(
        default=None, description="the protocol version the client speaks (default: the newest)"
    )


class Subscribe(_Msg):
    type: Literal["subscribe"]
    farm: StoreId
    topics: list[Topic] | None = Field(default=None, max_length=len(Topic))
    since: Seq | None = None
    epoch: Annotated[str, Strict(), Field(max_length=64)] | None = None
    mode: Mode = Mode.ALL


class Unsubscribe(_Msg):
    type: Literal["unsubscribe"]
    farm: StoreId


class SubscribeStats(_Msg):
    """Live figures of this instance (global admins only): the window, then each slot."""

    type: Literal["subscribe_stats"]


class UnsubscribeStats(_Msg):
    type: Literal["unsubscribe_stats"]


class Ping(_Msg):
    type: Literal["ping"]


class Pong(_Msg):
    type: Literal["pong"]
    t: Annotated[int, Strict(), Field(ge=-MAX_ID, le=MAX_ID)] | None = None


ClientMessage = Annotated[
    Auth | Subscribe | Unsubscribe | SubscribeStats | UnsubscribeStats | Ping | Pong,
    Field(discriminator="type"),
]
_adapter: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)
KNOWN_TYPES: Final = CLIENT_MESSAGE_TYPES


def _ref_of(obj: dict[str, Any]) -> int | str | None:
    """The message's `id` when it can be echoed as it came (a bounded int or a string)."""
    ref = obj.get("id")
    if isinstance(ref, str) and len(ref) <= 128:
        return ref
    if isinstance(ref, int) and not isinstance(ref, bool) and -MAX_ID <= ref <= MAX_ID:
        return ref
    return None


def parse(raw: str | bytes) -> ClientMessage:
    """Decodes one frame; raises ProtocolViolation naming what is wrong.

    A missing or bad `token` in `auth` raises with code `unauthenticated`, which ends the
    connection (4001) as docs/protocol.md says; an unsupported `protocol` is an
    `invalid_message` naming it.
    """
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProtocolViolation(ErrorCode.INVALID_JSON, f"frame is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolViolation(ErrorCode.INVALID_MESSAGE, "a message must be a JSON object")
    ref = _ref_of(obj)
    kind = obj.get("type")
    if not isinstance(kind, str) or kind not in KNOWN_TYPES:
        raise ProtocolViolation(
            ErrorCode.UNKNOWN_TYPE,
            f"unknown message type {kind!r}; expected one of {sorted(KNOWN_TYPES)}",
            ref,
        )
    try:
        msg = _adapter.validate_python(obj)
    except ValidationError as exc:
        err = exc.errors()[0]
        # The field and its list indices; a union's member tags (`constrained-int`) say
        # nothing to a client.
        loc = err["loc"][1:]
        path = ".".join(str(p) for i, p in enumerate(loc) if i == 0 or isinstance(p, int))
        code = ErrorCode.INVALID_MESSAGE
        if kind == "auth" and path == "token":
            code = ErrorCode.UNAUTHENTICATED
        raise ProtocolViolation(
            code, f"{path or 'message'}: {err['msg']}", ref, field=path or None
        ) from None
    if (
        isinstance(msg, Auth)
        and msg.protocol is not None
        and msg.protocol not in SUPPORTED_PROTOCOLS
    ):
        raise ProtocolViolation(
            ErrorCode.INVALID_MESSAGE,
            f"protocol: version {msg.protocol} is not served; "
            f"supported: {sorted(SUPPORTED_PROTOCOLS)}",
            ref,
            field="protocol",
        )
    return msg
