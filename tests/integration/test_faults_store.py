"""Store faults against a real bridge: the database locked by another process, and the disk
full (a small tmpfs as the data dir). Ingest must answer an error, never a 2xx for what it
did not store; the bridge stays up and recovers by itself once the fault is gone."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from tests.conftest import ADMIN, Bridge, started_bridge
from tests.integration.api_client import Api, ingest

LOCKED_POSTS: Final = 1
RECOVERY_TIMEOUT_S: Final = 60.0
# The bridge waits SQLITE_BUSY_TIMEOUT_MS (30 s) for the lock, twice (the failed group, then
# the job alone), before it answers 503: about 65 s. Each further concurrent post adds 30 s.
LOCKED_ANSWER_TIMEOUT_S: Final = 150.0
TMPFS_SIZE: Final = "24m"
FILL_READINGS_PER_POST: Final = 100
MAX_FILL_POSTS: Final = 2_000


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _report(message_id: str, values: list[float]) -> dict[str, Any]:
    now = _now_ms()
    return {
        "message_id": message_id,
        "readings": [{"sensor": "temp", "value": v, "ts": now - i} for i, v in enumerate(values)],
    }


def _stored_values(api: Api, sensor_id: int) -> list[float]:
    rows = api.ok("GET", f"/api/v1/sensors/{sensor_id}/readings", params={"limit": 10_000})
    return [row["value"] for row in rows]


def _node(api: Api, farm: str) -> tuple[str, int]:
    f = api.farm(farm)
    node = api.device(f["id"], "node", sensors=[{"name": "temp", "unit": "C"}])
    return node["key"], node["sensors"][0]["id"]


def _until_stored(url: str, key: str, value: float) -> float:
    """Posts one reading (same message id each time) until a 2xx; seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < RECOVERY_TIMEOUT_S:
        try:
            r = ingest(url, key, _report(f"recover-{value}", [value]))
        except httpx.TransportError:
            r = None
        if r is not None and r.status_code < 300:
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"ingest did not recover within {RECOVERY_TIMEOUT_S} s")


@pytest.mark.timeout(LOCKED_ANSWER_TIMEOUT_S + 90)
# A short busy timeout: the promise (an error, never a false 2xx) is the same at any length.
@pytest.mark.bridge_env(FARMBRIDGE_SQLITE_BUSY_TIMEOUT_MS="1000")
def test_ingest_while_another_process_locks_the_database_answers_an_error(
    bridge: Bridge, admin_api: Api
) -> None:
    """With BEGIN EXCLUSIVE held elsewhere, ingests get 5xx, not 2xx; once it is released
    ingest works again and only what got a 2xx is stored."""
    key, sensor_id = _node(admin_api, "locked")
    assert ingest(bridge.url, key, _report("before", [1.0])).status_code == 200

    lock = sqlite3.connect(bridge.data_dir / "farmbridge.db", timeout=30, isolation_level=None)
    answers: list[httpx.Response | Exception] = []

    def post(i: int) -> None:
        try:
            answers.append(
                httpx.post(
                    f"{bridge.url}/api/v1/ingest",
                    json=_report(f"locked-{i}", [100.0 + i]),
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=LOCKED_ANSWER_TIMEOUT_S,
                )
            )
        except Exception as exc:
            answers.append(exc)

    try:
        lock.execute("BEGIN EXCLUSIVE")
        posts = [threading.Thread(target=post, args=(i,)) for i in range(LOCKED_POSTS)]
        for t in posts:
            t.start()
        for t in posts:
            t.join(LOCKED_ANSWER_TIMEOUT_S + 10)
        # Still up while the lock holds: liveness answers.
        assert httpx.get(f"{bridge.url}/healthz", timeout=30).status_code == 200
    finally:
        if lock.in_transaction:
            lock.rollback()
        lock.close()

    statuses = [a.status_code if isinstance(a, httpx.Response) else repr(a) for a in answers]
    assert len(statuses) == LOCKED_POSTS
    assert all(isinstance(s, int) and s >= 500 for s in statuses), statuses
    _until_stored(bridge.url, key, 2.0)
    assert sorted(_stored_values(admin_api, sensor_id)) == [1.0, 2.0]


@contextlib.contextmanager
def _tmpfs(path: Path) -> Iterator[Path]:
    """A tmpfs of TMPFS_SIZE mounted on `path` (root only): failing loudly, never skipping."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(path)],
        check=True,
        capture_output=True,
    )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


@pytest.fixture
def full_disk_bridge(tmp_path: Path) -> Iterator[Bridge]:
    with _tmpfs(tmp_path / "data") as data:
        b = started_bridge(data)
        try:
            yield b
        finally:
            b.stop()


def _fill(path: Path) -> Path:
    """Fills the file system of `path` to the last block; the filler file."""
    filler = path / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (65_536, 512, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * chunk):
                    pass
    finally:
        os.close(fd)
    return filler


def test_ingest_on_a_full_disk_answers_an_error_and_recovers(full_disk_bridge: Bridge) -> None:
    """With the data dir's disk full, ingests get 5xx, every 2xx is stored, and ingest works
    again by itself once space returns."""
    bridge = full_disk_bridge
    api = Api(bridge.url, *ADMIN)
    try:
        key, sensor_id = _node(api, "full")
        filler = _fill(bridge.data_dir)
        acked: list[float] = []
        refused: list[int] = []
        for i in range(MAX_FILL_POSTS):
            values = [float(i * FILL_READINGS_PER_POST + j) for j in range(FILL_READINGS_PER_POST)]
            r = ingest(bridge.url, key, _report(f"fill-{i}", values))
            if r.status_code < 300:
                acked += values
            else:
                refused.append(r.status_code)
                if len(refused) >= 3:
                    break
        assert refused, "the disk never filled up"
        assert all(s >= 500 for s in refused), refused
        assert httpx.get(f"{bridge.url}/healthz", timeout=30).status_code == 200

        filler.unlink()
        _until_stored(bridge.url, key, -1.0)
        stored = _stored_values(api, sensor_id)
        assert set(acked) <= set(stored), "a 2xx ingest was not stored"
        assert len(stored) == len(set(stored)), "a reading was stored twice"
    finally:
        api.close()
