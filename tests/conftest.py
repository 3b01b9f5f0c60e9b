"""Shared fixtures: a real bridge process on loopback, and an admin to drive it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from farmbridge.app import build_services
from farmbridge.config import Settings
from tests.integration.api_client import Api

ADMIN = ("admin", "admin-password")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Bridge:
    """A `farmbridge serve` subprocess; start/stop it as often as a test likes."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        env = {**os.environ, "FARMBRIDGE_LOG_LEVEL": "warning", **self.env}
        with (self.data_dir / "server.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "farmbridge",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bridge exited: {(self.data_dir / 'server.log').read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError("bridge did not become ready")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def make_admin(data_dir: Path) -> None:
    async def work() -> None:
        svc = build_services(Settings(data_dir=data_dir))
        await svc.store.start()
        try:
            await svc.users.create_user_unchecked(*ADMIN, is_admin=True)
        finally:
            await svc.store.close()

    # A thread of its own, so async tests (with a running loop) may call this too.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, work()).result()


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Bridge]:
    make_admin(tmp_path)
    b = Bridge(tmp_path)
    b.start()
    yield b
    b.stop()


@pytest.fixture
def admin_api(bridge: Bridge) -> Iterator[Api]:
    api = Api(bridge.url, *ADMIN)
    yield api
    api.close()
