"""The OpenAPI document declares every error status a route answers, with the error body."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from farmbridge.app import build_app
from farmbridge.config import Settings
from tests.conftest import Bridge

HTTP_METHODS: Final = {"get", "post", "put", "delete", "patch"}
ERROR_REF: Final = "#/components/schemas/ErrorOut"
OWN_503: Final = {("get", "/readyz")}
"""Routes whose 503 is not the error body (readiness answers its probes)."""


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data_dir:  # the app is built, never started
        document: dict[str, Any] = build_app(Settings(data_dir=Path(data_dir))).openapi()
    return document


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in HTTP_METHODS
    ]


LOGINS = ("/api/v1/auth/token", "/api/v1/auth/display-token")


def expected_statuses(method: str, path: str, op: dict[str, Any]) -> set[str]:
    """What a route must declare, from its shape alone."""
    out: set[str] = set()
    if op.get("parameters") or op.get("requestBody") or method in {"post", "put"}:
        out.add("422")
    if method in {"post", "put"}:
        out.add("413")
    if "{" in path:
        out.add("404")
    if path.startswith("/api/v1"):
        out |= {"401", "503"}
        # Logging in, with a password or a display secret, has no role to lack.
        if path not in LOGINS:
            out.add("403")
        if method in {"post", "put", "delete"} and path not in LOGINS:
            out.add("409")
    if path.startswith((*LOGINS, "/api/v1/ingest", "/api/v1/lorawan")):
        out.add("429")
    return out


def test_openapi_error_body_schema_is_declared(spec: dict[str, Any]) -> None:
    """ErrorOut is {"error": {"code", "message", "field"}}, code and message required."""
    schemas = spec["components"]["schemas"]
    assert schemas["ErrorOut"]["required"] == ["error"]
    detail = schemas["ErrorDetail"]
    assert set(detail["properties"]) == {"code", "message", "field"}
    assert set(detail["required"]) == {"code", "message"}


def test_openapi_every_route_declares_its_error_statuses(spec: dict[str, Any]) -> None:
    """Each route lists 401/403/404/409/413/422/429/503 as its shape makes it answer them."""
    ops = operations(spec)
    assert len(ops) >= 35
    missing = {
        f"{method.upper()} {path}": sorted(
            expected_statuses(method, path, op) - set(op["responses"])
        )
        for method, path, op in ops
    }
    assert {k: v for k, v in missing.items() if v} == {}
    farm = spec["paths"]["/api/v1/farms/{farm_id}"]["get"]["responses"]
    assert sorted(farm) == ["200", "401", "403", "404", "422", "503"]


def test_openapi_every_error_status_has_the_error_body(spec: dict[str, Any]) -> None:
    """Every declared 4xx and 5xx answer's JSON schema is ErrorOut (readiness aside)."""
    wrong = []
    for method, path, op in operations(spec):
        for status, response in op["responses"].items():
            if status < "400" or (method, path) in OWN_503:
                continue
            schema = response.get("content", {}).get("application/json", {}).get("schema", {})
            if schema.get("$ref") != ERROR_REF:
                wrong.append(f"{method.upper()} {path} {status}")
    assert wrong == []


def test_openapi_statuses_the_served_document_matches_the_built_one(
    spec: dict[str, Any], shared_bridge: Bridge
) -> None:
    """The running bridge serves the same declarations (a generated client reads that one)."""
    served = httpx.get(f"{shared_bridge.url}/openapi.json", timeout=30).json()
    assert {(m, p): sorted(op["responses"]) for m, p, op in operations(served)} == {
        (m, p): sorted(op["responses"]) for m, p, op in operations(spec)
    }
