"""A LoRaWAN device profile applied to uplinks parsed from The Things Stack and ChirpStack.

The samples in tests/samples/lorawan follow the servers' documented message formats: The
Things Stack's uplink message (https://www.thethingsindustries.com/docs/integrations/data-formats/,
"Uplink Messages") and ChirpStack v4's `up` event of the HTTP integration, JSON marshaler
(https://www.chirpstack.io/docs/chirpstack/integrations/events.html; the fields of
`integration.UplinkEvent` in chirpstack/api/proto/integration/integration.proto).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from farmbridge.domain.errors import BadPayload
from farmbridge.domain.lorawan_profiles import LorawanProfile, ProfileField
from farmbridge.ingest.lorawan import Uplink, parse_chirpstack_event, parse_tts_uplink
from farmbridge.ingest.lorawan_profile import apply_profile

SAMPLES = Path(__file__).parent.parent / "samples" / "lorawan"
NOW = 1_714_560_000_000  # after every sample


def tts() -> Uplink:
    up = parse_tts_uplink((SAMPLES / "tts_uplink.json").read_bytes(), NOW)
    assert up is not None
    return up


def chirpstack() -> Uplink:
    up = parse_chirpstack_event("up", (SAMPLES / "chirpstack_up.json").read_bytes(), NOW)
    assert up is not None
    return up


def values(up: Uplink) -> dict[str, float]:
    return {r.sensor: r.value for r in up.report.readings}


def profile(*fields: ProfileField) -> LorawanProfile:
    return LorawanProfile(1, fields, NOW)


def test_tts_fields_get_the_profiles_names_units_and_scaled_values() -> None:
    """Mapped decoded fields of a TTS uplink are renamed, get units, and are scaled with
    an offset; unmapped ones stay as the parser named them, without units."""
    up = apply_profile(
        tts(),
        profile(
            ProfileField("soil.moisture", "soil_moisture", "%"),
            ProfileField("battery_voltage", "battery_mv", "mV", scale=1000),
            ProfileField("air.temperature", "air_temperature_f", "°F", scale=1.8, offset=32),
        ),
    )
    got = values(up)
    assert got["soil_moisture"] == 31.4
    assert got["battery_mv"] == pytest.approx(3610.0)
    assert got["air_temperature_f"] == pytest.approx(71.24)
    assert "soil.moisture" not in got
    assert "battery_voltage" not in got
    assert got["soil.temperature"] == 17.25  # unmapped: as before
    assert up.units["soil_moisture"] == "%"
    assert up.units["battery_mv"] == "mV"
    assert up.units["air_temperature_f"] == "°F"
    assert "soil.temperature" not in up.units
    assert up.units["rssi"] == "dBm"  # the parser's own units are kept
    assert up.report.message_id == tts().report.message_id
    assert {r.ts_ms for r in up.report.readings} == {r.ts_ms for r in tts().report.readings}


def test_chirpstack_object_fields_and_nested_paths_are_mapped() -> None:
    """ChirpStack `object` fields, nested ones by their path, are mapped like TTS's."""
    up = apply_profile(
        chirpstack(),
        profile(
            ProfileField("conductivity", "soil_ec", "mS/cm", scale=0.001),
            ProfileField("depths.cm30.moisture", "moisture_30cm", "%"),
        ),
    )
    got = values(up)
    assert got["soil_ec"] == pytest.approx(0.46)
    assert got["moisture_30cm"] == 47.5
    assert got["moisture"] == 45.5
    assert up.units["soil_ec"] == "mS/cm"


def test_without_a_profile_the_uplink_is_unchanged() -> None:
    """No profile, or an empty one: today's behaviour."""
    assert apply_profile(tts(), None) == tts()
    assert apply_profile(chirpstack(), profile()) == chirpstack()


def test_a_field_the_uplink_lacks_changes_nothing() -> None:
    """A profile naming fields this uplink does not carry leaves it as it is."""
    up = apply_profile(chirpstack(), profile(ProfileField("no.such.field", "x", "V")))
    assert values(up) == values(chirpstack())


def test_a_mapped_name_colliding_with_an_unmapped_field_is_refused() -> None:
    """Two readings ending on one sensor would overwrite each other: BadPayload."""
    with pytest.raises(BadPayload, match="both be stored as sensor 'moisture'"):
        apply_profile(chirpstack(), profile(ProfileField("temperature", "moisture", "%")))


def test_a_scaled_value_that_is_not_finite_is_refused() -> None:
    """A scale that overflows a value is refused, never stored as infinity."""
    with pytest.raises(BadPayload, match="not finite"):
        apply_profile(chirpstack(), profile(ProfileField("conductivity", "ec", scale=1e308)))
    assert math.isfinite(ProfileField("x", "y", scale=1e9).convert(1e9))
