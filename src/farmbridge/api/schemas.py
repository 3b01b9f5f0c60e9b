"""Request and response bodies of the REST API (the OpenAPI page shows them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from farmbridge.domain import (
    Command,
    Device,
    DeviceKind,
    Event,
    Farm,
    Membership,
    PendingDevice,
    PendingState,
    Reading,
    ReadingBucket,
    Role,
    Sensor,
    User,
)
from farmbridge.domain.bounds import JSON_MAX_DEPTH, check_json
from farmbridge.domain.devices import MAX_ZONE_CHARS
from farmbridge.domain.liveness import (
    MAX_EXPECTED_INTERVAL_S,
    MIN_EXPECTED_INTERVAL_S,
    LivenessPolicy,
)

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class Body(BaseModel):
    """A request body: unknown fields refused, numbers finite (NaN and Infinity refused)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 scheme name
    expires_at: int


class UserIn(Body):
    username: str = Field(pattern=NAME_PATTERN)
    password: str = Field(min_length=8, max_length=256)
    is_admin: bool = False


class UserOut(BaseModel):
    id: int
    username: str
    is_admin: bool
    created_ms: int

    @classmethod
    def of(cls, u: User) -> UserOut:
        return cls(id=u.id, username=u.username, is_admin=u.is_admin, created_ms=u.created_ms)


class MeOut(UserOut):
    roles: dict[int, Role]
    display_id: int | None = Field(
        default=None, description="set for a display credential's token (a wall screen)"
    )


class RoleIn(Body):
    role: Role


class MemberOut(BaseModel):
    user_id: int
    farm_id: int
    role: Role

    @classmethod
    def of(cls, m: Membership) -> MemberOut:
        return cls(user_id=m.user_id, farm_id=m.farm_id, role=m.role)


class FarmIn(Body):
    name: str = Field(pattern=NAME_PATTERN)
    title: str = Field(default="", max_length=200)


class FarmPatch(Body):
    """A farm's name or title to change; a field left out stays as it is."""

    name: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="MQTT devices publish under the name: after a rename, under the new one.",
    )
    title: str | None = Field(
        default=None, max_length=200, description="Empty: the name. Left out: kept."
    )


class FarmOut(BaseModel):
    id: int
    name: str
    title: str
    created_ms: int
    last_seq: int
    epoch: str

    @classmethod
    def of(cls, f: Farm) -> FarmOut:
        return cls(
            id=f.id,
            name=f.name,
            title=f.title,
            created_ms=f.created_ms,
            last_seq=f.last_seq,
            epoch=f.epoch,
        )


class SensorIn(Body):
    name: str = Field(pattern=NAME_PATTERN)
    unit: str = Field(default="", max_length=16)
    min: float | None = None
    max: float | None = None


class SensorOut(BaseModel):
    id: int
    device_id: int
    farm_id: int
    name: str
    unit: str
    min: float | None
    max: float | None
    last_value: float | None
    last_ts_ms: int | None
    last_seq: int | None

    @classmethod
    def of(cls, s: Sensor) -> SensorOut:
        return cls(
            id=s.id,
            device_id=s.device_id,
            farm_id=s.farm_id,
            name=s.name,
            unit=s.unit,
            min=s.min_value,
            max=s.max_value,
            last_value=s.last_value,
            last_ts_ms=s.last_ts_ms,
            last_seq=s.last_seq,
        )


class DeviceIn(Body):
    name: str = Field(pattern=NAME_PATTERN)
    kind: DeviceKind
    title: str = Field(default="", max_length=200)
    sensors: list[SensorIn] = Field(default_factory=list, max_length=64)


class StatusOut(BaseModel):
    state: str
    actuator: dict[str, Any]
    ts_ms: int
    seq: int


class DeviceOut(BaseModel):
    id: int
    farm_id: int
    name: str
    kind: DeviceKind
    title: str
    created_ms: int
    status: StatusOut
    last_seen_ms: int | None
    expected_interval_s: float | None = Field(
        description="The reporting interval an admin set; null: it is learned."
    )
    interval_s: float | None = Field(
        description="The expected reporting interval: set, else learned, else null."
    )
    offline_after_s: float | None = Field(
        description="Seconds of silence after which the device is marked offline; null: never."
    )
    zone: str | None = Field(description="Where the device stands, set by an admin; null: none.")
    confirm_commands: bool = Field(
        description="Whether the dashboard asks before sending the device a command."
    )

    @classmethod
    def of(cls, d: Device, liveness: LivenessPolicy) -> DeviceOut:
        st = d.status
        return cls(
            id=d.id,
            farm_id=d.farm_id,
            name=d.name,
            kind=d.kind,
            title=d.title,
            created_ms=d.created_ms,
            status=StatusOut(
                state=st.state.value, actuator=st.actuator, ts_ms=st.ts_ms, seq=st.seq
            ),
            last_seen_ms=d.last_seen_ms,
            expected_interval_s=d.expected_interval_s,
            interval_s=d.interval_s,
            offline_after_s=liveness.offline_after_s(d.interval_s),
            zone=d.zone,
            confirm_commands=d.confirm_commands,
        )


