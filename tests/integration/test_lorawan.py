"""LoRaWAN HTTP integrations on a real bridge: TTS v3 webhooks and ChirpStack v4 events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, Bridge, started_bridge
from tests.integration.api_client import Api

SAMPLES = Path(__file__).parent.parent / "samples" / "lorawan"
SECRET = "s3cret-lorawan-integration-key"
FARM = "orchard"


@pytest.fixture(scope="module")
def lora_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    """One bridge for the module: both integrations feed FARM.

    The tests share that farm (the settings name it); each approves the pending device it
    makes, so the next one finds none.
    """
    integrations = [
        {"name": "tts-main", "kind": "tts", "farm": FARM, "secret": SECRET},
        {"name": "cs-main", "kind": "chirpstack", "farm": FARM, "secret": SECRET},
    ]
    b = started_bridge(
        tmp_path_factory.mktemp("lorawan"),
        FARMBRIDGE_LORAWAN_INTEGRATIONS=json.dumps(integrations),
    )
    yield b
    b.stop()


@pytest.fixture(scope="module")
def api(lora_bridge: Bridge) -> Iterator[Api]:
    a = Api(lora_bridge.url, *ADMIN)
    yield a
    a.close()


@pytest.fixture(scope="module")
def farm(api: Api) -> dict[str, Any]:
    """FARM, which the integrations feed."""
    created: dict[str, Any] = api.farm(FARM)
    return created


def _now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def sample(name: str) -> dict[str, Any]:
    """A sample body with its times moved to now (the bridge refuses month-old readings)."""
    body: dict[str, Any] = json.loads((SAMPLES / name).read_text())

    def fresh(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: _now_iso() if k in ("received_at", "time") else fresh(v) for k, v in node.items()
            }
        if isinstance(node, list):
            return [fresh(v) for v in node]
        return node

    result: dict[str, Any] = fresh(body)
    return result


def post(
    bridge: Bridge, name: str, body: Any, *, event: str | None = None, secret: str = SECRET
) -> httpx.Response:
    return httpx.post(
        f"{bridge.url}/api/v1/lorawan/{name}",
        params={"event": event} if event else None,
        content=body if isinstance(body, bytes) else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        timeout=30,
    )


def sensor_values(api: Api, farm_id: int) -> dict[str, float | None]:
    return {s["name"]: s["last_value"] for s in api.ok("GET", f"/api/v1/farms/{farm_id}/sensors")}


@pytest.mark.parametrize(
    ("integration", "file", "event", "device", "expected"),
    [
        ("tts-main", "tts_uplink.json", None, "soil-probe-north-03", {"soil.moisture": 31.4}),
        ("cs-main", "chirpstack_up.json", "up", "Orchard_soil_7", {"moisture": 45.5}),
    ],
)
def test_uplink_from_unknown_device_is_held_then_stored_after_approval(
    lora_bridge: Bridge,
    api: Api,
    farm: dict[str, Any],
    integration: str,
    file: str,
    event: str | None,
    device: str,
    expected: dict[str, float],
) -> None:
    body = sample(file)
    first = post(lora_bridge, integration, body, event=event)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "status": "unregistered",
        "device": device,
        "first_seq": None,
        "last_seq": None,
    }
    pending = api.ok("GET", f"/api/v1/farms/{farm['id']}/pending-devices")
    assert [p["name"] for p in pending] == [device]
    assert pending[0]["source"] == f"lorawan:{integration}"
    api.ok("POST", f"/api/v1/pending-devices/{pending[0]['id']}/approve", json={})

    stored = post(lora_bridge, integration, body, event=event)
    assert stored.status_code == 200, stored.text
    assert stored.json()["status"] == "stored"
    values = sensor_values(api, farm["id"])
    for name, value in expected.items():
        assert values[name] == value
    assert "rssi" in values
    assert "snr" in values
    # The network server retrying the same uplink is recognised.
    again = post(lora_bridge, integration, body, event=event)
    assert again.json()["status"] == "duplicate"


def test_integration_secret_is_required(lora_bridge: Bridge, farm: dict[str, Any]) -> None:
    body = sample("tts_uplink.json")
    assert (
        post(lora_bridge, "tts-main", body, secret="wrong-secret-of-some-length").status_code == 401
    )
    r = httpx.post(f"{lora_bridge.url}/api/v1/lorawan/tts-main", json=body)
    assert r.status_code == 401
    assert post(lora_bridge, "nope", body).status_code == 404


def test_non_uplink_events_are_ignored_and_bad_bodies_named(
    lora_bridge: Bridge, farm: dict[str, Any]
) -> None:
    assert (
        post(lora_bridge, "tts-main", sample("tts_join_accept.json")).json()["status"] == "ignored"
    )
    assert (
        post(lora_bridge, "cs-main", sample("chirpstack_join.json"), event="join").json()["status"]
        == "ignored"
    )
    bad = post(lora_bridge, "tts-main", b"{not json")
    assert bad.status_code == 422
    broken = sample("tts_uplink.json")
    del broken["end_device_ids"]["device_id"]
    r = post(lora_bridge, "tts-main", broken)
    assert r.status_code == 422
    assert "device_id" in r.text
    assert post(lora_bridge, "cs-main", sample("chirpstack_up.json")).status_code == 422  # no event
