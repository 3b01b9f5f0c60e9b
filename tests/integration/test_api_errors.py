"""Every error of device ingest and the REST API: its status, code, body shape and field."""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, Bridge, make_admin
from tests.integration.api_client import Api, ingest
from tests.integration.mqtt_support import eventually

MAX_BODY_BYTES = 2048
DEVICE_RATE_PER_S = 0.5
"""One token back each 2 s: the flood's 2 x DEVICE_BURST requests would need 10 s between its
first and last request to be all let through, far slower than the slowest machine."""
DEVICE_BURST = 5
RECOVERY_TIMEOUT_S = 30.0
MISSING_ID = 999_999
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

SENSORS = [
    {"name": "temp", "unit": "C", "min": -40, "max": 80},
    {"name": "raw"},  # no bounds, so only the finite check can refuse a value
]
READING = {"sensor": "temp", "value": 20.0}


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    """One bridge for the module, with a small body limit and a slow per-device rate."""
    data_dir = tmp_path_factory.mktemp("errors")
    make_admin(data_dir)
    bridge = Bridge(
        data_dir,
        env={
            "FARMBRIDGE_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
            "FARMBRIDGE_DEVICE_RATE_PER_S": str(DEVICE_RATE_PER_S),
            "FARMBRIDGE_DEVICE_BURST": str(DEVICE_BURST),
            "FARMBRIDGE_LOGIN_RATE_PER_MIN": "6000",
        },
    )
    bridge.start()
    yield bridge
    bridge.stop()


@pytest.fixture(scope="module")
def admin(strict: Bridge) -> Iterator[Api]:
    api = Api(strict.url, *ADMIN)
    yield api
    api.close()


@pytest.fixture(scope="module")
def member_id(admin: Api) -> int:
    """A plain user, for routes that take a user id."""
    user = admin.ok(
        "POST", "/api/v1/users", json={"username": "plain-user", "password": "plain-password"}
    )
    return int(user["id"])


@dataclass(frozen=True)
class Node:
    farm_id: int
    device_id: int
    sensor_ids: dict[str, int]
    key: str


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def node(admin: Api) -> Node:
    """A fresh farm with one device (so the device has its own untouched rate budget)."""
    farm = admin.farm(unique("farm"))
    dev = admin.device(farm["id"], "node", sensors=SENSORS)
    return Node(
        farm["id"], dev["device"]["id"], {s["name"]: s["id"] for s in dev["sensors"]}, dev["key"]
    )


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def last_seq(admin: Api, farm_id: int) -> int:
    return int(admin.ok("GET", f"/api/v1/farms/{farm_id}")["last_seq"])


def post_raw(
    bridge: Bridge, key: str | None, content: bytes | Iterator[bytes], **headers: str
) -> httpx.Response:
    hdrs = {"Content-Type": "application/json", **headers}
    if key is not None:
        hdrs["Authorization"] = f"Bearer {key}"
    return httpx.post(f"{bridge.url}/api/v1/ingest", content=content, headers=hdrs, timeout=30)


def assert_error(
    r: httpx.Response, status: int, code: str, field: str | None = None
) -> dict[str, Any]:
    """Checks the one error body shape and returns its `error` object."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err: dict[str, Any] = r.json()["error"]
    assert err["code"] == code, err
    assert isinstance(err["message"], str)
    assert err["message"]
    if field is not None:
        assert err.get("field") == field, err
    return err


def outcome(r: httpx.Response) -> tuple[int, str | None]:
    """(status, error code or None), for comparing many answers at once."""
    try:
        body = r.json()
    except ValueError:
        return r.status_code, None
    code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    return r.status_code, code


# Device keys.


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-header"),
        pytest.param("Bearer fbd_not-a-key-the-bridge-ever-issued", id="unknown-key"),
        pytest.param("Basic YWRtaW46YWRtaW4=", id="basic-scheme"),
        pytest.param("fbd_no-scheme", id="no-scheme"),
    ],
)
def test_ingest_without_valid_device_key_is_unauthenticated(
    strict: Bridge, admin: Api, node: Node, authorization: str | None
) -> None:
    """Ingest without a known device key is 401 `unauthenticated` and stores nothing."""
    headers = {} if authorization is None else {"Authorization": authorization}
    r = httpx.post(f"{strict.url}/api/v1/ingest", json=READING, headers=headers, timeout=30)
    assert_error(r, 401, "unauthenticated")
    assert r.headers["www-authenticate"] == "Bearer"
    assert last_seq(admin, node.farm_id) == 0


def test_ingest_with_user_token_is_unauthenticated(strict: Bridge, admin: Api, node: Node) -> None:
    """A user's bearer token is not a device key: ingest with it is 401."""
    assert_error(ingest(strict.url, admin.token, READING), 401, "unauthenticated")
    assert last_seq(admin, node.farm_id) == 0


