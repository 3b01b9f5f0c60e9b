"""The HTTP ingest body: its schema, and its translation into a DeviceReport (pure, no I/O)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from farmbridge.domain import DeviceState, EventLevel
from farmbridge.domain.errors import BadPayload
from farmbridge.domain.reports import DeviceReport, ReportedEvent, ReportedReading, ReportedStatus
from farmbridge.ingest.fields import MAX_ACTUATOR_KEYS, iso8601_ms


def _epoch_ms(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return iso8601_ms(value, "")
        except BadPayload as exc:
            # pydantic reports a ValueError at the field's own path (readings[1].ts).
            raise ValueError(exc.message) from None
    return value


Timestamp = Annotated[
    int,
    BeforeValidator(_epoch_ms),
    Field(description="epoch milliseconds, or an ISO 8601 date-time with a zone"),
]


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReadingBody(_Item):
    sensor: str = Field(min_length=1, max_length=64)
    value: float
    ts: Timestamp | None = None


class StatusBody(_Item):
    state: DeviceState
    actuator: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    ts: Timestamp | None = None

    @model_validator(mode="after")
    def _small_actuator(self) -> StatusBody:
        if len(self.actuator) > MAX_ACTUATOR_KEYS:
            raise ValueError(f"actuator holds more than {MAX_ACTUATOR_KEYS} keys")
        return self


class EventBody(_Item):
    level: EventLevel
    code: str = Field(min_length=1, max_length=64)
    message: str = Field(default="", max_length=2_000)
    ts: Timestamp | None = None


class IngestBody(_Item):
    """One device message: any mix of readings, one status change and events."""

    message_id: str | None = Field(default=None, min_length=1, max_length=64)
    readings: list[ReadingBody] = Field(default_factory=list)
    status: StatusBody | None = None
    events: list[EventBody] = Field(default_factory=list)


def _ms(ts: Timestamp | None, default: int) -> int:
    if ts is None:
        return default
    return ts


def parse_report(raw: bytes, received_ms: int) -> DeviceReport:
    """Parses a JSON body; a single reading `{"sensor", "value", "ts"}` is accepted alone too.

    Raises BadPayload naming the first field at fault.
    """
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadPayload(f"body is not valid JSON: {exc}", field="body") from None
    try:
        if isinstance(obj, dict) and "sensor" in obj:
            body = IngestBody(readings=[ReadingBody.model_validate(obj)])
        else:
            body = IngestBody.model_validate(obj)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in err["loc"]).replace(
            ".[", "["
        )
        raise BadPayload(f"{field or 'body'}: {err['msg']}", field=field or "body") from None
    return DeviceReport(
        readings=[
            ReportedReading(r.sensor, r.value, _ms(r.ts, received_ms)) for r in body.readings
        ],
        status=(
            ReportedStatus(
                body.status.state, dict(body.status.actuator), _ms(body.status.ts, received_ms)
            )
            if body.status
            else None
        ),
        events=[
            ReportedEvent(e.level, e.code, e.message, _ms(e.ts, received_ms)) for e in body.events
        ],
        message_id=body.message_id,
    )


def command_json(cmd: Any) -> dict[str, Any]:
    return {"id": cmd.id, "action": cmd.action, "params": cmd.params, "expires_ms": cmd.expires_ms}
