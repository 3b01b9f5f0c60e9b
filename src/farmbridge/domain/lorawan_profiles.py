"""A LoRaWAN device's profile: what each decoded field is called, in which unit, scaled how."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MAX_PROFILE_FIELDS: Final = 64


@dataclass(frozen=True, slots=True)
class ProfileField:
    """One decoded field (`field`, the bridge's name of it: `soil.moisture`, `temps.0`)
    stored as `sensor` in `unit`, its value taken as `value * scale + offset`."""

    field: str
    sensor: str
    unit: str = ""
    scale: float = 1.0
    offset: float = 0.0

    def convert(self, value: float) -> float:
        return value * self.scale + self.offset


@dataclass(frozen=True, slots=True)
class LorawanProfile:
    """A device's field map; fields it does not name are stored as they come."""

    device_id: int
    fields: tuple[ProfileField, ...]
    updated_ms: int

    def by_field(self) -> dict[str, ProfileField]:
        return {f.field: f for f in self.fields}
