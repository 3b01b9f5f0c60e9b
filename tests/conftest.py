"""Shared fixtures: real bridge processes on loopback, and an admin to drive them.

Starting a bridge costs seconds, so tests share one where they can: `shared_bridge` serves
the whole run (one per xdist worker), and each test on it works on a farm, devices and
users of its own (`unique`), never on what the server holds as a whole. A test that
restarts, kills or reconfigures its bridge, or must see an empty server, takes `bridge`,
a fresh one of its own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx
import pytest

from farmbridge.app import build_services
from farmbridge.config import Settings
from tests.integration.api_client import Api
from tests.postgres import Postgres

ADMIN = ("admin", "admin-password")
START_TIMEOUT_S: Final = 60.0
"""Generous: a bridge starts in about two seconds, but much later on a busy machine."""
SHARED_LOGIN_RATE_PER_MIN: Final = "60000"
"""Every test on a shared bridge logs in from 127.0.0.1: one login bucket for them all."""
TEMPLATE_SECRET: Final = "only-signs-nothing-while-the-admin-template-is-made"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique(prefix: str) -> str:
    """A name no other test uses, for farms, devices and users on a shared bridge."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Bridge:
    """A `farmbridge serve` subprocess; start/stop it as often as a test likes."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    """More `farmbridge serve` options."""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        """What the process wrote so far (warnings and errors)."""
        path = self.data_dir / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def launch(self) -> None:
        """Starts the process without waiting for it (see `wait_ready`, `wait_listening`)."""
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
                    *self.args,
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def readyz(self) -> httpx.Response | None:
        """The answer of /readyz, or None while nothing listens."""
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"bridge exited: {self.log}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=5)
        except httpx.TransportError:
            return None

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        """Waits until /readyz answers 200; RuntimeError after `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.readyz()
            if r is not None and r.status_code == 200:
                return
            time.sleep(0.05)
        raise RuntimeError("bridge did not become ready")

    def wait_listening(self, timeout: float = START_TIMEOUT_S) -> httpx.Response:
        """Waits until /readyz answers at all (ready or not); its first answer."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.readyz()
            if r is not None:
                return r
            time.sleep(0.05)
        raise RuntimeError("bridge did not listen")

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        self.launch()
        self.wait_ready(timeout)

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


def _create_admin(data_dir: Path, database_url: str | None = None) -> None:
    async def work() -> None:
        # A secret given, so none is kept in the folder: each copy makes its own.
        settings = Settings(
            data_dir=data_dir, secret_key=TEMPLATE_SECRET, database_url=database_url
        )
        svc = build_services(settings)
        await svc.store.start()
        try:
            await svc.users.create_user_unchecked(*ADMIN, is_admin=True)
        finally:
            await svc.store.close()

    # A thread of its own, so async tests (with a running loop) may call this too.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, work()).result()


_admin_template: Path | None = None


def make_admin(data_dir: Path) -> None:
    """Gives `data_dir` a store holding the global admin ADMIN.

    The store is made (migrated, admin password hashed) once per process and copied; it
    holds no secret key, so each bridge still makes its own.
    """
    global _admin_template
    if _admin_template is None:
        template = Path(tempfile.mkdtemp(prefix="farmbridge-admin-"))
        _create_admin(template)
        _admin_template = template
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(_admin_template, data_dir, dirs_exist_ok=True)


def make_admin_in(database_url: str, data_dir: Path) -> None:
    """Gives the store at `database_url` (PostgreSQL) the global admin ADMIN."""
    data_dir.mkdir(parents=True, exist_ok=True)
    _create_admin(data_dir, database_url)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _admin_template is not None:
        shutil.rmtree(_admin_template, ignore_errors=True)


def started_bridge(data_dir: Path, **env: str) -> Bridge:
    """A started bridge on `data_dir` (given an admin) with FARMBRIDGE_* settings `env`."""
    make_admin(data_dir)
    b = Bridge(data_dir, env=env)
    b.start()
    return b


@pytest.fixture
def bridge(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bridge]:
    """A fresh bridge of the test's own: empty but for the admin; stop or restart it freely.

    `@pytest.mark.bridge_env(FARMBRIDGE_X="...")` starts it with those settings.
    """
    marker = request.node.get_closest_marker("bridge_env")
    b = started_bridge(tmp_path, **(marker.kwargs if marker else {}))
    yield b
    b.stop()


@pytest.fixture
def admin_api(bridge: Bridge) -> Iterator[Api]:
    api = Api(bridge.url, *ADMIN)
    yield api
    api.close()


@pytest.fixture(scope="session")
def shared_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    """One bridge for every test that needs no bridge of its own; never stop or restart it."""
    b = started_bridge(
        tmp_path_factory.mktemp("shared-bridge"),
        FARMBRIDGE_LOGIN_RATE_PER_MIN=SHARED_LOGIN_RATE_PER_MIN,
    )
    yield b
    b.stop()


@pytest.fixture(scope="session")
def shared_admin(shared_bridge: Bridge) -> Iterator[Api]:
    """The global admin of `shared_bridge`."""
    api = Api(shared_bridge.url, *ADMIN)
    yield api
    api.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One PostgreSQL server per test worker, with the migrated schema as a template."""
    pg = Postgres()
    pg.init()
    pg.start()
    pg.make_template()
    yield pg
    pg.destroy()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store's database, once on SQLite and once on PostgreSQL: the
    store's shared suite runs on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fb.db'}"
    pg: Postgres = request.getfixturevalue("postgres")
    return pg.new_database()
