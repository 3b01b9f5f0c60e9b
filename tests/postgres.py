"""A real PostgreSQL server on loopback, from Debian's packages, for the store's tests.

`initdb` and `pg_ctl` refuse to run as root, so as root the server runs as the `postgres`
user the Debian package creates, in a folder of its own. Tests get a database each, copied
from a template that already holds the migrated schema (`CREATE DATABASE ... TEMPLATE`
costs milliseconds; migrating costs a second).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import psycopg

READY_TIMEOUT_S: Final = 60.0
TEMPLATE_DB: Final = "farmbridge_template"


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError(
            "PostgreSQL is not installed: `make system` installs Debian's postgresql package"
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Postgres:
    """One server; `stop`/`start` it as often as a test likes (the data stays)."""

    port: int = field(default_factory=_free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fb-pg-")))
    bin_dir: Path = field(default_factory=_bin_dir)

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True)

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        # Durability of the machine is not under test here: fsync off makes the per-test
        # databases and the store's many small commits cheap on a shared CI disk.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.workdir} "
            "-c fsync=off -c full_page_writes=off -c max_connections=300"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.workdir / "log"),
            "-w", "-t", str(int(READY_TIMEOUT_S)), "start",
        )  # fmt: skip
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends sessions cleanly; `immediate` is the nearest to a crash pg_ctl has."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def execute(self, sql: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]  # test-made SQL, no user input

    def disconnect(self, database: str) -> None:
        """Ends every session on `database`, as a server-side failover or restart does."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (database,),
            )

    def make_template(self) -> None:
        """A database holding the migrated schema, the template of each test's own."""
        from farmbridge.store.dialect import build_engine
        from farmbridge.store.migrate import upgrade

        self.execute(f"CREATE DATABASE {TEMPLATE_DB}")
        engine = build_engine(self.url(TEMPLATE_DB))
        try:
            upgrade(engine)
        finally:
            engine.dispose()

    def new_database(self) -> str:
        """The URL of a fresh database with the schema in place."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
        return self.url(name)

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            self.stop("immediate")
        shutil.rmtree(self.workdir, ignore_errors=True)
