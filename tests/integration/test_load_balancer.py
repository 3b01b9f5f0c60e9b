"""The deployment's nginx in front of two bridge instances (docs/deployment.md), for real.

The shipped server blocks pass `nginx -t` on Debian's nginx; through the compose file's
block, dashboards and devices reach both instances with no sticky sessions, and when an
instance is SIGKILLed its dashboards reconnect through nginx and resume on the other with
nothing lost or twice, while devices that retry with their message id lose nothing either.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import ADMIN, unique
from tests.integration.api_client import Api
from tests.integration.nginx import ROOT, Nginx, with_upstreams
from tests.integration.test_instances_faults import Instances, instances  # noqa: F401
from tests.integration.test_resume import _assert_exact, _seqs, _subscribe
from tests.integration.ws_probe import Probe

pytestmark = pytest.mark.integration

CLIENTS: Final = 6
SEEN_BEFORE_KILL: Final = 50
RECV_TIMEOUT_S: Final = 20.0
WAIT_S: Final = 60.0
RETRY_STATUSES: Final = frozenset({502, 503, 504})


def _self_signed(work: Path) -> tuple[Path, Path]:
    cert, key = work / "cert.pem", work / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=farm.example", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_the_shipped_nginx_configurations_pass_nginx_t(tmp_path: Path) -> None:
    """deploy/nginx.conf (TLS, three instances) and the compose file's block, with their
    upstreams and certificates pointed at loopback and a test certificate."""
    cert, key = _self_signed(tmp_path)
    tls = (ROOT / "deploy" / "nginx.conf").read_text()
    tls = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", tls)
    tls = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", tls)
    compose = (ROOT / "deploy" / "nginx-compose.conf").read_text()
    for name, block in (("tls", tls), ("compose", compose)):
        nginx = Nginx(tmp_path / name, with_upstreams(block, [8001, 8002]))
        checked = nginx.test_config()
        assert checked.returncode == 0, f"{name}: {checked.stderr}"


class Device(threading.Thread):
    """Posts one reading at a time through nginx; an answer lost with an instance is sent
    again with the same message id, as the ingest API asks of devices."""

    def __init__(self, url: str, key: str) -> None:
        super().__init__(name="device", daemon=True)
        self.url, self.key = url, key
        self.acked: list[int] = []
        self.retries = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.url, timeout=30) as http:
                headers = {"Authorization": f"Bearer {self.key}"}
                i = 0
                while not self.stop.is_set():
                    body = {
                        "message_id": f"lb-{i}",
                        "readings": [
                            {
                                "sensor": "temp",
                                "value": float(i % 50),
                                "ts": time.time_ns() // 10**6,
                            }
                        ],
                    }
                    while True:
                        try:
                            r = http.post("/api/v1/ingest", json=body, headers=headers)
                        except httpx.TransportError:
                            r = None
                        if r is not None and r.status_code not in RETRY_STATUSES:
                            break
                        self.retries += 1
                        time.sleep(0.05)
                    assert r.status_code == 200, r.text
                    got = r.json()
                    if not got.get("duplicate"):
                        self.acked.extend(range(got["first_seq"], got["last_seq"] + 1))
                    i += 1
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc


async def _dashboard(
    url: str, token: str, farm_id: int, got: list[int], moved: list[int], done: asyncio.Event
) -> None:
    """Streams through nginx into `got` (the snapshot's seq first); when its instance dies,
    reconnects through nginx and resumes from the last seq it saw."""
    probe = await Probe.open(url)
    await probe.auth(token)
    answer, _ = await _subscribe(probe, farm_id, None, None)
    epoch = answer["epoch"]
    got.append(int(answer["seq"]))
    while not done.is_set():
        try:
            msg = await probe.recv(RECV_TIMEOUT_S)
        except (ConnectionClosed, TimeoutError):
            if done.is_set():
                break
            probe.ws.transport.abort()
            moved.append(id(got))
            probe = await Probe.open(url)
            await probe.auth(token)
            await _subscribe(probe, farm_id, got[-1], epoch)
            continue
        if msg["type"] == "batch":
            got.extend(_seqs(msg))
    await probe.close()


async def _until(cond: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not cond():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def test_through_nginx_an_instance_killed_loses_no_change_and_no_report(
    instances: Instances,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Dashboards and a device go through the compose file's nginx block to two instances;
    B is SIGKILLed mid-stream. The device's retried reports are stored once, ingest goes on
    through A, and every dashboard, moved or not, has each acknowledged seq once, in order."""
    block = (ROOT / "deploy" / "nginx-compose.conf").read_text()
    nginx = Nginx(tmp_path / "nginx", with_upstreams(block, [instances.a.port, instances.b.port]))
    nginx.start()
    try:
        api = Api(nginx.url, *ADMIN)
        farm = api.farm(unique("lb"))
        key = api.device(farm["id"], "node")["key"]
        streams: list[list[int]] = [[] for _ in range(CLIENTS)]
        moved: list[int] = []
        done = asyncio.Event()
        clients = [
            asyncio.create_task(_dashboard(nginx.url, api.token, farm["id"], got, moved, done))
            for got in streams
        ]
        device = Device(nginx.url, key)
        device.start()
        await _until(
            lambda: all(len(g) > SEEN_BEFORE_KILL for g in streams) or device.error is not None,
            "the dashboards saw too little before the kill",
        )
        assert device.error is None, device.error
        assert instances.b.proc is not None
        instances.b.proc.send_signal(signal.SIGKILL)
        instances.b.proc.wait(10)
        instances.b.proc = None
        floor = max(device.acked)
        await _until(
            lambda: max(device.acked) >= floor + 100 or device.error is not None,
            "ingest did not go on through A",
        )
        device.stop.set()
        await asyncio.to_thread(device.join, WAIT_S)
        assert device.error is None, device.error
        final = max(device.acked)
        assert sorted(device.acked) == list(range(min(device.acked), final + 1))
        await _until(
            lambda: all(g[-1] >= final for g in streams) or any(t.done() for t in clients),
            "a dashboard never got the last acknowledged change",
        )
        done.set()
        await asyncio.wait_for(asyncio.gather(*clients), WAIT_S)
        for got in streams:
            head, *rest = got
            _assert_exact(rest, head + 1)
            assert rest[-1] >= final
        assert moved, "no dashboard was on the killed instance: least_conn gave it none"
        print(f"{len(set(moved))} of {CLIENTS} dashboards moved; {device.retries} retried posts")
        api.close()
    finally:
        nginx.stop()