def test_ingest_with_replaced_or_deleted_key_is_unauthenticated(
    strict: Bridge, admin: Api, node: Node
) -> None:
    """A rotated-out key fails at once while the new one works; a deleted device's key fails."""
    assert ingest(strict.url, node.key, READING).status_code == 200
    new_key = admin.ok("POST", f"/api/v1/devices/{node.device_id}/rotate-key")["key"]
    assert_error(ingest(strict.url, node.key, READING), 401, "unauthenticated")
    assert ingest(strict.url, new_key, READING).status_code == 200
    admin.ok("DELETE", f"/api/v1/devices/{node.device_id}")
    assert_error(ingest(strict.url, new_key, READING), 401, "unauthenticated")


# Bodies that are not a report.


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b'{"readings": [', id="truncated"),
        pytest.param(b"", id="empty"),
        pytest.param(b"readings=1", id="not-json"),
        pytest.param(b"[1, 2]", id="array"),
        pytest.param(b'"text"', id="string"),
        pytest.param(b"{}", id="no-items"),
        pytest.param(b'{"readings": []}', id="empty-readings"),
        pytest.param(b'{"sensor": "temp", "value": NaN}', id="nan-literal"),
        pytest.param(b'{"sensor": "temp", "value": Infinity}', id="infinity-literal"),
        pytest.param(b'{"sensor": "raw", "value": 1e999}', id="overflowing-number"),
    ],
)
def test_ingest_unusable_body_names_body(
    strict: Bridge, admin: Api, node: Node, content: bytes
) -> None:
    """A body that is not JSON, or holds no items, is 422 with field `body`; nothing is stored."""
    assert_error(post_raw(strict, node.key, content), 422, "invalid", "body")
    assert last_seq(admin, node.farm_id) == 0


# Items a device's sensors refuse.


@pytest.mark.parametrize("index", [0, 2])
def test_ingest_unknown_sensor_names_reading_sensor(
    strict: Bridge, admin: Api, node: Node, index: int
) -> None:
    """A reading of a sensor the device does not have is 422 naming `readings[N].sensor`."""
    readings: list[dict[str, Any]] = [dict(READING) for _ in range(3)]
    readings[index] = {"sensor": "pressure", "value": 1.0}
    r = ingest(strict.url, node.key, {"readings": readings})
    err = assert_error(r, 422, "invalid", f"readings[{index}].sensor")
    assert "pressure" in err["message"]
    assert last_seq(admin, node.farm_id) == 0


@pytest.mark.parametrize("value", [80.5, -40.01, 1e300], ids=["above-max", "below-min", "huge"])
def test_ingest_value_out_of_range_names_reading_value(
    strict: Bridge, admin: Api, node: Node, value: float
) -> None:
    """A value outside the sensor's min/max is 422 naming `readings[N].value`; bounds are kept."""
    edge = [{"sensor": "temp", "value": -40.0}, {"sensor": "temp", "value": 80.0}]
    r = ingest(strict.url, node.key, {"readings": [*edge, {"sensor": "temp", "value": value}]})
    assert_error(r, 422, "invalid", "readings[2].value")
    assert last_seq(admin, node.farm_id) == 0
    # The inclusive bounds themselves are fine.
    assert ingest(strict.url, node.key, {"readings": edge}).status_code == 200


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-inf"])
def test_ingest_non_finite_value_names_reading_value(
    strict: Bridge, admin: Api, node: Node, value: str
) -> None:
    """A non-finite value (sent as a string the schema turns into a float) is 422 on its field."""
    body = {"readings": [{"sensor": "raw", "value": 1.0}, {"sensor": "raw", "value": value}]}
    assert_error(ingest(strict.url, node.key, body), 422, "invalid", "readings[1].value")
    assert last_seq(admin, node.farm_id) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(
            {"readings": [{"sensor": "temp", "value": 1.0, "ts": "FUTURE"}]},
            "readings[0].ts",
            id="reading-future",
        ),
        pytest.param(
            {"readings": [{"sensor": "temp", "value": 1.0, "ts": "ANCIENT"}]},
            "readings[0].ts",
            id="reading-too-old",
        ),
        pytest.param({"status": {"state": "online", "ts": "FUTURE"}}, "status.ts", id="status"),
        pytest.param(
            {"events": [{"level": "info", "code": "x", "ts": "FUTURE"}]},
            "events[0].ts",
            id="event",
        ),
    ],
)
def test_ingest_timestamp_out_of_window_names_its_field(
    strict: Bridge, admin: Api, node: Node, body: dict[str, Any], field: str
) -> None:
    """A timestamp an hour ahead, or 31 days old, is 422 naming the item's `ts`."""
    stamps = {"FUTURE": now_ms() + HOUR_MS, "ANCIENT": now_ms() - 31 * DAY_MS}
    body = copy.deepcopy(body)
    for part in body.values():
        for item in part if isinstance(part, list) else [part]:
            item["ts"] = stamps[item["ts"]]
    assert_error(ingest(strict.url, node.key, body), 422, "invalid", field)
    assert last_seq(admin, node.farm_id) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"readings": [{"sensor": "temp", "value": "warm"}]}, "readings[0].value"),
        pytest.param(
            {"readings": [READING, {"sensor": "temp", "value": 1, "colour": "red"}]},
            "readings[1].colour",
        ),
        pytest.param({"readings": [READING], "status": {"state": "asleep"}}, "status.state"),
        pytest.param(
            {"events": [{"level": "info", "code": "a"}, {"level": "panic", "code": "b"}]},
            "events[1].level",
        ),
        pytest.param({"readings": [READING], "extra": 1}, "extra"),
        pytest.param({"sensor": "temp", "value": "warm"}, "value", id="shorthand-value"),
    ],
)
def test_ingest_schema_violation_names_the_field(
    strict: Bridge, admin: Api, node: Node, body: dict[str, Any], field: str
) -> None:
    """An item that breaks the ingest schema is 422 naming its path; nothing is stored."""
    assert_error(ingest(strict.url, node.key, body), 422, "invalid", field)
    assert last_seq(admin, node.farm_id) == 0


