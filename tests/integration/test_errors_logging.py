"""An unexpected error on a real app and real services: answered at once with a request id,
logged once, plainly, without the device key that came with the request."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from websockets.asyncio.client import connect

from farmbridge import logs
from farmbridge.app import BridgeApp
from farmbridge.config import Settings
from farmbridge.domain.clock import FakeClock
from farmbridge.service.bundle import Services
from tests.conftest import ADMIN, started_bridge
from tests.conftest import Bridge as BridgeProcess
from tests.integration.api_client import Api
from tests.unit.bridge_services import SECRET_KEY, device, running_services

REQUEST_TIMEOUT_S = 30.0
"""A guard, not a measure: a regression that renders on the loop hangs instead of failing."""


@dataclass
class Bridge:
    client: httpx.AsyncClient
    svc: Services
    key: str


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield
    root.handlers[:], level = saved
    root.setLevel(level)
    structlog.reset_defaults()


@pytest.fixture
async def bridge(tmp_path: Path, restore_logging: None) -> AsyncIterator[Bridge]:
    async with running_services(tmp_path, FakeClock()) as svc:
        _, key = await device(svc, "pump")
        settings = Settings(data_dir=tmp_path, secret_key=SECRET_KEY, commit_window_ms=0.0)
        app = BridgeApp(settings, svc)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as client:
            yield Bridge(client, svc, key)


def _break(bridge: Bridge, target: Any, name: str) -> None:
    """Makes `target.name` fail the way a bug would: the key in a local and in the message."""

    async def failing(*args: Any, **kwargs: Any) -> Any:
        device_key = bridge.key
        payload = {"secret_local": device_key, "padding": ["x" * 64] * 200}
        raise RuntimeError(f"unexpected state for {device_key} ({len(payload)})")

    setattr(target, name, failing)


async def _ack(bridge: Bridge, **headers: str) -> httpx.Response:
    return await bridge.client.post(
        "/api/v1/ingest/commands/1/ack",
        json={"state": "acknowledged"},
        headers={"Authorization": f"Bearer {bridge.key}", **headers},
    )


async def _ingest(bridge: Bridge) -> httpx.Response:
    return await bridge.client.post(
        "/api/v1/ingest",
        json={"status": {"state": "online"}},
        headers={"Authorization": f"Bearer {bridge.key}"},
    )


@pytest.mark.parametrize("path", ["api", "ingest"])
async def test_unexpected_error_logged_once_with_request_id_and_no_secret(
    bridge: Bridge, path: str
) -> None:
    """A 500 has code internal_error and an id; the log has one record with that id, a plain
    traceback, no locals and no device key, on the API and on the ingest hot path."""
    out = io.StringIO()
    pipe = logs.configure("info", json=True, stream=out)
    if path == "api":
        _break(bridge, bridge.svc.commands, "complete")
        resp = await _ack(bridge)
    else:
        _break(bridge, bridge.svc.ingest, "ingest")
        resp = await _ingest(bridge)
    pipe.stop()

    assert resp.status_code == 500
    request_id = resp.headers["X-Request-ID"]
    assert resp.json() == {
        "error": {"code": "internal_error", "message": "internal error", "request_id": request_id}
    }
    text = out.getvalue()
    records = [json.loads(line) for line in text.splitlines()]
    mine = [r for r in records if r.get("request_id") == request_id]
    assert len(mine) == 1, text
    assert [r for r in records if "exception" in r] == mine
    assert "Traceback (most recent call last)" in mine[0]["exception"]
    assert "RuntimeError: unexpected state for fbd_[redacted]" in mine[0]["exception"]
    assert bridge.key not in text
    assert bridge.key.removeprefix("fbd_") not in text
    assert "secret_local" not in text  # a local's value is never rendered
    assert "x" * 64 not in text


async def test_unexpected_error_console_log_has_no_locals(bridge: Bridge) -> None:
    """The default console renderer prints the plain traceback once, with no locals."""
    out = io.StringIO()
    pipe = logs.configure("info", stream=out)
    _break(bridge, bridge.svc.commands, "complete")
    resp = await _ack(bridge)
    pipe.stop()

    text = out.getvalue()
    assert resp.status_code == 500
    assert text.count(resp.headers["X-Request-ID"]) == 1
    assert text.count("Traceback (most recent call last)") == 1
    assert bridge.key not in text
    assert "secret_local" not in text
    assert "device_key =" not in text


class BlockedStream(io.StringIO):
    """A log destination that takes nothing until released, like a full pipe to a slow disk."""

    def __init__(self) -> None:
        super().__init__()
        self.released = threading.Event()

    def write(self, s: str) -> int:
        self.released.wait()
        return super().write(s)


async def test_unexpected_error_answered_while_log_output_blocked(bridge: Bridge) -> None:
    """The 500 goes out while the log's destination blocks: rendering is not on the loop."""
    out = BlockedStream()
    pipe = logs.configure("info", json=True, stream=out)
    _break(bridge, bridge.svc.commands, "complete")
    try:
        resp = await asyncio.wait_for(_ack(bridge), REQUEST_TIMEOUT_S)
        health = await asyncio.wait_for(bridge.client.get("/healthz"), REQUEST_TIMEOUT_S)
    finally:
        out.released.set()
        pipe.stop()
    assert resp.status_code == 500
    assert health.status_code == 200
    assert resp.headers["X-Request-ID"] in out.getvalue()


async def test_request_id_sane_incoming_kept_other_replaced(bridge: Bridge) -> None:
    """A plain incoming X-Request-ID is echoed (and in the 500 body); a hostile one is not."""
    _break(bridge, bridge.svc.commands, "complete")
    kept = await _ack(bridge, **{"X-Request-ID": "lb-7f3a.42"})
    hostile = "x\u00e9 bad id " + "y" * 100
    replaced = await bridge.client.get("/healthz", headers={"X-Request-ID": hostile.encode()})
    assert kept.headers["X-Request-ID"] == "lb-7f3a.42"
    assert kept.json()["error"]["request_id"] == "lb-7f3a.42"
    new_id = replaced.headers["X-Request-ID"]
    assert new_id != hostile
    assert len(new_id) == 32
    assert new_id.isalnum()


@pytest.fixture
def real_bridge(tmp_path: Path) -> Iterator[BridgeProcess]:
    b = started_bridge(tmp_path, FARMBRIDGE_LOG_LEVEL="info")
    yield b
    b.stop()


async def test_ws_token_in_url_redacted_in_real_bridge_log(real_bridge: BridgeProcess) -> None:
    """uvicorn's line for a `/ws?token=...` upgrade, written by a real bridge, keeps the path
    and loses the token; the stop's last lines still reach the log (flushed before the
    re-raised SIGTERM ends the process)."""
    api = Api(real_bridge.url, *ADMIN)
    try:
        url = real_bridge.url.replace("http://", "ws://") + f"/ws?token={api.token}"
        async with connect(url, ping_interval=None, open_timeout=10) as ws:
            await ws.send(json.dumps({"type": "auth", "token": api.token}))
            assert json.loads(await ws.recv())["type"] == "welcome"
    finally:
        api.close()
    real_bridge.stop()
    log = real_bridge.log
    assert '"WebSocket /ws?token=[redacted]"' in log, log
    assert api.token not in log
    assert api.token.split(".")[2] not in log
    assert "Finished server process" in log
