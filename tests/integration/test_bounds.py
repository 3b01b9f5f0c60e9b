"""Input bounded to what the store can hold (huge integers, deep or non-finite JSON), on a
real bridge."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from farmbridge.app import build_app
from farmbridge.config import Settings
from tests.conftest import unique
from tests.integration.api_client import Api

HUGE_INTEGERS: Final = (2**63, 10**20)
DEVICE_PREFIX: Final = "/api/v1/ingest"
HTTP_METHODS: Final = {"get", "post", "put", "delete", "patch"}
DEEP_LEVELS: Final = 600


@dataclass
class Objects:
    """Real objects on the shared bridge, so only the huge value can be at fault."""

    api: Api
    key: str
    ids: dict[str, int]


@pytest.fixture(scope="module")
def objects(shared_admin: Api) -> Objects:
    farm = shared_admin.farm(unique("bounds"))
    created = shared_admin.device(farm["id"], unique("dev"), kind="actuator")
    device = created["device"]
    cmd = shared_admin.ok(
        "POST", f"/api/v1/devices/{device['id']}/commands", json={"action": "set"}
    )
    me = shared_admin.ok("GET", "/api/v1/me")
    ids = {
        "farm_id": farm["id"],
        "device_id": device["id"],
        "sensor_id": created["sensors"][0]["id"],
        "command_id": cmd["id"],
        "pending_id": 1,
        "rule_id": 1,
        "alarm_id": 1,
        "webhook_id": 1,
        "display_id": 1,
        "user_id": me["id"],
    }
    return Objects(shared_admin, created["key"], ids)


def _is_integer(schema: dict[str, Any]) -> bool:
    options = schema.get("anyOf", [schema])
    return any(o.get("type") == "integer" for o in options)


def _integer_params(where: str) -> list[tuple[str, str, str]]:
    """(method, path, parameter) of every integer parameter `where` (path or query)."""
    with tempfile.TemporaryDirectory() as data_dir:  # the app is built, never started
        spec = build_app(Settings(data_dir=Path(data_dir))).openapi()
    return sorted(
        (method.upper(), path, p["name"])
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in HTTP_METHODS
        for p in op.get("parameters", [])
        if p["in"] == where and _is_integer(p["schema"])
    )


def _call(objects: Objects, method: str, path: str, **params: Any) -> httpx.Response:
    in_path = {k: v for k, v in params.items() if f"{{{k}}}" in path}
    query = {k: v for k, v in params.items() if k not in in_path}
    ids = {**objects.ids, **in_path}
    headers = {"Authorization": f"Bearer {objects.key}"} if path.startswith(DEVICE_PREFIX) else {}
    body = {"state": "acknowledged"} if path.endswith("/ack") else None
    return objects.api.http.request(
        method, path.format(**ids), params=query, json=body, headers=headers
    )


PATH_PARAMS: Final = _integer_params("path")
QUERY_PARAMS: Final = _integer_params("query")


def test_bounds_sweep_covers_every_id_route() -> None:
    """The sweep sees the routes the issue names, so an empty enumeration cannot pass."""
    assert ("POST", "/api/v1/ingest/commands/{command_id}/ack", "command_id") in PATH_PARAMS
    assert ("GET", "/api/v1/farms/{farm_id}", "farm_id") in PATH_PARAMS
    assert len(PATH_PARAMS) >= 30
    assert ("GET", "/api/v1/farms/{farm_id}/events", "before_seq") in QUERY_PARAMS


@pytest.mark.parametrize("value", HUGE_INTEGERS)
@pytest.mark.parametrize(("method", "path", "name"), PATH_PARAMS)
def test_bounds_huge_path_id_is_not_found(
    objects: Objects, method: str, path: str, name: str, value: int
) -> None:
    """An id beyond 64 bits in a path names nothing: 404 not_found, never a 5xx."""
    r = _call(objects, method, path, **{name: value})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found"), r.text


@pytest.mark.parametrize("value", HUGE_INTEGERS)
@pytest.mark.parametrize(("method", "path", "name"), QUERY_PARAMS)
def test_bounds_huge_query_integer_is_invalid(
    objects: Objects, method: str, path: str, name: str, value: int
) -> None:
    """An integer beyond 64 bits in a query is refused with 422 naming it, never a 5xx."""
    r = _call(objects, method, path, **{name: value})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == name


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("raw_params", "field"),
    [
        ('{"deep": ' + "[" * DEEP_LEVELS + "]" * DEEP_LEVELS + "}", "params.deep[0][0]"),
        ('{"big": 18446744073709551616}', "params.big"),
        ('{"low": -9223372036854775809}', "params.low"),
        ('{"x": NaN}', "params.x"),
        ('{"x": [1, Infinity]}', "params.x[1]"),
        ('{"x": {"y": 1e400}}', "params.x.y"),
    ],
)
def test_bounds_command_params_the_store_cannot_hold_are_invalid(
    objects: Objects, raw_params: str, field: str
) -> None:
    """Command params nested too deep, with integers beyond 64 bits or non-finite numbers
    answer 422 naming the value (not 503, not stored as null)."""
    device_id = objects.ids["device_id"]
    before = objects.api.ok("GET", f"/api/v1/devices/{device_id}/commands")
    r = objects.api.http.post(
        f"/api/v1/devices/{device_id}/commands",
        content=f'{{"action": "set", "params": {raw_params}}}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid"
    assert r.json()["error"]["field"].startswith(field)
    assert objects.api.ok("GET", f"/api/v1/devices/{device_id}/commands") == before


def test_bounds_command_params_within_bounds_are_stored(objects: Objects) -> None:
    """Params at the depth limit with 64-bit extremes are stored and read back unchanged."""
    params = {"deep": _deep(31), "max": 2**63 - 1, "min": -(2**63), "f": 1.5e300}
    cmd = objects.api.ok(
        "POST",
        f"/api/v1/devices/{objects.ids['device_id']}/commands",
        json={"action": "set", "params": params},
    )
    assert objects.api.ok("GET", f"/api/v1/commands/{cmd['id']}")["params"] == params


@pytest.mark.parametrize("bound", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_bounds_sensor_bound_not_finite_is_invalid(objects: Objects, bound: str) -> None:
    """A sensor bound that is not a finite number is refused with 422, not stored as null."""
    r = objects.api.http.post(
        f"/api/v1/devices/{objects.ids['device_id']}/sensors",
        content=f'{{"name": "{unique("s")}", "min": {bound}}}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "min"


def test_bounds_body_nested_past_the_decoder_is_invalid(objects: Objects) -> None:
    """A body nested deeper than the JSON decoder recurses is 422 `invalid` (field body),
    not an undocumented 400 or a 5xx."""
    levels = 100_000
    r = objects.api.http.post(
        "/api/v1/farms",
        content="[" * levels + "]" * levels,
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert (r.json()["error"]["code"], r.json()["error"]["field"]) == ("invalid", "body")


def test_bounds_body_not_utf8_is_invalid(objects: Objects) -> None:
    """A body whose bytes are not UTF-8 is 422 `invalid` (field body), not an undocumented
    400 (found by schemathesis)."""
    r = objects.api.http.post(
        "/api/v1/farms", content=b"\xff\xfe{", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert (r.json()["error"]["code"], r.json()["error"]["field"]) == ("invalid", "body")


def test_bounds_body_integer_beyond_64_bits_is_invalid(objects: Objects) -> None:
    """An integer field of a body beyond 64 bits is 422 naming it."""
    r = objects.api.http.post(
        f"/api/v1/devices/{objects.ids['device_id']}/commands",
        json={"action": "set", "ttl_s": 2**64},
    )
    assert (r.status_code, r.json()["error"]["field"]) == (422, "ttl_s")
