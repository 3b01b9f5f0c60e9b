"""Who may do what: farm isolation on every route, the role ladder, and user tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from tests.conftest import ADMIN, Bridge, make_admin, started_bridge
from tests.integration.api_client import Api
from tests.integration.mqtt_support import eventually
from tests.integration.test_lorawan import sample as lorawan_sample

PASSWORD = "member-password"
LORA_SECRET = "access-test-lorawan-secret"
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}

PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/auth/display-token"),
}
# Device routes (a device key) and network-server routes (an integration secret), not a
# user token.
PUBLIC_PREFIX = ("/api/v1/ingest", "/api/v1/lorawan")
CALLER_SCOPED = {
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/farms"),
    ("POST", "/api/v1/auth/revoke"),
    ("POST", "/api/v1/me/password"),
}
"""Routes about the caller themself: any signed-in user may call them, on no one else's data."""

RULE: Final = {"name": "Too hot", "kind": "above", "severity": "warning",
               "sensor_name": "temp", "threshold": 30}  # fmt: skip
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/farms"): {"name": "intruder-farm"},
    ("POST", "/api/v1/farms/{farm_id}/devices"): {"name": "intruder", "kind": "sensor_node"},
    ("POST", "/api/v1/devices/{device_id}/sensors"): {"name": "intruder"},
    ("PATCH", "/api/v1/devices/{device_id}"): {"expected_interval_s": 60},
    ("PATCH", "/api/v1/farms/{farm_id}"): {"title": "Intruder"},
    ("PATCH", "/api/v1/sensors/{sensor_id}"): {"unit": "x"},
    ("POST", "/api/v1/devices/{device_id}/commands"): {"action": "on"},
    ("POST", "/api/v1/users"): {"username": "intruder", "password": "intruder-password"},
    ("POST", "/api/v1/users/{user_id}/password"): {"password": "intruder-password"},
    ("PUT", "/api/v1/farms/{farm_id}/members/{user_id}"): {"role": "admin"},
    ("POST", "/api/v1/pending-devices/{pending_id}/approve"): {"kind": "sensor_node"},
    ("POST", "/api/v1/farms/{farm_id}/alarm-rules"): RULE,
    ("PUT", "/api/v1/farms/{farm_id}/alarm-rules/{rule_id}"): RULE,
    ("POST", "/api/v1/farms/{farm_id}/alarms/{alarm_id}/ack"): {"comment": "seen"},
    ("POST", "/api/v1/farms/{farm_id}/webhooks"): {"url": "http://127.0.0.1:9/hook"},
    ("PUT", "/api/v1/farms/{farm_id}/notifications/email"): {"addresses": ["ops@example.com"]},
    ("POST", "/api/v1/farms/{farm_id}/displays"): {"name": "intruder wall"},
    ("PUT", "/api/v1/devices/{device_id}/lorawan-profile"): {
        "fields": [{"field": "soil.moisture", "sensor": "intruder", "unit": "%"}]
    },
}
"""Valid bodies, so a refusal is the role check's and not the schema's (a 422 would hide it)."""


@dataclass(frozen=True)
class FarmObjects:
    farm_id: int
    device_id: int
    sensor_id: int
    command_id: int
    pending_id: int
    rule_id: int
    alarm_id: int
    webhook_id: int
    display_id: int
    display_secret: str

    def path_ids(self, user_id: int) -> dict[str, int]:
        return {
            "farm_id": self.farm_id,
            "device_id": self.device_id,
            "sensor_id": self.sensor_id,
            "command_id": self.command_id,
            "pending_id": self.pending_id,
            "rule_id": self.rule_id,
            "alarm_id": self.alarm_id,
            "webhook_id": self.webhook_id,
            "display_id": self.display_id,
            "user_id": user_id,
        }


@dataclass
class World:
    bridge: Bridge
    admin: Api
    a: FarmObjects
    b: FarmObjects
    members: dict[str, Api]
    """Users with a role on farm A only, by that role."""
    ids: dict[str, int]
    """User ids by name: the members of A, and `member_b` (admin of B only)."""


