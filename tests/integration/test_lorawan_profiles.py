"""LoRaWAN device profiles over REST, and applied to uplinks through the HTTP integrations.

A real bridge with a The Things Stack and a ChirpStack integration. The uplinks are the
samples in tests/samples/lorawan, which follow the servers' documented formats (The
Things Stack: https://www.thethingsindustries.com/docs/integrations/data-formats/,
"Uplink Messages"; ChirpStack v4: https://www.chirpstack.io/docs/chirpstack/integrations/events.html,
the `up` event, JSON marshaler), with their times moved to now.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final

import httpx
import pytest

from tests.conftest import ADMIN, Bridge, started_bridge
from tests.integration.api_client import Api
from tests.integration.test_lorawan import SECRET, post, sample

FARM: Final = "profiled"
PASSWORD: Final = "a-long-enough-password-42"


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    integrations = [
        {"name": "tts-p", "kind": "tts", "farm": FARM, "secret": SECRET},
        {"name": "cs-p", "kind": "chirpstack", "farm": FARM, "secret": SECRET},
    ]
    b = started_bridge(
        tmp_path_factory.mktemp("lorawan-profiles"),
        FARMBRIDGE_LORAWAN_INTEGRATIONS=json.dumps(integrations),
    )
    yield b
    b.stop()


@pytest.fixture(scope="module")
def api(bridge: Bridge) -> Iterator[Api]:
    a = Api(bridge.url, *ADMIN)
    yield a
    a.close()


@pytest.fixture(scope="module")
def farm(api: Api) -> dict[str, Any]:
    created: dict[str, Any] = api.farm(FARM)
    return created


def device(api: Api, farm_id: int, name: str) -> int:
    body = {"name": name, "kind": "sensor_node", "sensors": []}
    return int(api.ok("POST", f"/api/v1/farms/{farm_id}/devices", json=body)["device"]["id"])


def sensors_of(api: Api, farm_id: int, device_id: int) -> dict[str, dict[str, Any]]:
    rows = api.ok("GET", f"/api/v1/farms/{farm_id}/sensors")
    return {s["name"]: s for s in rows if s["device_id"] == device_id}


def path(device_id: int) -> str:
    return f"/api/v1/devices/{device_id}/lorawan-profile"


TTS_PROFILE: Final = {
    "fields": [
        {"field": "soil.moisture", "sensor": "soil_moisture", "unit": "%"},
        {"field": "soil.conductivity", "sensor": "soil_ec", "unit": "mS/cm", "scale": 0.001},
        {
            "field": "air.temperature",
            "sensor": "air_temperature_f",
            "unit": "°F",
            "scale": 1.8,
            "offset": 32,
        },
    ]
}


def test_profile_is_set_read_replaced_and_removed_by_an_admin(
    api: Api, farm: dict[str, Any]
) -> None:
    """PUT sets (and replaces) a device's profile, GET reads it, DELETE removes it; a
    device without one answers 404."""
    device_id = device(api, farm["id"], "crud-node")
    assert api.http.get(path(device_id)).status_code == 404
    put = api.ok("PUT", path(device_id), json=TTS_PROFILE)
    assert put["device_id"] == device_id
    assert [f["sensor"] for f in put["fields"]] == ["soil_moisture", "soil_ec", "air_temperature_f"]
    assert put["fields"][0] == {
        "field": "soil.moisture",
        "sensor": "soil_moisture",
        "unit": "%",
        "scale": 1.0,
        "offset": 0.0,
    }
    assert api.ok("GET", path(device_id)) == put
    smaller = {"fields": [{"field": "battery", "sensor": "battery_pct", "unit": "%"}]}
    assert [f["field"] for f in api.ok("PUT", path(device_id), json=smaller)["fields"]] == [
        "battery"
    ]
    assert api.http.delete(path(device_id)).status_code == 204
    assert api.http.get(path(device_id)).status_code == 404
    assert api.http.delete(path(device_id)).status_code == 404


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"fields": [{"field": "a", "sensor": "b", "scale": 0}]}, "scale 0"),
        ({"fields": [{"field": "a", "sensor": "b", "scale": 1e12}]}, "scale"),
        ({"fields": [{"field": "a", "sensor": "b", "unit": "x" * 17}]}, "unit"),
        ({"fields": [{"field": "a b", "sensor": "b"}]}, "field"),
        ({"fields": [{"field": "a", "sensor": ""}]}, "sensor"),
        ({"fields": [{"field": "a", "sensor": "b", "colour": "red"}]}, "colour"),
        ({"fields": [{"field": f"f{i}", "sensor": f"s{i}"} for i in range(65)]}, "fields"),
        ({"fields": [{"field": "a", "sensor": "x"}, {"field": "a", "sensor": "y"}]}, "a"),
        ({"fields": [{"field": "a", "sensor": "x"}, {"field": "b", "sensor": "x"}]}, "x"),
        ({}, "fields"),
    ],
    ids=[
        "zero-scale",
        "huge-scale",
        "long-unit",
        "bad-field-name",
        "empty-sensor",
        "unknown-key",
        "too-many",
        "field-twice",
        "sensor-twice",
        "no-fields",
    ],
)
def test_invalid_profiles_are_refused_with_422(
    api: Api, farm: dict[str, Any], body: dict[str, Any], needle: str
) -> None:
    """Bodies that break the schema's limits are 422 naming what is wrong, and change
    nothing."""
    device_id = device(api, farm["id"], f"invalid-{abs(hash(json.dumps(body))) % 10**8}")
    r = api.http.put(path(device_id), json=body)
    assert r.status_code == 422, r.text
    assert needle in r.text
    assert api.http.get(path(device_id)).status_code == 404


def test_unknown_device_is_404(api: Api) -> None:
    """A device id that does not exist: 404 for GET, PUT and DELETE."""
    for method in ("GET", "PUT", "DELETE"):
        kw: dict[str, Any] = {"json": TTS_PROFILE} if method == "PUT" else {}
        assert api.http.request(method, path(987654), **kw).status_code == 404


def test_profiles_are_for_the_farms_admins_only(
    bridge: Bridge, api: Api, farm: dict[str, Any]
) -> None:
    """No token: 401. A viewer of the farm: 403. A user of another farm: 404."""
    device_id = device(api, farm["id"], "guarded-node")
    assert httpx.put(bridge.url + path(device_id), json=TTS_PROFILE).status_code == 401
    api.user("profile-viewer", PASSWORD, farm["id"], role="viewer")
    other = api.farm("profile-elsewhere")
    api.user("profile-stranger", PASSWORD, other["id"], role="admin")
    viewer = Api(bridge.url, "profile-viewer", PASSWORD)
    stranger = Api(bridge.url, "profile-stranger", PASSWORD)
    try:
        assert viewer.http.put(path(device_id), json=TTS_PROFILE).status_code == 403
        assert viewer.http.get(path(device_id)).status_code == 403
        assert stranger.http.put(path(device_id), json=TTS_PROFILE).status_code == 404
    finally:
        viewer.close()
        stranger.close()


def test_tts_uplink_is_stored_with_the_profiles_names_units_and_values(
    bridge: Bridge, api: Api, farm: dict[str, Any]
) -> None:
    """Through the TTS webhook endpoint: mapped fields are stored as the profile's
    sensors with its units and scaled values; unmapped fields as before, without units."""
    device_id = device(api, farm["id"], "soil-probe-north-03")  # the sample's device_id
    api.ok("PUT", path(device_id), json=TTS_PROFILE)
    r = post(bridge, "tts-p", sample("tts_uplink.json"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "stored"
    sensors = sensors_of(api, farm["id"], device_id)
    assert sensors["soil_moisture"]["unit"] == "%"
    assert sensors["soil_moisture"]["last_value"] == 31.4
    assert sensors["soil_ec"]["unit"] == "mS/cm"
    assert sensors["soil_ec"]["last_value"] == pytest.approx(0.412)
    assert sensors["air_temperature_f"]["unit"] == "°F"
    assert sensors["air_temperature_f"]["last_value"] == pytest.approx(71.24)
    assert "soil.moisture" not in sensors
    assert sensors["soil.temperature"]["unit"] == ""  # unmapped: today's behaviour
    assert sensors["soil.temperature"]["last_value"] == 17.25
    assert sensors["rssi"]["unit"] == "dBm"


def test_chirpstack_uplink_is_stored_with_the_profile(
    bridge: Bridge, api: Api, farm: dict[str, Any]
) -> None:
    """Through the ChirpStack HTTP integration endpoint (`?event=up`), the same."""
    device_id = device(api, farm["id"], "Orchard_soil_7")  # deviceName "Orchard soil 7"
    profile = {
        "fields": [
            {"field": "conductivity", "sensor": "soil_ec", "unit": "mS/cm", "scale": 0.001},
            {"field": "depths.cm30.moisture", "sensor": "moisture_30cm", "unit": "%"},
        ]
    }
    api.ok("PUT", path(device_id), json=profile)
    r = post(bridge, "cs-p", sample("chirpstack_up.json"), event="up")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "stored"
    sensors = sensors_of(api, farm["id"], device_id)
    assert sensors["soil_ec"]["unit"] == "mS/cm"
    assert sensors["soil_ec"]["last_value"] == pytest.approx(0.46)
    assert sensors["moisture_30cm"]["last_value"] == 47.5
    assert sensors["moisture"]["last_value"] == 45.5
    assert "conductivity" not in sensors


def test_a_profile_colliding_names_makes_the_uplink_a_422(
    bridge: Bridge, api: Api, farm: dict[str, Any]
) -> None:
    """A profile that would store two fields on one sensor refuses the uplink with a 422
    naming both, instead of keeping one of them."""
    body = sample("chirpstack_up.json")
    body["deviceInfo"]["deviceName"] = "collide-node"
    device_id = device(api, farm["id"], "collide-node")
    api.ok("PUT", path(device_id), json={"fields": [{"field": "battery", "sensor": "moisture"}]})
    r = post(bridge, "cs-p", body, event="up")
    assert r.status_code == 422, r.text
    assert "moisture" in r.text
