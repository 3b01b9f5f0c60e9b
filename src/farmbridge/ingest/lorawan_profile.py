"""A device's LoRaWAN profile applied to an uplink: names, units and scaled values.

Pure. A decoded field the profile names (by the bridge's name of it, `soil.moisture`)
becomes the profile's sensor, in its unit, with the value `value * scale + offset`;
fields it does not name, radio readings included unless named, are left as parsed. Two
readings that would end up on one sensor (a mapped name colliding with an unmapped field)
are refused with BadPayload, like the parser's own collisions.
"""

from __future__ import annotations

import dataclasses
import math

from farmbridge.domain.errors import BadPayload
from farmbridge.domain.lorawan_profiles import LorawanProfile
from farmbridge.domain.reports import ReportedReading
from farmbridge.ingest.lorawan import Uplink


def apply_profile(uplink: Uplink, profile: LorawanProfile | None) -> Uplink:
    """The uplink as the device's profile says to store it (unchanged without one)."""
    if profile is None or not profile.fields:
        return uplink
    mapping = profile.by_field()
    readings: list[ReportedReading] = []
    units: dict[str, str] = {}
    seen: dict[str, str] = {}  # sensor -> the field it came from
    for r in uplink.report.readings:
        spec = mapping.get(r.sensor)
        if spec is None:
            sensor, value, unit = r.sensor, r.value, uplink.units.get(r.sensor)
        else:
            sensor, value, unit = spec.sensor, spec.convert(r.value), spec.unit
            if not math.isfinite(value):
                raise BadPayload(f"{r.sensor}: scaled by the profile, {value} is not finite")
        if sensor in seen:
            raise BadPayload(
                f"{r.sensor} and {seen[sensor]} would both be stored as sensor {sensor!r}"
            )
        seen[sensor] = r.sensor
        readings.append(ReportedReading(sensor, value, r.ts_ms))
        if unit:
            units[sensor] = unit
    report = dataclasses.replace(uplink.report, readings=readings)
    return dataclasses.replace(uplink, report=report, units=units)
