"""A small synchronous REST client for tests: log in, create farms, devices and users."""

from __future__ import annotations

from typing import Any

import httpx


class Api:
    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)
        r = self.http.post("/api/v1/auth/token", data={"username": username, "password": password})
        r.raise_for_status()
        self.token = r.json()["access_token"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def close(self) -> None:
        self.http.close()

    def ok(self, method: str, path: str, **kw: Any) -> Any:
        r = self.http.request(method, path, **kw)
        assert r.status_code < 300, f"{method} {path} -> {r.status_code} {r.text}"
        return r.json() if r.content else None

    def farm(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.ok("POST", "/api/v1/farms", json={"name": name})
        return result

    def device(
        self,
        farm_id: int,
        name: str,
        sensors: list[dict[str, Any]] | None = None,
        kind: str = "sensor_node",
    ) -> dict[str, Any]:
        body = {
            "name": name,
            "kind": kind,
            "sensors": sensors or [{"name": "temp", "unit": "C", "min": -40, "max": 80}],
        }
        result: dict[str, Any] = self.ok("POST", f"/api/v1/farms/{farm_id}/devices", json=body)
        return result

    def user(
        self, username: str, password: str, farm_id: int | None = None, role: str = "viewer"
    ) -> None:
        u = self.ok("POST", "/api/v1/users", json={"username": username, "password": password})
        if farm_id is not None:
            self.ok("PUT", f"/api/v1/farms/{farm_id}/members/{u['id']}", json={"role": role})


def ingest(base_url: str, key: str, body: Any) -> httpx.Response:
    return httpx.post(
        f"{base_url}/api/v1/ingest",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
