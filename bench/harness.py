"""Shared bench plumbing: a bridge subprocess pinned to one core, REST set-up, process figures."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

ADMIN_USER = "bench-admin"
ADMIN_PASSWORD = "bench-admin-password"  # noqa: S105 - a throw-away local bench user
READY_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pin(cpu: int) -> None:
    """Pins this process to one CPU when the machine has it (server and load apart)."""
    with contextlib.suppress(AttributeError, OSError):
        if cpu in os.sched_getaffinity(0) or cpu < (os.cpu_count() or 1):
            os.sched_setaffinity(0, {cpu})


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[i]


@dataclass
class Bridge:
    """A `farmbridge serve` subprocess on loopback, with an admin user, pinned to `cpu`."""

    env: dict[str, str] = field(default_factory=dict)
    cpu: int = 0
    port: int = field(default_factory=free_port)
    data_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fb-bench-")))
    proc: subprocess.Popen[bytes] | None = None
    create_admin: bool = True
    """False for the second and later instances on one shared database (it has the admin)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "FARMBRIDGE_LOG_LEVEL": "warning", **self.env}
        cli = [sys.executable, "-m", "farmbridge"]
        if self.create_admin:
            subprocess.run(
                [*cli, "users", "create", ADMIN_USER, "--admin", "--data-dir", str(self.data_dir)],
                input=f"{ADMIN_PASSWORD}\n".encode(),
                env=env,
                check=True,
                capture_output=True,
            )
        log = (self.data_dir / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [
                *cli,
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
        log.close()
        with contextlib.suppress(OSError):
            os.sched_setaffinity(self.proc.pid, {self.cpu})
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("bridge did not become ready")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def __enter__(self) -> Bridge:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Admin:
    """REST set-up as the bench admin."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=60)
        r = self.http.post(
            "/api/v1/auth/token", data={"username": ADMIN_USER, "password": ADMIN_PASSWORD}
        )
        r.raise_for_status()
        self.token: str = r.json()["access_token"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def post(self, path: str, body: dict[str, Any]) -> Any:
        r = self.http.post(path, json=body)
        r.raise_for_status()
        return r.json()

    def close(self) -> None:
        self.http.close()


@contextlib.contextmanager
def process_meter(pid: int) -> Iterator[dict[str, float]]:
    """Measures a process's CPU % of one core and its peak RSS (sampled) over the block."""
    proc = psutil.Process(pid)
    figures: dict[str, float] = {}
    t0 = time.monotonic()
    c0 = proc.cpu_times()
    figures["rss_mb_start"] = proc.memory_info().rss / 2**20
    yield figures
    c1 = proc.cpu_times()
    wall = time.monotonic() - t0
    figures["cpu_pct"] = 100 * ((c1.user - c0.user) + (c1.system - c0.system)) / wall
    figures["rss_mb"] = proc.memory_info().rss / 2**20