def farm_with_objects(admin: Api, name: str) -> FarmObjects:
    farm = admin.farm(name)
    dev = admin.device(farm["id"], "pump", kind="actuator")
    cmd = admin.ok("POST", f"/api/v1/devices/{dev['device']['id']}/commands", json={"action": "on"})
    profile = {"fields": [{"field": "soil.moisture", "sensor": "moisture", "unit": "%"}]}
    admin.ok("PUT", f"/api/v1/devices/{dev['device']['id']}/lorawan-profile", json=profile)
    # An uplink from an unregistered LoRaWAN device leaves a pending device on the farm.
    r = httpx.post(
        f"{str(admin.http.base_url).rstrip('/')}/api/v1/lorawan/lora-{name}",
        json=lorawan_sample("tts_uplink.json"),
        headers={"Authorization": f"Bearer {LORA_SECRET}"},
    )
    assert r.json()["status"] == "unregistered", r.text
    pending = admin.ok("GET", f"/api/v1/farms/{farm['id']}/pending-devices")
    rule = admin.ok("POST", f"/api/v1/farms/{farm['id']}/alarm-rules", json=RULE)
    raised = httpx.post(
        f"{str(admin.http.base_url).rstrip('/')}/api/v1/ingest",
        json={"events": [{"level": "alarm", "code": "frost_risk", "message": "cold"}]},
        headers={"Authorization": f"Bearer {dev['key']}"},
    )
    assert raised.status_code == 200, raised.text
    (alarm,) = admin.ok("GET", f"/api/v1/farms/{farm['id']}/alarms")["alarms"]
    hook = admin.ok(
        "POST", f"/api/v1/farms/{farm['id']}/webhooks", json={"url": "http://127.0.0.1:9/"}
    )
    display = admin.ok("POST", f"/api/v1/farms/{farm['id']}/displays", json={"name": "wall"})
    return FarmObjects(
        farm["id"],
        dev["device"]["id"],
        dev["sensors"][0]["id"],
        cmd["id"],
        pending[0]["id"],
        rule["id"],
        alarm["id"],
        hook["id"],
        display["id"],
        display["secret"],
    )