# Body size.


def big_report(min_bytes: int) -> bytes:
    readings = ",".join(['{"sensor":"temp","value":20.0}'] * (min_bytes // 29 + 1))
    return f'{{"readings":[{readings}]}}'.encode()


def test_ingest_body_over_limit_with_content_length_is_413(
    strict: Bridge, admin: Api, node: Node
) -> None:
    """A body whose Content-Length is over the limit is refused 413; one under it is stored."""
    body = big_report(MAX_BODY_BYTES + 1)
    assert len(body) > MAX_BODY_BYTES
    r = post_raw(strict, node.key, body)
    assert_error(r, 413, "payload_too_large")
    assert last_seq(admin, node.farm_id) == 0
    small = big_report(MAX_BODY_BYTES // 2)
    assert len(small) < MAX_BODY_BYTES
    r = post_raw(strict, node.key, small)
    assert r.status_code == 200, r.text
    # And the online status its first data brings, just before it.
    assert last_seq(admin, node.farm_id) == r.json()["accepted"] + 1


def chunks(body: bytes, size: int = 256) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


def test_ingest_chunked_body_over_limit_is_413(strict: Bridge, admin: Api, node: Node) -> None:
    """A chunked body (no Content-Length) that grows over the limit is refused 413."""
    body = big_report(2 * MAX_BODY_BYTES)
    r = post_raw(strict, node.key, chunks(body))
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert_error(r, 413, "payload_too_large")
    assert last_seq(admin, node.farm_id) == 0
    r = post_raw(strict, node.key, chunks(big_report(MAX_BODY_BYTES // 2)))
    assert r.status_code == 200, r.text


def test_rest_chunked_body_over_limit_is_413(strict: Bridge, admin: Api) -> None:
    """The body limit holds on REST routes too: an oversized chunked JSON body is 413."""
    body = b'{"name": "big", "title": "' + b"x" * (2 * MAX_BODY_BYTES) + b'"}'
    r = admin.http.post(
        "/api/v1/farms", content=chunks(body), headers={"Content-Type": "application/json"}
    )
    assert_error(r, 413, "payload_too_large")


# Rate limit.


def test_ingest_flood_from_one_device_is_rate_limited(
    strict: Bridge, admin: Api, node: Node
) -> None:
    """Past its burst a device gets 429 with Retry-After; others are unaffected; it recovers."""
    answers = [ingest(strict.url, node.key, READING) for _ in range(2 * DEVICE_BURST)]
    statuses = [r.status_code for r in answers]
    assert statuses[:DEVICE_BURST] == [200] * DEVICE_BURST
    limited = [r for r in answers if r.status_code != 200]
    assert limited, statuses
    for r in limited:
        assert_error(r, 429, "rate_limited")
        assert int(r.headers["retry-after"]) >= 1
    assert last_seq(admin, node.farm_id) == statuses.count(200) + 1  # + its online status

    other = admin.device(node.farm_id, "other", sensors=SENSORS)
    assert ingest(strict.url, other["key"], READING).status_code == 200

    # A refused request spends nothing: ask until a token is back (one in 2 s).
    eventually(
        lambda: ingest(strict.url, node.key, READING).status_code == 200,
        timeout=RECOVERY_TIMEOUT_S,
        what="the flooded device let through again",
    )


# REST: missing objects.


def assert_all_not_found(admin: Api, calls: list[tuple[str, str, Any]]) -> None:
    got = {
        f"{method} {path}": outcome(admin.http.request(method, path, json=body))
        for method, path, body in calls
    }
    assert got == dict.fromkeys(got, (404, "not_found"))


def test_rest_missing_farm_is_not_found(admin: Api, member_id: int) -> None:
    """For a global admin every route of a farm id that does not exist is 404."""
    farm = f"/api/v1/farms/{MISSING_ID}"
    assert_all_not_found(
        admin,
        [
            ("GET", farm, None),
            ("GET", f"{farm}/snapshot", None),
            ("GET", f"{farm}/devices", None),
            ("POST", f"{farm}/devices", {"name": "d", "kind": "sensor_node"}),
            ("GET", f"{farm}/sensors", None),
            ("GET", f"{farm}/events", None),
            ("GET", f"{farm}/commands", None),
            ("GET", f"{farm}/readings.csv", None),
            ("GET", f"{farm}/members", None),
            ("PUT", f"{farm}/members/{member_id}", {"role": "viewer"}),
            ("DELETE", f"{farm}/members/{member_id}", None),
        ],
    )


def test_rest_missing_device_sensor_command_user_is_not_found(admin: Api, node: Node) -> None:
    """For a global admin every route of a missing device, sensor, command or user is 404."""
    dev = f"/api/v1/devices/{MISSING_ID}"
    assert_all_not_found(
        admin,
        [
            ("GET", dev, None),
            ("DELETE", dev, None),
            ("POST", f"{dev}/rotate-key", None),
            ("POST", f"{dev}/sensors", {"name": "s"}),
            ("GET", f"{dev}/commands", None),
            ("POST", f"{dev}/commands", {"action": "on"}),
            ("GET", f"/api/v1/sensors/{MISSING_ID}/readings", None),
            ("GET", f"/api/v1/sensors/{MISSING_ID}/buckets", None),
            ("GET", f"/api/v1/commands/{MISSING_ID}", None),
            ("POST", f"/api/v1/commands/{MISSING_ID}/cancel", None),
            ("DELETE", f"/api/v1/users/{MISSING_ID}", None),
            ("POST", f"/api/v1/users/{MISSING_ID}/revoke-tokens", None),
            ("PUT", f"/api/v1/farms/{node.farm_id}/members/{MISSING_ID}", {"role": "viewer"}),
        ],
    )


# REST: conflicts.


def test_rest_duplicate_farm_name_conflicts(admin: Api) -> None:
    """Creating a farm under a name already taken is 409 `conflict`."""
    name = unique("farm")
    admin.farm(name)
    r = admin.http.post("/api/v1/farms", json={"name": name, "title": "again"})
    assert_error(r, 409, "conflict")
    assert [f["name"] for f in admin.ok("GET", "/api/v1/farms")].count(name) == 1


def test_rest_duplicate_device_name_conflicts_within_a_farm(admin: Api, node: Node) -> None:
    """A device name taken on the farm is 409; the same name on another farm is fine."""
    r = admin.http.post(
        f"/api/v1/farms/{node.farm_id}/devices", json={"name": "node", "kind": "actuator"}
    )
    assert_error(r, 409, "conflict")
    assert len(admin.ok("GET", f"/api/v1/farms/{node.farm_id}/devices")) == 1
    other = admin.farm(unique("farm"))
    assert admin.device(other["id"], "node")["device"]["name"] == "node"


def test_rest_duplicate_sensor_or_user_name_conflicts(admin: Api, node: Node) -> None:
    """A sensor name taken on the device, or a username taken, is 409 `conflict`."""
    r = admin.http.post(f"/api/v1/devices/{node.device_id}/sensors", json={"name": "temp"})
    assert_error(r, 409, "conflict")
    body = {"username": unique("user"), "password": "long-enough"}
    admin.ok("POST", "/api/v1/users", json=body)
    assert_error(admin.http.post("/api/v1/users", json=body), 409, "conflict")


def test_rest_deleting_yourself_conflicts(admin: Api) -> None:
    """An admin cannot delete their own account: 409, and the account still works."""
    me = admin.ok("GET", "/api/v1/me")
    assert_error(admin.http.delete(f"/api/v1/users/{me['id']}"), 409, "conflict")
    assert admin.ok("GET", "/api/v1/me")["id"] == me["id"]


# REST: invalid input.


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        pytest.param("POST", "/api/v1/farms", {"name": "has spaces"}, "name", id="farm-name"),
        pytest.param("POST", "/api/v1/farms", {"title": "t"}, "name", id="farm-name-missing"),
        pytest.param(
            "POST", "/api/v1/farms", {"name": "ok", "colour": "red"}, "colour", id="farm-extra"
        ),
        pytest.param(
            "POST",
            "/api/v1/farms/{farm}/devices",
            {"name": "d", "kind": "toaster"},
            "kind",
            id="device-kind",
        ),
        pytest.param(
            "POST",
            "/api/v1/farms/{farm}/devices",
            {"name": "d", "kind": "sensor_node", "sensors": [{"name": "a", "min": 9, "max": 1}]},
            "sensors[0].min",
            id="sensor-min-above-max",
        ),
        pytest.param(
            "POST",
            "/api/v1/farms/{farm}/devices",
            {"name": "d", "kind": "sensor_node", "sensors": [{"name": "a"}, {"name": "a"}]},
            "sensors[1].name",
            id="sensor-named-twice",
        ),
        pytest.param(
            "POST",
            "/api/v1/farms/{farm}/devices",
            {"name": "d", "kind": "sensor_node", "sensors": [{"name": "a"}, {"name": "b c"}]},
            "sensors[1].name",
            id="sensor-name-pattern",
        ),
        pytest.param(
            "POST",
            "/api/v1/devices/{device}/sensors",
            {"name": "s", "unit": "u" * 17},
            "unit",
            id="sensor-unit",
        ),
        pytest.param(
            "POST",
            "/api/v1/devices/{device}/commands",
            {"action": "on", "ttl_s": 0},
            "ttl_s",
            id="command-ttl",
        ),
        pytest.param(
            "POST", "/api/v1/devices/{device}/commands", {"params": {}}, "action", id="no-action"
        ),
        pytest.param(
            "POST",
            "/api/v1/users",
            {"username": "shorty", "password": "short"},
            "password",
            id="password",
        ),
        pytest.param(
            "PUT", "/api/v1/farms/{farm}/members/{user}", {"role": "owner"}, "role", id="role"
        ),
        pytest.param("GET", "/api/v1/farms/{farm}/events?limit=0", None, "limit", id="limit"),
        pytest.param("GET", "/api/v1/farms/{farm}/events?level=panic", None, "level", id="level"),
        pytest.param("GET", "/api/v1/farms/not-a-number", None, "farm_id", id="path-id"),
        pytest.param(
            "GET",
            "/api/v1/sensors/{sensor}/readings?start=2000&end=1000",
            None,
            "end",
            id="end-before-start",
        ),
        pytest.param(
            "GET",
            "/api/v1/sensors/{sensor}/buckets?start=0&end=100000000&bucket_s=1",
            None,
            "bucket_s",
            id="too-many-buckets",
        ),
    ],
)
def test_rest_invalid_input_names_the_field(
    admin: Api,
    node: Node,
    member_id: int,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    field: str,
) -> None:
    """A REST body, query or path value that breaks a rule is 422 `invalid` naming the field."""
    url = path.format(
        farm=node.farm_id, device=node.device_id, sensor=node.sensor_ids["temp"], user=member_id
    )
    assert_error(admin.http.request(method, url, json=body), 422, "invalid", field)


@pytest.mark.parametrize(
    "content", [pytest.param(b'{"name": ', id="malformed"), pytest.param(b"", id="missing")]
)
def test_rest_unparsable_body_names_body(admin: Api, content: bytes) -> None:
    """A REST body that is not JSON, or is missing, is 422 with field `body`, like ingest."""
    r = admin.http.post(
        "/api/v1/farms", content=content, headers={"Content-Type": "application/json"}
    )
    assert_error(r, 422, "invalid", "body")


# Routes.


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nope", 404, "not_found"),
        ("GET", "/api/v1/nope", 404, "not_found"),
        ("POST", "/api/v1/farms/1/nope", 404, "not_found"),
        ("DELETE", "/api/v1/farms", 405, "method_not_allowed"),
        ("PUT", "/api/v1/ingest", 405, "method_not_allowed"),
    ],
)
def test_unknown_route_answers_json_error(
    strict: Bridge, method: str, path: str, status: int, code: str
) -> None:
    """A route or method that does not exist answers the same JSON error body as the rest."""
    r = httpx.request(method, f"{strict.url}{path}", timeout=30)
    assert_error(r, status, code)
