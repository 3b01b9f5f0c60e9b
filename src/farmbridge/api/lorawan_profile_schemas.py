"""Request and response bodies of LoRaWAN device profiles."""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, Field, model_validator

from farmbridge.api.schemas import NAME_PATTERN, Body
from farmbridge.domain.lorawan_profiles import MAX_PROFILE_FIELDS, LorawanProfile, ProfileField

MAX_FACTOR: Final = 1e9
MAX_UNIT_CHARS: Final = 16


class ProfileFieldIn(Body):
    field: str = Field(
        pattern=NAME_PATTERN,
        description="the decoded field as the bridge names it: its path, keys joined by"
        " '.' and list items by index (`soil.moisture`, `temps.0`)",
    )
    sensor: str = Field(pattern=NAME_PATTERN, description="the sensor it is stored as")
    unit: str = Field(default="", max_length=MAX_UNIT_CHARS)
    scale: float = Field(
        default=1.0, ge=-MAX_FACTOR, le=MAX_FACTOR, description="stored value = value * scale"
    )
    offset: float = Field(default=0.0, ge=-MAX_FACTOR, le=MAX_FACTOR, description="+ offset")

    @model_validator(mode="after")
    def _scale_not_zero(self) -> ProfileFieldIn:
        if self.scale == 0:
            raise ValueError("scale 0 would store the offset whatever the device measured")
        return self

    def to_domain(self) -> ProfileField:
        return ProfileField(self.field, self.sensor, self.unit, self.scale, self.offset)


class LorawanProfileIn(Body):
    fields: list[ProfileFieldIn] = Field(max_length=MAX_PROFILE_FIELDS)


class ProfileFieldOut(BaseModel):
    field: str
    sensor: str
    unit: str
    scale: float
    offset: float


class LorawanProfileOut(BaseModel):
    device_id: int
    fields: list[ProfileFieldOut]
    updated_ms: int

    @classmethod
    def of(cls, p: LorawanProfile) -> LorawanProfileOut:
        return cls(
            device_id=p.device_id,
            fields=[
                ProfileFieldOut(
                    field=f.field, sensor=f.sensor, unit=f.unit, scale=f.scale, offset=f.offset
                )
                for f in p.fields
            ],
            updated_ms=p.updated_ms,
        )