class DevicePatch(Body):
    """A device's settings to change; a field left out stays as it is."""

    expected_interval_s: float | None = Field(
        default=None,
        ge=MIN_EXPECTED_INTERVAL_S,
        le=MAX_EXPECTED_INTERVAL_S,
        description="Seconds between the device's reports; null: learn it from its data.",
    )
    name: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="Devices on MQTT are addressed by name: after a rename they must use it.",
    )
    title: str | None = Field(default=None, max_length=200, description="Empty: the name.")
    zone: str | None = Field(
        default=None,
        max_length=MAX_ZONE_CHARS,
        description="Where the device stands (a greenhouse, a bay); null or empty: no zone.",
    )
    confirm_commands: bool | None = Field(
        default=None,
        description="Whether the dashboard asks before sending a command (new devices: true).",
    )


class SensorPatch(Body):
    """A sensor's unit and range to change; a field left out stays, a bound set to null
    is removed."""

    unit: str | None = Field(default=None, max_length=16)
    min: float | None = None
    max: float | None = None


class DeviceCreated(BaseModel):
    device: DeviceOut
    sensors: list[SensorOut]
    key: str = Field(description="The device key, shown this once; only its hash is stored.")


class KeyOut(BaseModel):
    key: str


class SnapshotOut(BaseModel):
    farm: FarmOut
    devices: list[DeviceOut]
    sensors: list[SensorOut]


class ReadingOut(BaseModel):
    seq: int
    sensor_id: int
    value: float
    ts_ms: int
    received_ms: int

    @classmethod
    def of(cls, r: Reading) -> ReadingOut:
        return cls(
            seq=r.seq,
            sensor_id=r.sensor_id,
            value=r.value,
            ts_ms=r.ts_ms,
            received_ms=r.received_ms,
        )


class BucketOut(BaseModel):
    start_ms: int
    count: int
    min: float
    avg: float
    max: float

    @classmethod
    def of(cls, b: ReadingBucket) -> BucketOut:
        return cls(start_ms=b.start_ms, count=b.count, min=b.min, avg=b.avg, max=b.max)


class EventOut(BaseModel):
    seq: int
    device_id: int | None
    level: str
    code: str
    message: str
    ts_ms: int
    received_ms: int

    @classmethod
    def of(cls, e: Event) -> EventOut:
        return cls(
            seq=e.seq,
            device_id=e.device_id,
            level=e.level.value,
            code=e.code,
            message=e.message,
            ts_ms=e.ts_ms,
            received_ms=e.received_ms,
        )


class CommandIn(Body):
    action: str = Field(pattern=NAME_PATTERN)
    params: dict[str, Any] = Field(
        default_factory=dict,
        description=f"free-form JSON, nested at most {JSON_MAX_DEPTH} levels, integers within "
        "64 bits, numbers finite",
    )
    ttl_s: int | None = Field(default=None, ge=1, le=86_400)

    @field_validator("params")
    @classmethod
    def _storable(cls, value: dict[str, Any]) -> dict[str, Any]:
        # ValidationFailed (not ValueError) so the 422 names the value at fault: params.a[2]
        check_json(value, field="params")
        return value


class CommandOut(BaseModel):
    id: int
    farm_id: int
    device_id: int
    action: str
    params: dict[str, Any]
    state: str
    created_ms: int
    updated_ms: int
    expires_ms: int
    detail: str
    seq: int

    @classmethod
    def of(cls, c: Command) -> CommandOut:
        return cls(
            id=c.id,
            farm_id=c.farm_id,
            device_id=c.device_id,
            action=c.action,
            params=c.params,
            state=c.state.value,
            created_ms=c.created_ms,
            updated_ms=c.updated_ms,
            expires_ms=c.expires_ms,
            detail=c.detail,
            seq=c.seq,
        )


class PendingDeviceOut(BaseModel):
    id: int
    farm_id: int
    name: str
    source: str = Field(description="where it was heard: mqtt:<binding> or lorawan:<integration>")
    state: PendingState
    first_seen_ms: int
    last_seen_ms: int
    messages: int = Field(description="messages heard (counted at most every few seconds)")
    sample: str = Field(description="the start of its latest message")

    @classmethod
    def of(cls, p: PendingDevice) -> PendingDeviceOut:
        return cls(
            id=p.id,
            farm_id=p.farm_id,
            name=p.name,
            source=p.source,
            state=p.state,
            first_seen_ms=p.first_seen_ms,
            last_seen_ms=p.last_seen_ms,
            messages=p.messages,
            sample=p.sample,
        )


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: DeviceKind = DeviceKind.SENSOR_NODE
    title: str = Field(default="", max_length=200)


class ErrorDetail(BaseModel):
    code: str = Field(description="stable machine-readable code: not_found, invalid, ...")
    message: str
    field: str | None = Field(default=None, description="the input at fault, if one is")


class ErrorOut(BaseModel):
    """Every error answer of the REST API and the device ingest."""

    error: ErrorDetail
