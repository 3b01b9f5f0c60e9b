"""Messages a client sends, parsed and validated; anything else is a ProtocolViolation."""

from __future__ import annotations

from typing import Annotated, Final, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from farmbridge.domain.errors import ValidationFailed
from farmbridge.protocol.const import CLIENT_MESSAGE_TYPES, ErrorCode, Mode, Topic


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


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: int | str | None = Field(default=None, description="echoed in the answer")


class Auth(_Msg):
    type: Literal["auth"]
    token: str = Field(min_length=1, max_length=4096)


class Subscribe(_Msg):
    type: Literal["subscribe"]
    farm: int
    topics: list[Topic] | None = Field(default=None, max_length=len(Topic))
    since: int | None = Field(default=None, ge=0)
    epoch: str | None = Field(default=None, max_length=64)
    mode: Mode = Mode.ALL


class Unsubscribe(_Msg):
    type: Literal["unsubscribe"]
    farm: int


class Ping(_Msg):
    type: Literal["ping"]


class Pong(_Msg):
    type: Literal["pong"]
    t: int | None = None


ClientMessage = Annotated[Auth | Subscribe | Unsubscribe | Ping | Pong, Field(discriminator="type")]
_adapter: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)
KNOWN_TYPES: Final = CLIENT_MESSAGE_TYPES


def parse(raw: str | bytes) -> ClientMessage:
    """Decodes one frame; raises ProtocolViolation naming what is wrong."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProtocolViolation(ErrorCode.INVALID_JSON, f"frame is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolViolation(ErrorCode.INVALID_MESSAGE, "a message must be a JSON object")
    ref = obj.get("id") if isinstance(obj.get("id"), int | str) else None
    kind = obj.get("type")
    if kind not in KNOWN_TYPES:
        raise ProtocolViolation(
            ErrorCode.UNKNOWN_TYPE,
            f"unknown message type {kind!r}; expected one of {sorted(KNOWN_TYPES)}",
            ref,
        )
    try:
        return _adapter.validate_python(obj)
    except ValidationError as exc:
        err = exc.errors()[0]
        path = ".".join(str(p) for p in err["loc"][1:])
        raise ProtocolViolation(
            ErrorCode.INVALID_MESSAGE, f"{path or 'message'}: {err['msg']}", ref, field=path or None
        ) from None
