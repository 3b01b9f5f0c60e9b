"""A real nginx (Debian's package) on loopback, run from a folder of the test's own.

The shipped configurations (deploy/nginx.conf, deploy/nginx-compose.conf) are server
blocks for `conf.d`; this wraps one in a main configuration with temp paths and points its
upstream at the test's bridges, so the test runs the shipped block, not a copy.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx

from tests.conftest import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
READY_TIMEOUT_S: Final = 15.0
ROOT = Path(__file__).resolve().parents[2]


def main_config(work: Path, server_block: str) -> str:
    temp = {n: work / n for n in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(parents=True, exist_ok=True)
    return "\n".join(
        [
            # As root the workers would drop to `nobody`, who cannot write the temp folders.
            *(["user root;"] if os.geteuid() == 0 else []),
            "daemon off;",
            "worker_processes 1;",
            f"pid {work / 'nginx.pid'};",
            f"error_log {work / 'error.log'} warn;",
            "events { worker_connections 1024; }",
            "http {",
            "    access_log off;",
            f"    client_body_temp_path {temp['body']};",
            f"    proxy_temp_path {temp['proxy']};",
            f"    fastcgi_temp_path {temp['fastcgi']};",
            f"    uwsgi_temp_path {temp['uwsgi']};",
            f"    scgi_temp_path {temp['scgi']};",
            server_block,
            "}",
        ]
    )


def with_upstreams(block: str, ports: list[int]) -> str:
    """`block` with its upstream's servers replaced by the bridges on `ports`."""
    servers = "".join(f"    server 127.0.0.1:{p} max_fails=2 fail_timeout=5s;\n" for p in ports)
    replaced, n = re.subn(
        r"(upstream farmbridge \{\n    least_conn;\n)(    server [^\n]+\n)+",
        lambda m: m.group(1) + servers,
        block,
    )
    assert n == 1, "the block has no upstream farmbridge of the expected shape"
    return replaced


@dataclass
class Nginx:
    work: Path
    server_block: str
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write(self) -> Path:
        self.work.mkdir(parents=True, exist_ok=True)
        block = re.sub(
            r"listen \d+( ssl http2)?;", rf"listen 127.0.0.1:{self.port}\1;", self.server_block
        )
        conf = self.work / "nginx.conf"
        conf.write_text(main_config(self.work, block))
        return conf

    def test_config(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [NGINX, "-t", "-p", str(self.work), "-c", str(self.write())],
            capture_output=True,
            text=True,
            check=False,
        )

    def start(self) -> None:
        conf = self.write()
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(self.work), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                httpx.get(f"{self.url}/healthz", timeout=2)
                return
            except httpx.TransportError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log = (self.work / "error.log").read_text(errors="replace")
                    raise RuntimeError(f"nginx did not start: {log}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