def add_user(admin: Api, url: str, name: str, farm_id: int, role: str) -> tuple[Api, int]:
    admin.user(name, PASSWORD, farm_id=farm_id, role=role)
    api = Api(url, name, PASSWORD)
    return api, int(api.ok("GET", "/api/v1/me")["id"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Farms A and B with a device, sensor and command each; a viewer, operator and admin of A."""
    data_dir = tmp_path_factory.mktemp("access")
    make_admin(data_dir)
    lora = [
        {"name": f"lora-{farm}", "kind": "tts", "farm": farm, "secret": LORA_SECRET}
        for farm in ("farm-a", "farm-b")
    ]
    bridge = Bridge(
        data_dir,
        env={
            "FARMBRIDGE_LOGIN_RATE_PER_MIN": "60000",
            "FARMBRIDGE_LORAWAN_INTEGRATIONS": json.dumps(lora),
        },
    )
    bridge.start()
    admin = Api(bridge.url, *ADMIN)
    apis = [admin]
    try:
        a = farm_with_objects(admin, "farm-a")
        b = farm_with_objects(admin, "farm-b")
        members: dict[str, Api] = {}
        ids: dict[str, int] = {}
        for role in ("viewer", "operator", "admin"):
            members[role], ids[role] = add_user(admin, bridge.url, f"{role}-a", a.farm_id, role)
            apis.append(members[role])
        member_b, ids["member_b"] = add_user(admin, bridge.url, "admin-b", b.farm_id, "admin")
        apis.append(member_b)
        yield World(bridge, admin, a, b, members, ids)
    finally:
        for api in apis:
            api.close()
        bridge.stop()


def operations(api: Api) -> list[tuple[str, str]]:
    """Every (method, path template) the app's OpenAPI document lists."""
    spec = api.ok("GET", "/openapi.json")
    return sorted(
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in HTTP_METHODS
    )


def is_public(method: str, path: str) -> bool:
    return (method, path) in PUBLIC or path.startswith(PUBLIC_PREFIX)


def is_global_admin_only(method: str, path: str) -> bool:
    """Routes about users or the farm list itself, not about one farm's objects."""
    return path.startswith("/api/v1/users") or (method, path) in {
        ("POST", "/api/v1/farms"),
        ("DELETE", "/api/v1/farms/{farm_id}"),
        ("GET", "/api/v1/connections"),
    }


def fill(path: str, ids: dict[str, int]) -> str:
    names = set(re.findall(r"{(\w+)}", path))
    unknown = names - ids.keys()
    assert not unknown, f"{path}: no test object for {sorted(unknown)}; teach test_access it"
    return path.format(**ids)


def call(api: Api | httpx.Client, method: str, path: str, ids: dict[str, int]) -> httpx.Response:
    http = api.http if isinstance(api, Api) else api
    return http.request(method, fill(path, ids), json=BODIES.get((method, path)))


def outcome(r: httpx.Response) -> tuple[int, str | None]:
    try:
        body = r.json()
    except ValueError:
        return r.status_code, None
    code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    return r.status_code, code


def test_openapi_lists_the_farm_scoped_routes(world: World) -> None:
    """The route enumeration the access tests rely on sees the farm, device and sensor routes."""
    ops = set(operations(world.admin))
    assert {
        ("GET", "/api/v1/farms/{farm_id}/snapshot"),
        ("GET", "/api/v1/farms/{farm_id}/readings.csv"),
        ("GET", "/api/v1/sensors/{sensor_id}/buckets"),
        ("POST", "/api/v1/devices/{device_id}/commands"),
        ("POST", "/api/v1/commands/{command_id}/cancel"),
        ("PUT", "/api/v1/farms/{farm_id}/members/{user_id}"),
    } <= ops
    assert len([op for op in ops if not is_public(*op) and op not in CALLER_SCOPED]) >= 25


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_farm_b_routes_not_found_for_members_of_farm_a(world: World, role: str) -> None:
    """A member of farm A, whatever the role, gets 404 on every route about an object of farm
    B (as for an id that does not exist: issue 11 changed this from 403, so ids of other farms
    cannot be enumerated), and 403 on the global admin's routes."""
    api = world.members[role]
    ids = world.b.path_ids(world.ids["member_b"])
    protected = [
        op for op in operations(world.admin) if not is_public(*op) and op not in CALLER_SCOPED
    ]
    got = {f"{m} {p}": outcome(call(api, m, p, ids)) for m, p in protected}
    assert got == {
        f"{m} {p}": (403, "forbidden") if is_global_admin_only(m, p) else (404, "not_found")
        for m, p in protected
    }

    # And nothing of B changed.
    b = world.b
    assert world.admin.ok("GET", f"/api/v1/commands/{b.command_id}")["state"] == "pending"
    assert [d["id"] for d in world.admin.ok("GET", f"/api/v1/farms/{b.farm_id}/devices")] == [
        b.device_id
    ]
    assert world.admin.ok("GET", f"/api/v1/farms/{b.farm_id}/members") == [
        {"user_id": world.ids["member_b"], "farm_id": b.farm_id, "role": "admin"}
    ]


def test_caller_scoped_routes_show_only_own_farms(world: World) -> None:
    """The farm list and /me of a member of A show farm A and never farm B."""
    for role, api in world.members.items():
        assert [f["id"] for f in api.ok("GET", "/api/v1/farms")] == [world.a.farm_id]
        assert api.ok("GET", "/api/v1/me")["roles"] == {str(world.a.farm_id): role}


def test_own_farm_routes_readable_by_its_viewer(world: World) -> None:
    """The same GET routes that refuse B answer 200 to A's viewer on A (members, pending
    devices and LoRaWAN profiles: admins only)."""
    ids = world.a.path_ids(world.ids["viewer"])
    reads = [
        (m, p)
        for m, p in operations(world.admin)
        if m == "GET" and "{" in p and not is_public(m, p) and "{user_id}" not in p
    ]
    admin_only = {
        "GET /api/v1/farms/{farm_id}/members",
        "GET /api/v1/farms/{farm_id}/pending-devices",
        "GET /api/v1/devices/{device_id}/lorawan-profile",
        "GET /api/v1/farms/{farm_id}/alarm-rules/audit",
        "GET /api/v1/farms/{farm_id}/webhooks",
        "GET /api/v1/farms/{farm_id}/notifications/email",
        "GET /api/v1/farms/{farm_id}/notifications/deliveries",
        "GET /api/v1/farms/{farm_id}/displays",
    }
    got = {f"{m} {p}": call(world.members["viewer"], m, p, ids).status_code for m, p in reads}
    assert got == {key: 403 if key in admin_only else 200 for key in got}
    for route in admin_only:
        assert call(world.members["admin"], "GET", route.split()[1], ids).status_code == 200


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_like(alg: str, claims: dict[str, Any], key: bytes | None) -> str:
    head = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    sig = b"" if key is None else hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(sig)}"


def bad_credentials(world: World, kind: str) -> dict[str, str]:
    claims = {"sub": str(world.ids["viewer"]), "ver": 0, "exp": int(time.time()) + 3600}
    # The viewer's real token with its claims swapped for the global admin's, signature kept.
    head, _, sig = world.members["viewer"].token.split(".")
    admin_id = world.admin.ok("GET", "/api/v1/me")["id"]
    as_admin = b64url(json.dumps({**claims, "sub": str(admin_id)}).encode())
    token = {
        "garbage": "garbage",
        "forged": jwt_like("HS256", claims, b"not-the-server-secret-" * 3),
        "unsigned": jwt_like("none", claims, None),
        "tampered": f"{head}.{as_admin}.{sig}",
        "device-key": "fbd_" + "A" * 43,
    }.get(kind)
    return {} if token is None else {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "kind", ["none", "garbage", "forged", "unsigned", "tampered", "device-key"]
)
def test_routes_without_valid_token_are_unauthenticated(world: World, kind: str) -> None:
    """With no token or a bad one, every non-public route is 401 with WWW-Authenticate: Bearer."""
    ids = world.a.path_ids(world.ids["viewer"])
    protected = [op for op in operations(world.admin) if not is_public(*op)]
    with httpx.Client(
        base_url=world.bridge.url, headers=bad_credentials(world, kind), timeout=30
    ) as http:
        got = {}
        for m, p in protected:
            r = call(http, m, p, ids)
            got[f"{m} {p}"] = (*outcome(r), r.headers.get("www-authenticate"))
    assert got == dict.fromkeys(got, (401, "unauthenticated", "Bearer"))
    # The routes tried were not harmed: the viewer's real token still works.
    assert world.members["viewer"].ok("GET", "/api/v1/me")["id"] == world.ids["viewer"]


# The role ladder on farm A.


def test_viewer_cannot_create_or_cancel_commands(world: World) -> None:
    """A viewer may read commands but gets 403 creating or cancelling one."""
    viewer, a = world.members["viewer"], world.a
    r = viewer.http.post(f"/api/v1/devices/{a.device_id}/commands", json={"action": "on"})
    assert outcome(r) == (403, "forbidden")
    r = viewer.http.post(f"/api/v1/commands/{a.command_id}/cancel")
    assert outcome(r) == (403, "forbidden")
    assert viewer.ok("GET", f"/api/v1/commands/{a.command_id}")["state"] == "pending"


def test_operator_can_create_and_cancel_commands(world: World) -> None:
    """An operator creates a command (201, pending) and cancels it."""
    operator, a = world.members["operator"], world.a
    cmd = operator.ok("POST", f"/api/v1/devices/{a.device_id}/commands", json={"action": "off"})
    assert cmd["state"] == "pending"
    assert operator.ok("POST", f"/api/v1/commands/{cmd['id']}/cancel")["state"] == "cancelled"


def test_operator_cannot_change_devices(world: World) -> None:
    """An operator gets 403 creating, re-keying, re-timing or deleting devices and adding
    sensors."""
    operator, a = world.members["operator"], world.a
    attempts = [
        ("POST", f"/api/v1/farms/{a.farm_id}/devices", {"name": "op-dev", "kind": "sensor_node"}),
        ("POST", f"/api/v1/devices/{a.device_id}/rotate-key", None),
        ("POST", f"/api/v1/devices/{a.device_id}/sensors", {"name": "op-sensor"}),
        ("PATCH", f"/api/v1/devices/{a.device_id}", {"expected_interval_s": 60}),
        ("PATCH", f"/api/v1/devices/{a.device_id}", {"zone": "op zone"}),
        ("PATCH", f"/api/v1/sensors/{a.sensor_id}", {"min": 0, "max": 1}),
        ("PATCH", f"/api/v1/farms/{a.farm_id}", {"title": "op farm"}),
        ("DELETE", f"/api/v1/farms/{a.farm_id}", None),
        ("DELETE", f"/api/v1/devices/{a.device_id}", None),
        ("GET", f"/api/v1/farms/{a.farm_id}/members", None),
    ]
    for method, path, body in attempts:
        assert outcome(operator.http.request(method, path, json=body)) == (403, "forbidden"), path
    assert len(world.admin.ok("GET", f"/api/v1/farms/{a.farm_id}/devices")) == 1


def test_farm_admin_can_manage_own_farm_only(world: World) -> None:
    """A farm admin creates devices and sets members on A, but cannot make farms or join B."""
    farm_admin, a, b = world.members["admin"], world.a, world.b
    created = farm_admin.ok(
        "POST", f"/api/v1/farms/{a.farm_id}/devices", json={"name": "fa-dev", "kind": "actuator"}
    )
    assert created["key"].startswith("fbd_")
    farm_admin.ok("DELETE", f"/api/v1/devices/{created['device']['id']}")
    self_on_b = f"/api/v1/farms/{b.farm_id}/members/{world.ids['admin']}"
    r = farm_admin.http.put(self_on_b, json={"role": "admin"})
    assert outcome(r) == (404, "not_found")  # farm B is not theirs: 404 since issue 11, was 403
    r = farm_admin.http.post("/api/v1/farms", json={"name": "fa-farm"})
    assert outcome(r) == (403, "forbidden")
    r = farm_admin.http.delete(f"/api/v1/farms/{a.farm_id}")
    assert outcome(r) == (403, "forbidden")  # deleting a farm is the global admin's
    assert farm_admin.ok("GET", f"/api/v1/farms/{a.farm_id}")["id"] == a.farm_id
    assert str(b.farm_id) not in farm_admin.ok("GET", "/api/v1/me")["roles"]


@pytest.fixture
def display_a(world: World) -> Iterator[httpx.Client]:
    """A client holding a token exchanged for farm A's display secret."""
    r = httpx.post(
        f"{world.bridge.url}/api/v1/auth/display-token",
        json={"secret": world.a.display_secret},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    with httpx.Client(base_url=world.bridge.url, headers=headers, timeout=30) as http:
        yield http


def test_display_token_sees_nothing_of_another_farm(world: World, display_a: httpx.Client) -> None:
    """A display token of farm A gets 404 on every route about an object of farm B and 403
    on the global admin's routes, like any member of A; nothing of B changes."""
    ids = world.b.path_ids(world.ids["member_b"])
    protected = [
        op for op in operations(world.admin) if not is_public(*op) and op not in CALLER_SCOPED
    ]
    got = {f"{m} {p}": outcome(call(display_a, m, p, ids)) for m, p in protected}
    assert got == {
        f"{m} {p}": (403, "forbidden") if is_global_admin_only(m, p) else (404, "not_found")
        for m, p in protected
    }
    assert [d["id"] for d in world.admin.ok("GET", f"/api/v1/farms/{world.b.farm_id}/displays")]
    assert world.admin.ok("GET", f"/api/v1/commands/{world.b.command_id}")["state"] == "pending"


def test_display_token_has_viewer_rights_on_its_farm(world: World, display_a: httpx.Client) -> None:
    """On its own farm a display token reads what a viewer reads, and is refused (403)
    whatever a viewer is refused: commands, displays, members; it cannot log out everyone
    or change a password, having no account; /me and /farms show its one farm."""
    ids = world.a.path_ids(world.ids["viewer"])
    reads = [
        (m, p)
        for m, p in operations(world.admin)
        if m == "GET" and "{" in p and not is_public(m, p) and "{user_id}" not in p
    ]
    as_viewer = {f"{m} {p}": call(world.members["viewer"], m, p, ids).status_code for m, p in reads}
    as_display = {f"{m} {p}": call(display_a, m, p, ids).status_code for m, p in reads}
    assert as_display == as_viewer
    assert as_display["GET /api/v1/farms/{farm_id}/snapshot"] == 200
    a = world.a
    refused = [
        ("POST", f"/api/v1/devices/{a.device_id}/commands", {"action": "on"}),
        ("POST", f"/api/v1/commands/{a.command_id}/cancel", None),
        ("POST", f"/api/v1/farms/{a.farm_id}/displays", {"name": "rogue"}),
        ("DELETE", f"/api/v1/farms/{a.farm_id}/displays/{a.display_id}", None),
        ("PUT", f"/api/v1/farms/{a.farm_id}/members/{world.ids['viewer']}", {"role": "admin"}),
        ("POST", "/api/v1/auth/revoke", None),
        ("POST", "/api/v1/me/password", {"current_password": "x", "new_password": "y" * 8}),
    ]
    got = {f"{m} {p}": outcome(display_a.request(m, p, json=b)) for m, p, b in refused}
    assert got == dict.fromkeys(got, (403, "forbidden"))
    me = display_a.get("/api/v1/me").json()
    assert (me["display_id"], me["roles"], me["is_admin"]) == (
        a.display_id,
        {str(a.farm_id): "viewer"},
        False,
    )
    assert [f["id"] for f in display_a.get("/api/v1/farms").json()] == [a.farm_id]
    assert world.admin.ok("GET", f"/api/v1/commands/{a.command_id}")["state"] == "pending"


def test_non_admins_cannot_manage_users(world: World) -> None:
    """Only a global admin lists or creates users; every farm role gets 403."""
    body = {"username": "sneaky", "password": "sneaky-password"}
    for role, api in world.members.items():
        assert outcome(api.http.get("/api/v1/users")) == (403, "forbidden"), role
        assert outcome(api.http.post("/api/v1/users", json=body)) == (403, "forbidden"), role
    names = [u["username"] for u in world.admin.ok("GET", "/api/v1/users")]
    assert "viewer-a" in names
    assert "sneaky" not in names


# Tokens.


def test_revoke_ends_every_earlier_token(world: World) -> None:
    """After /auth/revoke the caller's earlier tokens are 401 and a new login works."""
    world.admin.user("leaver", PASSWORD)
    first, second = (
        Api(world.bridge.url, "leaver", PASSWORD),
        Api(world.bridge.url, "leaver", PASSWORD),
    )
    try:
        assert first.ok("GET", "/api/v1/me")["username"] == "leaver"
        assert first.http.post("/api/v1/auth/revoke").status_code == 204
        for api in (first, second):
            assert outcome(api.http.get("/api/v1/me")) == (401, "unauthenticated")
        third = Api(world.bridge.url, "leaver", PASSWORD)
        try:
            assert third.ok("GET", "/api/v1/me")["username"] == "leaver"
        finally:
            third.close()
    finally:
        first.close()
        second.close()


def test_admin_revoke_tokens_ends_another_users_tokens(world: World) -> None:
    """A global admin's revoke-tokens on a user makes that user's token 401."""
    world.admin.user("revoked", PASSWORD)
    user = Api(world.bridge.url, "revoked", PASSWORD)
    try:
        uid = user.ok("GET", "/api/v1/me")["id"]
        world.admin.ok("POST", f"/api/v1/users/{uid}/revoke-tokens")
        assert outcome(user.http.get("/api/v1/me")) == (401, "unauthenticated")
    finally:
        user.close()


def login(url: str, username: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{url}/api/v1/auth/token", data={"username": username, "password": password}, timeout=30
    )


def test_wrong_password_answers_like_unknown_user(world: World) -> None:
    """A wrong password and an unknown user get the same 401 body, so names cannot be probed."""
    wrong = login(world.bridge.url, "viewer-a", "not-the-password")
    unknown = login(world.bridge.url, "nobody-here", "not-the-password")
    assert outcome(wrong) == (401, "unauthenticated")
    assert wrong.json() == unknown.json()
    assert wrong.status_code == unknown.status_code


@pytest.fixture
def slow_login_bridge(tmp_path: Path) -> Iterator[Bridge]:
    """A bridge allowing one login a minute (a burst of one): no token comes back during a
    test of a few seconds, however slow the machine."""
    bridge = started_bridge(tmp_path, FARMBRIDGE_LOGIN_RATE_PER_MIN="1")
    yield bridge
    bridge.stop()


def test_login_flood_is_rate_limited(slow_login_bridge: Bridge) -> None:
    """Many logins from one address get 429 with Retry-After, even with the right password."""
    bridge = slow_login_bridge
    answers = [login(bridge.url, "admin", "wrong-password") for _ in range(20)]
    statuses = [r.status_code for r in answers]
    assert statuses[0] == 401
    assert set(statuses) == {401, 429}, statuses  # the bucket refills slowly, so both mix late
    for r in answers:
        if r.status_code == 429:
            assert outcome(r) == (429, "rate_limited")
            assert int(r.headers["retry-after"]) >= 1
    # Right after a flood the right password is refused too (at most one token can be back).
    right = [login(bridge.url, *ADMIN).status_code for _ in range(3)]
    assert 429 in right, right


@pytest.mark.bridge_env(FARMBRIDGE_TOKEN_TTL_S="3")
def test_expired_token_is_unauthenticated(bridge: Bridge) -> None:
    """A token past its expiry is 401, though it worked before."""
    # A 3 s TTL leaves the token at least 2 s of life (expiry is in whole seconds): time
    # for the first request however busy the machine.
    r = login(bridge.url, *ADMIN)
    token, expires_at = r.json()["access_token"], r.json()["expires_at"]
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{bridge.url}/api/v1/me", headers=headers).status_code == 200

    def refused() -> httpx.Response | None:
        r = httpx.get(f"{bridge.url}/api/v1/me", headers=headers)
        return r if r.status_code != 200 else None

    r = eventually(refused, timeout=expires_at - time.time() + 30, what="the token refused")
    assert time.time() >= expires_at
    assert outcome(r) == (401, "unauthenticated")
    assert "expired" in r.json()["error"]["message"]
