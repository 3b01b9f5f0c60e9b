"""Password changes (API, admin reset, CLI) and the login and device-key limits on a real
bridge: who the client is when X-Forwarded-For is sent, with and without a trusted proxy."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from tests.conftest import ADMIN, Bridge, unique
from tests.integration.api_client import Api, ingest
from tests.integration.ws_probe import Probe

PASSWORD = "first-password"
NEW_PASSWORD = "second-password"


def login(url: str, username: str, password: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{url}/api/v1/auth/token",
        data={"username": username, "password": password},
        headers=headers,
        timeout=30,
    )


def token_of(url: str, username: str, password: str) -> str:
    r = login(url, username, password)
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


def me(url: str, token: str) -> int:
    return httpx.get(
        f"{url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).status_code


async def authed_probe(url: str, token: str) -> Probe:
    probe = await Probe.open(url)
    await probe.auth(token)
    return probe


async def closed_as_revoked(probe: Probe) -> None:
    err = await probe.expect("error")
    assert err["code"] == "unauthenticated", err
    assert await probe.close_code() == 4001


async def test_password_change_ends_old_tokens_and_sockets(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """POST /me/password answers a fresh token; the old tokens are 401, the user's open
    socket closes with 4001, and only the new password logs in."""
    url, name = shared_bridge.url, unique("changer")
    shared_admin.user(name, PASSWORD)
    old = token_of(url, name, PASSWORD)
    probe = await authed_probe(url, token_of(url, name, PASSWORD))
    wrong = httpx.post(
        f"{url}/api/v1/me/password",
        json={"current_password": "not-it-at-all", "new_password": NEW_PASSWORD},
        headers={"Authorization": f"Bearer {old}"},
        timeout=30,
    )
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (403, "forbidden"), wrong.text
    r = httpx.post(
        f"{url}/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers={"Authorization": f"Bearer {old}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    fresh = r.json()["access_token"]
    await closed_as_revoked(probe)
    assert me(url, old) == 401
    assert me(url, fresh) == 200
    assert login(url, name, PASSWORD).status_code == 401
    assert login(url, name, NEW_PASSWORD).status_code == 200


async def test_admin_password_reset_ends_the_users_tokens_and_sockets(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """An admin's POST /users/{id}/password revokes the user's tokens and closes their socket."""
    url, name = shared_bridge.url, unique("reset")
    shared_admin.user(name, PASSWORD)
    token = token_of(url, name, PASSWORD)
    uid = {u["username"]: u["id"] for u in shared_admin.ok("GET", "/api/v1/users")}[name]
    probe = await authed_probe(url, token)
    r = shared_admin.http.post(f"/api/v1/users/{uid}/password", json={"password": NEW_PASSWORD})
    assert r.status_code == 204, r.text
    await closed_as_revoked(probe)
    assert me(url, token) == 401
    assert login(url, name, NEW_PASSWORD).status_code == 200
    denied = httpx.post(
        f"{url}/api/v1/users/{uid}/password",
        json={"password": "yet-another-one"},
        headers={"Authorization": f"Bearer {token_of(url, name, NEW_PASSWORD)}"},
        timeout=30,
    )
    assert denied.status_code == 403


def test_cli_passwd_sets_the_password_and_ends_tokens(
    shared_bridge: Bridge, shared_admin: Api
) -> None:
    """`farmbridge users passwd NAME` reads the password from stdin; the running bridge then
    refuses the user's old token and old password."""
    url, name = shared_bridge.url, unique("cli")
    shared_admin.user(name, PASSWORD)
    token = token_of(url, name, PASSWORD)
    cli = [sys.executable, "-m", "farmbridge", "users", "passwd", name]
    done = subprocess.run(
        [*cli, "--data-dir", str(shared_bridge.data_dir)],
        input=f"{NEW_PASSWORD}\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"password of {name} changed" in done.stdout
    assert me(url, token) == 401
    assert login(url, name, PASSWORD).status_code == 401
    assert login(url, name, NEW_PASSWORD).status_code == 200


@pytest.mark.bridge_env(FARMBRIDGE_LOGIN_RATE_PER_MIN="1")
def test_forwarded_for_is_ignored_by_default(bridge: Bridge) -> None:
    """Without trusted proxies a new X-Forwarded-For per attempt buys no fresh budget."""
    statuses = [
        login(bridge.url, "admin", "wrong-password", **{"X-Forwarded-For": f"203.0.113.{i}"})
        for i in range(12)
    ]
    assert statuses[0].status_code == 401
    assert {r.status_code for r in statuses[1:]} == {429}, [r.status_code for r in statuses]


@pytest.mark.bridge_env(
    FARMBRIDGE_LOGIN_RATE_PER_MIN="1", FARMBRIDGE_TRUSTED_PROXIES=json.dumps(["127.0.0.1"])
)
def test_forwarded_for_counts_from_a_trusted_proxy(bridge: Bridge) -> None:
    """Behind a trusted proxy each client (the right-most hop) has its own budget, and a
    spoofed left part of the header does not make a new client."""
    for i in range(4):
        hops = f"6.6.6.{i}, 203.0.113.{i}"
        assert login(bridge.url, "admin", "wrong", **{"X-Forwarded-For": hops}).status_code == 401
    spoofed = login(bridge.url, "admin", "wrong", **{"X-Forwarded-For": "6.6.6.9, 203.0.113.0"})
    assert spoofed.status_code == 429
    assert login(bridge.url, *ADMIN, **{"X-Forwarded-For": "198.51.100.7"}).status_code == 200


@pytest.mark.bridge_env(
    FARMBRIDGE_DEVICE_KEY_FAILURE_BURST="3", FARMBRIDGE_DEVICE_KEY_FAILURES_PER_MIN="1"
)
def test_wrong_device_keys_are_limited_per_address(bridge: Bridge) -> None:
    """Past a burst of wrong keys one address gets 429 with Retry-After on ingest and the
    command routes; a good key from another address is unaffected."""
    admin = Api(bridge.url, *ADMIN)
    try:
        farm = admin.farm("keys")
        key = admin.device(farm["id"], "node")["key"]
    finally:
        admin.close()
    reading = {"sensor": "temp", "value": 20.0}
    codes = [ingest(bridge.url, "fbd_wrong", reading).status_code for _ in range(3)]
    assert codes == [401, 401, 401]
    limited = ingest(bridge.url, "fbd_wrong", reading)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert ingest(bridge.url, key, reading).status_code == 429  # this address, even a good key
    commands = httpx.get(
        f"{bridge.url}/api/v1/ingest/commands",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert commands.status_code == 429
    other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=30)
    try:
        r = other.post(
            f"{bridge.url}/api/v1/ingest", json=reading, headers={"Authorization": f"Bearer {key}"}
        )
        assert r.status_code == 200, r.text
    finally:
        other.close()
