"""A real Mosquitto broker on loopback, with persistence, for the MQTT tests and benchmarks."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Mosquitto:
    """`mosquitto -c` with a config in `workdir`; stop and start it as often as a test likes.

    Persistence is on with a 1 s autosave (the default saves every 30 minutes), so a
    restarted broker still holds its persistent sessions and their queued messages.
    `mounts` adds one listener per (port, mount point): a client there publishes
    `v1/devices/me/telemetry` and subscribers see `<mount>v1/devices/me/telemetry`.
    """

    workdir: Path
    port: int = field(default_factory=_free_port)
    ws_port: int | None = None
    mounts: dict[str, int] = field(default_factory=dict)
    # (port, CA file, certificate, key) of a TLS listener.
    tls: tuple[int, Path, Path, Path] | None = None
    # More lines at the end of the config (a bridge `connection` section).
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def mount(self, prefix: str) -> int:
        """A listener whose clients' topics appear under `prefix`; returns its port."""
        port = self.mounts.get(prefix)
        if port is None:
            port = self.mounts[prefix] = _free_port()
        return port

    def config(self) -> str:
        lines = [
            "persistence true",
            f"persistence_location {self.workdir}/",
            "autosave_interval 1",
            f"log_dest file {self.workdir}/mosquitto.log",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "per_listener_settings false",
            # Started as root, Mosquitto drops to its own user, which cannot write the
            # persistence file into a root-owned temp folder.
            *(["user root"] if os.geteuid() == 0 else []),
            "allow_anonymous true",
            # The bridge acknowledges after its durable commit, so the window of messages
            # in flight to it sets how many share one commit.
            "max_inflight_messages 200",
            "max_queued_messages 1000000",
            "max_queued_bytes 0",
            f"listener {self.port} 127.0.0.1",
        ]
        if self.ws_port is not None:
            lines += [f"listener {self.ws_port} 127.0.0.1", "protocol websockets"]
        if self.tls is not None:
            port, ca, cert, key = self.tls
            lines += [
                f"listener {port} 127.0.0.1",
                f"cafile {ca}",
                f"certfile {cert}",
                f"keyfile {key}",
            ]
        for prefix, port in self.mounts.items():
            lines += [f"listener {port} 127.0.0.1", f"mount_point {prefix}"]
        lines += self.extra
        return "\n".join(lines) + "\n"

    def enable_tls(self) -> tuple[str, Path]:
        """Makes a CA and a certificate for 127.0.0.1 with openssl and adds a TLS listener
        (call before start); returns its mqtts:// URL and the CA file."""
        d = self.workdir / "tls"
        d.mkdir(parents=True, exist_ok=True)

        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

        openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=farmbridge test CA",
        )
        openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        )
        (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
        openssl(
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        )
        port = _free_port()
        self.tls = (port, d / "ca.crt", d / "server.crt", d / "server.key")
        return f"mqtts://127.0.0.1:{port}", d / "ca.crt"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(self.config())
        out = self.workdir / "mosquitto.out"
        with out.open("ab") as sink:
            self.proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(conf)], stdout=sink, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {out.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()
