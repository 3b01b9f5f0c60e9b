"""/readyz tells whether a write would succeed, names why not, and recovers by itself."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import httpx
import pytest

from tests.conftest import ADMIN, Bridge, make_admin
from tests.integration.api_client import Api, ingest
from tests.integration.test_faults_store import _fill as fill_disk

WAIT_S: Final = 60.0
TMPFS_SIZE: Final = "16m"
NOT_WRITABLE: Final = {"locked", "stalled"}
"""A lock another process holds: the probe says `locked`, or `stalled` while a write queued
before it (housekeeping) still waits out the busy timeout."""


def wait_for(check: Callable[[], httpx.Response | None], want: int) -> httpx.Response:
    """The first answer with status `want`, polling until WAIT_S has passed."""
    deadline = time.monotonic() + WAIT_S
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last is not None and last.status_code == want:
            return last
        time.sleep(0.1)
    raise AssertionError(f"no {want} in {WAIT_S} s; last {last and last.text}")


def test_readiness_reports_a_lock_held_by_another_process(bridge: Bridge) -> None:
    """While another process holds the database's write lock, /readyz answers 503 naming
    why; once it lets go, 200 again, without a restart."""
    assert bridge.readyz() is not None
    assert wait_for(bridge.readyz, 200).json()["store"] == "ok"
    other = sqlite3.connect(bridge.data_dir / "farmbridge.db", timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        r = wait_for(bridge.readyz, 503)
        assert r.json()["status"] == "not_ready"
        assert r.json()["store"] in NOT_WRITABLE
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert wait_for(bridge.readyz, 200).json() == {"status": "ready", "store": "ok"}


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A data dir on a small tmpfs of its own (root only: elsewhere the test fails, saying so)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"cannot mount a tmpfs (the disk-full test needs root): {done.stderr.decode().strip()}"
        )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_readiness_reports_a_full_disk_and_recovers(tiny_disk: Path) -> None:
    """With the data dir's disk full, ingest answers an error (never a false 2xx) and
    /readyz 503 `disk_full`; once space returns both recover by themselves."""
    make_admin(tiny_disk)
    bridge = Bridge(
        tiny_disk, env={"FARMBRIDGE_DEVICE_RATE_PER_S": "1000", "FARMBRIDGE_DEVICE_BURST": "1000"}
    )
    bridge.start()
    try:
        api = Api(bridge.url, *ADMIN)
        farm = api.farm("full")
        key = api.device(farm["id"], "dev", sensors=[{"name": "raw"}])["key"]
        filler = fill_disk(tiny_disk)

        def reading() -> httpx.Response:
            return ingest(bridge.url, key, {"sensor": "raw", "value": 1.0})

        # Writes fail once the WAL must grow; each reading takes a page of it.
        refused = wait_for(reading, 503)
        assert refused.json()["error"]["message"] == "store unavailable: disk full"
        assert wait_for(bridge.readyz, 503).json()["store"] == "disk_full"

        filler.unlink()
        assert wait_for(bridge.readyz, 200).json()["store"] == "ok"
        assert reading().status_code == 200
        api.close()
    finally:
        bridge.stop()
