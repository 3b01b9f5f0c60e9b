"""Display credentials (wall screens) on a real bridge: created, listed and revoked by farm
admins, exchanged for viewer tokens, and a revocation closing the screen's open socket."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.conftest import Bridge, unique
from tests.integration.api_client import Api
from tests.integration.ws_probe import Probe

PASSWORD = "display-test-password"
REVOKED_CLOSE_WITHIN_S = 2.0
"""A bound for "at once": a revocation's close is event-driven, not polled."""


def exchange(url: str, secret: str) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/auth/display-token", json={"secret": secret}, timeout=30)


def token_for(url: str, secret: str) -> dict[str, Any]:
    r = exchange(url, secret)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def me(url: str, token: str) -> httpx.Response:
    return httpx.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def farm_with_admin(bridge: Bridge, admin: Api, role: str = "admin") -> tuple[int, Api]:
    farm = admin.farm(unique("wallfarm"))
    name = unique(f"wall-{role}")
    admin.user(name, PASSWORD, farm_id=farm["id"], role=role)
    return farm["id"], Api(bridge.url, name, PASSWORD)


def test_farm_admin_creates_lists_and_revokes_a_display(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """A farm admin creates a display (its secret shown once, never listed), lists it, and
    revokes it; the exchanged token is viewer on the farm and 401 after the revocation."""
    url = shared_bridge.url
    farm_id, owner = farm_with_admin(shared_bridge, shared_admin)
    try:
        created = owner.ok(
            "POST", f"/api/v1/farms/{farm_id}/displays", json={"name": " greenhouse 2 wall "}
        )
        assert created["secret"].startswith("fbw_")
        assert (created["farm_id"], created["name"], created["expires_ms"]) == (
            farm_id,
            "greenhouse 2 wall",
            None,
        )
        listed = owner.ok("GET", f"/api/v1/farms/{farm_id}/displays")
        assert listed == [{k: v for k, v in created.items() if k != "secret"}]
        token = token_for(url, created["secret"])
        assert token["token_type"] == "bearer"
        assert me(url, token["access_token"]).json()["roles"] == {str(farm_id): "viewer"}
        path = f"/api/v1/farms/{farm_id}/displays/{created['id']}"
        assert owner.http.delete(path).status_code == 204
        assert me(url, token["access_token"]).status_code == 401
        assert exchange(url, created["secret"]).status_code == 401
        assert owner.ok("GET", f"/api/v1/farms/{farm_id}/displays") == []
        again = owner.http.delete(path)
        assert (again.status_code, again.json()["error"]["code"]) == (404, "not_found")
    finally:
        owner.close()


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_farm_admins_create_or_revoke_displays(
    shared_bridge: Bridge, shared_admin: Api, role: str
) -> None:
    """A viewer or operator of the farm is 403 on creating, listing and revoking displays."""
    farm_id, member = farm_with_admin(shared_bridge, shared_admin, role)
    try:
        made = shared_admin.ok("POST", f"/api/v1/farms/{farm_id}/displays", json={"name": "w"})
        base = f"/api/v1/farms/{farm_id}/displays"
        got = [
            member.http.post(base, json={"name": "mine"}).status_code,
            member.http.get(base).status_code,
            member.http.delete(f"{base}/{made['id']}").status_code,
        ]
        assert got == [403, 403, 403]
        assert [d["id"] for d in shared_admin.ok("GET", base)] == [made["id"]]
    finally:
        member.close()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "tab\there"}, "name"),
        ({"name": "w", "expires_ms": 1}, "expires_ms"),
        ({"name": "w", "expires_ms": "soon"}, "expires_ms"),
        ({"name": "w", "extra": 1}, "extra"),
    ],
)
def test_display_create_validates_its_body(
    shared_bridge: Bridge, shared_admin: Api, body: dict[str, Any], field: str
) -> None:
    """A blank, too long or unprintable name, an expiry not in the future, or an unknown
    field is 422 naming the field."""
    farm = shared_admin.farm(unique("wallval"))
    r = shared_admin.http.post(f"/api/v1/farms/{farm['id']}/displays", json=body)
    assert r.status_code == 422, r.text
    assert field in r.text


def test_display_routes_of_an_unknown_farm_or_display_are_404(shared_admin: Api) -> None:
    """A farm or display that does not exist is 404, as is another farm's display."""
    farm = shared_admin.farm(unique("wall404"))
    other = shared_admin.farm(unique("wall404"))
    made = shared_admin.ok("POST", f"/api/v1/farms/{farm['id']}/displays", json={"name": "w"})
    statuses = [
        shared_admin.http.post("/api/v1/farms/999999/displays", json={"name": "w"}).status_code,
        shared_admin.http.get("/api/v1/farms/999999/displays").status_code,
        shared_admin.http.delete(f"/api/v1/farms/{farm['id']}/displays/999999").status_code,
        shared_admin.http.delete(f"/api/v1/farms/{other['id']}/displays/{made['id']}").status_code,
    ]
    assert statuses == [404, 404, 404, 404]


@pytest.mark.parametrize("secret", ["", "fbw_" + "A" * 43, "x" * 257])
def test_display_token_for_a_wrong_secret_is_refused(shared_bridge: Bridge, secret: str) -> None:
    """An unknown secret is 401; an empty or too long one is 422."""
    r = exchange(shared_bridge.url, secret)
    assert r.status_code == (401 if secret.startswith("fbw_") else 422), r.text


async def test_revoking_a_display_closes_its_open_socket_at_once(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """A screen authenticated with its display token and subscribed to its farm is closed
    with 4001 (after an `unauthenticated` error) as soon as the display is revoked; the
    exchanged token is then refused for REST and for a new socket."""
    url = shared_bridge.url
    farm_id, owner = farm_with_admin(shared_bridge, shared_admin)
    try:
        made = owner.ok("POST", f"/api/v1/farms/{farm_id}/displays", json={"name": "wall"})
        token = token_for(url, made["secret"])["access_token"]
        probe = await Probe.open(url)
        try:
            authed = await probe.auth(token)
            assert authed["user"] == "display:wall"
            await probe.send({"type": "subscribe", "farm": farm_id, "id": 1})
            assert (await probe.expect("subscribed"))["farm"] == farm_id
            started = time.monotonic()
            r = owner.http.delete(f"/api/v1/farms/{farm_id}/displays/{made['id']}")
            assert r.status_code == 204, r.text
            err = await probe.recv()
            while err["type"] == "unsubscribed":
                err = await probe.recv()
            assert (err["type"], err["code"]) == ("error", "unauthenticated")
            assert await probe.close_code() == 4001
            assert time.monotonic() - started < REVOKED_CLOSE_WITHIN_S
        finally:
            await probe.close()
        assert me(url, token).status_code == 401
        late = await Probe.open(url)
        try:
            await late.expect("welcome")
            await late.send({"type": "auth", "token": token, "id": "a"})
            refused = await late.recv()
            assert (refused["type"], refused["code"]) == ("error", "unauthenticated")
            assert await late.close_code() == 4001
        finally:
            await late.close()
    finally:
        owner.close()
