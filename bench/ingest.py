"""Ingest benchmark: sustained readings/s and ack latency of `POST /api/v1/ingest`.

Not a test: it prints figures and judges them against the goals below; it never fails a
build. Every ack it counts is a 200, which the bridge sends only after a durable commit
(SQLite in WAL mode, synchronous=FULL unless FARMBRIDGE_SQLITE_SYNCHRONOUS says otherwise).

Scenarios (each a fixed number of seconds after a short warm-up):

- ``single``: every request carries one reading;
- ``batch``: every request carries ``--batch-size`` readings (100 by default).

By default the script starts its own bridge (``python -m farmbridge serve``) on a free
loopback port with a throw-away data dir, pins it to the first CPU it may use, and runs
the load generators (aiohttp, keep-alive, ``--concurrency`` requests in flight in all)
as separate processes pinned to the other CPUs. It creates an admin, a farm and
``--devices`` devices (enough that the per-device rate limit of 500 requests/s is never
reached: the limit counts requests, not readings). With ``--url`` it targets a bridge
that is already running instead (loopback only), logging in as ``--admin-user``; it then
creates a farm named ``bench-...`` with its devices there and leaves them behind.

Usage (from the project root)::

    .venv/bin/python bench/ingest.py                  # both scenarios, 10 s each
    .venv/bin/python bench/ingest.py --quick          # 2 s each: does it run?
    .venv/bin/python bench/ingest.py --repeat 3 --commit-window-ms 0,1,2
    .venv/bin/python bench/ingest.py --url http://127.0.0.1:8000 \\
        --admin-user admin --admin-password '...'

Per scenario it prints requests/s, readings/s, ack latency p50/p90/p99/max in ms
(measured by the client per request, from send to the full response), errors by status,
the bridge's CPU % (of one core; "loop" is its main thread, "other" the writer and
thread pool) and RSS, the client's CPU %, and the group-commit factor (write jobs per
transaction, i.e. per fsync) read from the bridge's /metrics gauges, which it refreshes
once a second. It also shows how much CPU other processes took meanwhile: anything
else running skews the figures, so before each scenario it waits (``--quiet-wait``) for
the machine to be quiet, and repeats (``--retries``) a run during which other processes
used more than ``--max-other-cpu`` % of a core. With ``--repeat N`` each configuration
runs N times, interleaved, and the summary quotes the median of the runs (``bg cpu`` is
the other processes' share). ``--json FILE`` also writes every run.

The bridge comes from the installed package (an editable install follows the work tree);
``--src DIR`` runs it from another copy instead, for instance a snapshot made with
``git archive HEAD | tar -x -C /tmp/snap`` and ``--src /tmp/snap/src``, so that edits in
progress do not change the code under test, or to compare two versions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing as mp
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
import orjson
import psutil

GOAL_SINGLE_REQ_S = 2_000
GOAL_BATCH_READINGS_S = 50_000
GOAL_P99_MS = 50.0

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
SERVER_READY_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 30.0
WORKER_READY_TIMEOUT_S = 60.0
MAX_REQUESTS_PER_SLOT = 5_000_000
"""A hard bound on each in-flight slot's loop, whatever the clock does."""
BRIDGE = (sys.executable, "-m", "farmbridge")
SENSOR = {"name": "temp", "unit": "C", "min": -50, "max": 100}


# The load generator (runs in child processes).


@dataclass
class WorkerResult:
    latencies_ms: list[float]
    ok: int
    statuses: dict[str, int]
    errors: dict[str, int]
    cpu_s: float
    late: int


def _pin(cpus: set[int] | None) -> None:
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)


def _worker(
    index: int,
    url: str,
    keys: list[str],
    slots: int,
    batch: int,
    cpus: set[int] | None,
    conn: Connection,
) -> None:
    """One load-generator process: `slots` coroutines, each with one request in flight."""
    _pin(cpus)
    try:
        result = asyncio.run(_drive(index, url, keys, slots, batch, conn))
        conn.send(("result", asdict(result)))
    except Exception as exc:  # reported to the parent, which prints it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


async def _drive(
    index: int, url: str, keys: list[str], slots: int, batch: int, conn: Connection
) -> WorkerResult:
    endpoint = f"{url}/api/v1/ingest"
    tag = secrets.token_hex(4)
    rng = random.Random(index)
    lat = array("d")
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    ok = 0
    late = 0
    cpu = [0.0, 0.0]

    connector = aiohttp.TCPConnector(limit=slots, limit_per_host=slots, keepalive_timeout=60)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        # Open the keep-alive connections before the clock starts.
        async def touch() -> None:
            async with session.get(f"{url}/healthz") as r:
                await r.read()

        await asyncio.gather(*(touch() for _ in range(slots)))
        conn.send(("ready", None))
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, conn.poll, WORKER_READY_TIMEOUT_S):
            raise RuntimeError("no start signal from the parent")
        start, measure, end = conn.recv()

        async def clock() -> None:
            await asyncio.sleep(max(0.0, measure - time.monotonic()))
            cpu[0] = time.process_time()
            await asyncio.sleep(max(0.0, end - time.monotonic()))
            cpu[1] = time.process_time()

        async def slot(s: int) -> None:
            nonlocal ok, late
            key = keys[s % len(keys)]
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            await asyncio.sleep(max(0.0, start - time.monotonic()))
            for n in range(MAX_REQUESTS_PER_SLOT):
                if time.monotonic() >= end:
                    break
                now_ms = time.time_ns() // 1_000_000
                readings = [
                    {
                        "sensor": "temp",
                        "value": round(rng.uniform(15.0, 30.0), 2),
                        "ts": now_ms - (batch - 1 - i) * 10,
                    }
                    for i in range(batch)
                ]
                body = orjson.dumps({"message_id": f"{tag}-{s}-{n}", "readings": readings})
                status = None
                t0 = time.monotonic()
                try:
                    async with session.post(endpoint, data=body, headers=headers) as resp:
                        await resp.read()
                        status = resp.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    error = type(exc).__name__
                else:
                    error = None
                t1 = time.monotonic()
                if not measure <= t1 < end:
                    if t1 >= end:
                        late += 1
                    if error is not None:
                        await asyncio.sleep(0.01)
                    continue
                if error is not None:
                    errors[error] += 1
                    await asyncio.sleep(0.01)  # do not spin on a refusing server
                elif status == 200:
                    ok += 1
                    lat.append((t1 - t0) * 1000.0)
                else:
                    statuses[str(status)] += 1

        await asyncio.gather(clock(), *(slot(s) for s in range(slots)))
    return WorkerResult(list(lat), ok, dict(statuses), dict(errors), cpu[1] - cpu[0], late)


# The bridge under test.


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pin_process(pid: int, cpus: set[int]) -> None:
    """Pins every thread of `pid` (threads started later inherit it from their creator)."""
    with contextlib.suppress(psutil.Error, OSError):
        for t in psutil.Process(pid).threads():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(t.id, cpus)


class LocalBridge:
    """A `farmbridge serve` subprocess on loopback with its own data dir."""

    def __init__(
        self, env: dict[str, str], cpus: set[int] | None, keep: bool, src: Path | None
    ) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="farmbridge-bench-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.cpus = cpus
        self.keep = keep
        self.src = src
        self.user = "admin"
        self.password = secrets.token_urlsafe(18)
        self.proc: subprocess.Popen[bytes] | None = None

    def _env(self) -> dict[str, str]:
        env = {**os.environ, "FARMBRIDGE_LOG_LEVEL": "warning", **self.env}
        if self.src is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(self.src), os.environ.get("PYTHONPATH", "")) if p
            )
        return env

    def start(self) -> None:
        made = subprocess.run(
            [*BRIDGE, "users", "create", self.user, "--admin", "--data-dir", str(self.data_dir)],
            input=f"{self.password}\n".encode(),
            env=self._env(),
            cwd=self.data_dir,
            check=False,
            capture_output=True,
            timeout=120,
        )
        if made.returncode != 0:
            err = (made.stderr or made.stdout).decode(errors="replace")[-4000:]
            raise RuntimeError(
                f"`farmbridge users create` failed (exit status {made.returncode}):\n{err}"
            )
        log = (self.data_dir / "server.log").open("ab")
        serve = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [*BRIDGE, *serve, "--data-dir", str(self.data_dir)],
            env=self._env(),
            cwd=self.data_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        if self.cpus:
            pin_process(self.proc.pid, self.cpus)
        deadline = time.monotonic() + SERVER_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bridge exited:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError(f"bridge did not become ready:\n{self.log_tail()}")
        if self.cpus:
            pin_process(self.proc.pid, self.cpus)

    def log_tail(self) -> str:
        path = self.data_dir / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)
        self.proc = None
        if not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def find_listener(port: int) -> int | None:
    """The pid listening on a loopback port, if this user may see it."""
    with contextlib.suppress(psutil.Error, OSError):
        for c in psutil.net_connections(kind="tcp"):
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
                return int(c.pid)
    return None


def setup_devices(url: str, user: str, password: str, count: int) -> list[str]:
    """Creates a farm and `count` devices with one sensor `temp`; returns their keys."""
    with httpx.Client(base_url=url, timeout=30) as http:
        r = http.post("/api/v1/auth/token", data={"username": user, "password": password})
        r.raise_for_status()
        http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        r = http.post("/api/v1/farms", json={"name": f"bench-{secrets.token_hex(4)}"})
        r.raise_for_status()
        farm_id = r.json()["id"]
        keys = []
        for i in range(count):
            r = http.post(
                f"/api/v1/farms/{farm_id}/devices",
                json={"name": f"node-{i:03d}", "kind": "sensor_node", "sensors": [SENSOR]},
            )
            r.raise_for_status()
            keys.append(r.json()["key"])
        return keys


_METRIC = re.compile(r"^(farmbridge_[a-z_]+)(\{[^}]*\})? ([0-9.eE+-]+)$", re.MULTILINE)


def scrape(url: str) -> dict[str, float]:
    """Sums each farmbridge_* series of /metrics over its labels; {} if it does not answer."""
    try:
        text = httpx.get(f"{url}/metrics", timeout=5).text
    except httpx.HTTPError:
        return {}
    out: dict[str, float] = {}
    for name, labels, value in _METRIC.findall(text):
        if name.startswith("farmbridge_ingest_items_total") and 'kind="reading"' not in labels:
            continue
        out[name] = out.get(name, 0.0) + float(value)
    return out


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy since boot."""
    t = psutil.cpu_times()
    # guest time is counted in user time already; steal is time this VM did not get.
    skip = ("idle", "iowait", "steal", "guest", "guest_nice")
    return float(sum(getattr(t, f) for f in t._fields if f not in skip))


def wait_quiet(max_pct: float, limit_s: float, need_s: int = 3) -> float:
    """Waits (at most `limit_s`) for `need_s` seconds in a row under `max_pct` % of a core busy.

    Returns the busy share seen last; the bench's own idle bridge counts too, a little.
    """
    deadline = time.monotonic() + limit_s
    pct, quiet = 0.0, 0
    for _ in range(int(limit_s) + 1):
        b0, t0 = busy_cpu_s(), time.monotonic()
        time.sleep(1.0)
        pct = 100 * (busy_cpu_s() - b0) / (time.monotonic() - t0)
        quiet = quiet + 1 if pct < max_pct else 0
        if quiet >= need_s or time.monotonic() >= deadline:
            break
    return pct


@dataclass
class CpuSample:
    at: float
    total: float
    main: float


def cpu_sample(pid: int | None) -> CpuSample | None:
    if pid is None:
        return None
    try:
        p = psutil.Process(pid)
        with p.oneshot():
            t = p.cpu_times()
            main = next((th.user_time + th.system_time for th in p.threads() if th.id == pid), 0.0)
        return CpuSample(time.monotonic(), t.user + t.system, main)
    except psutil.Error:
        return None


def rss_mb(pid: int | None) -> float | None:
    try:
        return psutil.Process(pid).memory_info().rss / 2**20 if pid else None
    except psutil.Error:
        return None


# One scenario.


@dataclass
class Run:
    config: str
    scenario: str
    batch: int
    seconds: float
    requests: int
    req_s: float
    readings_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    server_cpu: float | None = None
    server_loop_cpu: float | None = None
    server_rss_mb: float | None = None
    client_cpu: float | None = None
    jobs_per_group: float | None = None
    groups_s: float | None = None
    server_commit_ms: float | None = None
    server_readings: float | None = None
    other_cpu: float | None = None


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (nan when empty)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def run_scenario(
    *,
    config: str,
    scenario: str,
    url: str,
    keys: list[str],
    batch: int,
    concurrency: int,
    clients: int,
    warmup: float,
    seconds: float,
    client_cpus: set[int] | None,
    server_pid: int | None,
) -> Run:
    ctx = mp.get_context("spawn")
    per = [concurrency // clients + (1 if i < concurrency % clients else 0) for i in range(clients)]
    workers: list[tuple[Any, Connection]] = []
    offset = 0
    for i, slots in enumerate(per):
        parent_end, child_end = ctx.Pipe()
        # Each process gets its own devices, so no two slots share one unless asked to.
        wkeys = [keys[(offset + s) % len(keys)] for s in range(slots)]
        offset += slots
        p = ctx.Process(
            target=_worker,
            args=(i, url, wkeys, slots, batch, client_cpus, child_end),
            daemon=True,
        )
        p.start()
        child_end.close()
        workers.append((p, parent_end))
    try:
        for p, c in workers:
            if not c.poll(WORKER_READY_TIMEOUT_S):
                raise RuntimeError(f"load generator {p.pid} did not get ready")
            kind, payload = c.recv()
            if kind != "ready":
                raise RuntimeError(f"load generator failed: {payload}")
        start = time.monotonic() + 0.2
        measure = start + warmup
        end = measure + seconds
        for _, c in workers:
            c.send((start, measure, end))

        time.sleep(max(0.0, measure - time.monotonic()))
        busy0, cpu0, m0 = busy_cpu_s(), cpu_sample(server_pid), scrape(url)
        time.sleep(max(0.0, end - time.monotonic()))
        busy1, cpu1, m1 = busy_cpu_s(), cpu_sample(server_pid), scrape(url)
        rss = rss_mb(server_pid)

        results: list[WorkerResult] = []
        for p, c in workers:
            if not c.poll(REQUEST_TIMEOUT_S + 30):
                raise RuntimeError(f"load generator {p.pid} sent no result")
            kind, payload = c.recv()
            if kind != "result":
                raise RuntimeError(f"load generator failed: {payload}")
            results.append(WorkerResult(**payload))
    finally:
        for p, c in workers:
            p.join(10)
            if p.is_alive():
                p.terminate()
                p.join(5)
            c.close()

    lat = sorted(x for r in results for x in r.latencies_ms)
    ok = sum(r.ok for r in results)
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for r in results:
        statuses.update(r.statuses)
        errors.update(r.errors)
    run = Run(
        config=config,
        scenario=scenario,
        batch=batch,
        seconds=seconds,
        requests=ok,
        req_s=ok / seconds,
        readings_s=ok * batch / seconds,
        p50_ms=percentile(lat, 50),
        p90_ms=percentile(lat, 90),
        p99_ms=percentile(lat, 99),
        max_ms=lat[-1] if lat else float("nan"),
        statuses=dict(statuses),
        errors=dict(errors),
        server_rss_mb=rss,
        client_cpu=100 * sum(r.cpu_s for r in results) / seconds,
    )
    if cpu0 and cpu1:
        span = cpu1.at - cpu0.at
        run.server_cpu = 100 * (cpu1.total - cpu0.total) / span
        run.server_loop_cpu = 100 * (cpu1.main - cpu0.main) / span
        # Whatever else ran meanwhile (tests, builds) skews the figures: show it.
        run.other_cpu = max(
            0.0, 100 * (busy1 - busy0) / span - run.server_cpu - (run.client_cpu or 0.0)
        )
    groups = m1.get("farmbridge_store_commit_groups", 0) - m0.get(
        "farmbridge_store_commit_groups", 0
    )
    jobs = m1.get("farmbridge_store_commit_jobs", 0) - m0.get("farmbridge_store_commit_jobs", 0)
    if groups > 0:
        run.jobs_per_group = jobs / groups
        run.groups_s = groups / seconds
    n = m1.get("farmbridge_ingest_commit_seconds_count", 0) - m0.get(
        "farmbridge_ingest_commit_seconds_count", 0
    )
    if n > 0:
        total = m1["farmbridge_ingest_commit_seconds_sum"] - m0.get(
            "farmbridge_ingest_commit_seconds_sum", 0
        )
        run.server_commit_ms = 1000 * total / n
    if "farmbridge_ingest_items_total" in m1:
        run.server_readings = (
            m1["farmbridge_ingest_items_total"] - m0.get("farmbridge_ingest_items_total", 0)
        ) / seconds
    return run


# Reporting.


def _f(value: float | None, fmt: str) -> str:
    return "-" if value is None or value != value else format(value, fmt)


def print_run(run: Run) -> None:
    bad = {**run.statuses, **run.errors}
    print(
        f"  {run.config:<10} {run.scenario:<9} {run.req_s:>9,.0f} req/s {run.readings_s:>10,.0f}"
        f" readings/s  p50 {run.p50_ms:6.2f}  p90 {run.p90_ms:6.2f}  p99 {run.p99_ms:6.2f}"
        f"  max {run.max_ms:7.2f} ms"
    )
    print(
        f"  {'':<10} {'':<9} errors {bad or 'none'}; server cpu {_f(run.server_cpu, '.0f')}%"
        f" (loop {_f(run.server_loop_cpu, '.0f')}%, other"
        f" {_f(_sub(run.server_cpu, run.server_loop_cpu), '.0f')}%)"
        f" rss {_f(run.server_rss_mb, '.0f')} MB; client cpu {_f(run.client_cpu, '.0f')}%;"
        f" jobs/fsync {_f(run.jobs_per_group, '.1f')} ({_f(run.groups_s, '.0f')} commits/s);"
        f" server arrival->commit mean {_f(run.server_commit_ms, '.2f')} ms;"
        f" other processes' cpu {_f(run.other_cpu, '.0f')}%",
        flush=True,
    )


def _sub(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _median(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None and v == v]
    return statistics.median(vals) if vals else None


def print_summary(runs: list[Run], repeat: int) -> None:
    groups: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.config, r.scenario), []).append(r)
    title = f"median of {repeat} runs" if repeat > 1 else "one run"
    print(f"\nSummary ({title}; latency in ms, CPU in % of one core)")
    head = (
        f"{'config':<10} {'scenario':<9} {'req/s':>9} {'readings/s':>11} {'p50':>7} {'p90':>7}"
        f" {'p99':>7} {'max':>8} {'errors':>6} {'srv cpu':>7} {'cli cpu':>7} {'jobs/fsync':>10}"
        f" {'bg cpu':>6}"
    )
    print(head)
    print("-" * len(head))
    for (config, scenario), rs in groups.items():
        med = {
            k: _median([getattr(r, k) for r in rs])
            for k in (
                "req_s",
                "readings_s",
                "p50_ms",
                "p90_ms",
                "p99_ms",
                "max_ms",
                "server_cpu",
                "client_cpu",
                "jobs_per_group",
                "other_cpu",
            )
        }
        errs = sum(sum(r.statuses.values()) + sum(r.errors.values()) for r in rs)
        print(
            f"{config:<10} {scenario:<9} {_f(med['req_s'], ',.0f'):>9}"
            f" {_f(med['readings_s'], ',.0f'):>11} {_f(med['p50_ms'], '.2f'):>7}"
            f" {_f(med['p90_ms'], '.2f'):>7} {_f(med['p99_ms'], '.2f'):>7}"
            f" {_f(med['max_ms'], '.1f'):>8} {errs:>6} {_f(med['server_cpu'], '.0f'):>7}"
            f" {_f(med['client_cpu'], '.0f'):>7} {_f(med['jobs_per_group'], '.1f'):>10}"
            f" {_f(med['other_cpu'], '.0f'):>6}"
        )
        p99 = med["p99_ms"]
        if scenario == "single" and med["req_s"] is not None:
            verdict = med["req_s"] >= GOAL_SINGLE_REQ_S and p99 is not None and p99 < GOAL_P99_MS
            goal = f">= {GOAL_SINGLE_REQ_S:,} req/s, p99 < {GOAL_P99_MS:.0f} ms"
        elif med["readings_s"] is not None:
            verdict = (
                med["readings_s"] >= GOAL_BATCH_READINGS_S and p99 is not None and p99 < GOAL_P99_MS
            )
            goal = f">= {GOAL_BATCH_READINGS_S:,} readings/s, p99 < {GOAL_P99_MS:.0f} ms"
        else:
            continue
        print(f"{'':<10} {'':<9} goal {goal}: {'met' if verdict else 'NOT met'}")


# Orchestration.


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Benchmark the bridge's HTTP ingest (durable acks).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--url", help="target a running bridge on loopback instead of starting one")
    ap.add_argument("--admin-user", default="admin", help="with --url: an admin's user name")
    ap.add_argument("--admin-password", help="with --url: that admin's password")
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per scenario")
    ap.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each")
    ap.add_argument("--quick", action="store_true", help="2 s per scenario, 0.5 s warm-up")
    ap.add_argument("--concurrency", type=int, default=64, help="requests in flight in all")
    ap.add_argument("--clients", type=int, default=1, help="load-generator processes")
    ap.add_argument("--devices", type=int, default=64, help="devices sending (one per slot)")
    ap.add_argument("--batch-size", type=int, default=100, help="readings per batch request")
    ap.add_argument(
        "--scenarios", default="single,batch", help="comma-separated: single and/or batch"
    )
    ap.add_argument(
        "--commit-window-ms",
        help="comma-separated FARMBRIDGE_COMMIT_WINDOW_MS values to compare side by side,"
        " one fresh bridge each (default: the bridge's own setting)",
    )
    ap.add_argument("--repeat", type=int, default=1, help="runs of each configuration")
    ap.add_argument(
        "--max-other-cpu",
        type=float,
        default=15.0,
        help="a run during which other processes used more CPU (%% of one core) is repeated",
    )
    ap.add_argument("--retries", type=int, default=3, help="repeats of such a noisy run")
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="seconds to wait at most for a quiet machine before each scenario",
    )
    ap.add_argument("--no-pin", action="store_true", help="do not pin bridge and clients to CPUs")
    ap.add_argument("--keep-data", action="store_true", help="keep the bridge's temp data dirs")
    ap.add_argument("--json", type=Path, help="also write every run to this JSON file")
    ap.add_argument(
        "--src",
        type=Path,
        help="run the bridge from this source dir (put on PYTHONPATH), e.g. a `git archive`"
        " snapshot's src/, instead of the installed package",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds, args.warmup = 2.0, 0.5
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if not scenarios or set(scenarios) - {"single", "batch"}:
        ap.error("--scenarios takes single and/or batch")
    args.scenarios = scenarios
    limits = {
        "--seconds": (args.seconds, 0.5, 600),
        "--warmup": (args.warmup, 0, 60),
        "--concurrency": (args.concurrency, 1, 4096),
        "--clients": (args.clients, 1, 64),
        "--devices": (args.devices, 1, 10_000),
        "--batch-size": (args.batch_size, 1, 5_000),
        "--repeat": (args.repeat, 1, 20),
        "--retries": (args.retries, 0, 10),
        "--quiet-wait": (args.quiet_wait, 0, 600),
        "--max-other-cpu": (args.max_other_cpu, 1, 400),
    }
    for name, (value, lo, hi) in limits.items():
        if not lo <= value <= hi:
            ap.error(f"{name} must be between {lo} and {hi}")
    if args.clients > args.concurrency:
        ap.error("--clients cannot exceed --concurrency")
    if args.src is not None:
        if args.url:
            ap.error("--src needs a bridge this script starts (no --url)")
        if not (args.src / "farmbridge" / "__init__.py").is_file():
            ap.error(f"--src: {args.src} holds no farmbridge package")
        args.src = args.src.resolve()
    if args.url:
        parts = urlsplit(args.url)
        if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS:
            ap.error("--url must be http:// on 127.0.0.1, localhost or ::1")
        if not args.admin_password:
            ap.error("--url needs --admin-password")
        if args.commit_window_ms:
            ap.error("--commit-window-ms needs a bridge this script starts (no --url)")
        args.url = args.url.rstrip("/")
    windows = [w.strip() for w in (args.commit_window_ms or "").split(",") if w.strip()]
    for w in windows:
        try:
            float(w)
        except ValueError:
            ap.error(f"--commit-window-ms: {w!r} is not a number")
    args.windows = windows or [None]
    return args


def plan_cpus(no_pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """(bridge CPUs, client CPUs): the first usable CPU for the bridge, the rest for clients."""
    if no_pin or not hasattr(os, "sched_getaffinity"):
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return {cpus[0]}, set(cpus[1:])


@contextlib.contextmanager
def bridge_for(
    args: argparse.Namespace, window: str | None, cpus: set[int] | None
) -> Iterator[tuple[str, str, str, int | None]]:
    if args.url:
        port = urlsplit(args.url).port or 80
        yield args.url, args.admin_user, args.admin_password, find_listener(port)
        return
    env = {} if window is None else {"FARMBRIDGE_COMMIT_WINDOW_MS": window}
    bridge = LocalBridge(env, cpus, args.keep_data, args.src)
    try:
        bridge.start()
        assert bridge.proc is not None
        yield bridge.url, bridge.user, bridge.password, bridge.proc.pid
    except BaseException:
        tail = bridge.log_tail()
        if tail:
            print(f"bridge log ({bridge.data_dir / 'server.log'}):\n{tail}", file=sys.stderr)
        raise
    finally:
        bridge.stop()


def describe_code(src: Path | None) -> str:
    """Where the bridge's code comes from, with its git commit when it is in a work tree."""
    env = {**os.environ}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    try:
        out = subprocess.run(
            [sys.executable, "-c", "import farmbridge; print(farmbridge.__file__)"],
            env=env,
            capture_output=True,
            check=True,
            timeout=60,
            text=True,
        ).stdout.strip()
    except (subprocess.SubprocessError, OSError):
        return "farmbridge not importable"
    where = Path(out).parent
    try:
        git = ["git", "-C", str(where)]
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "."], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (subprocess.SubprocessError, OSError):
        head = dirty = ""
    if not head:
        return str(where)
    return f"{where} (git {head}{', with uncommitted changes' if dirty else ''})"


def describe_machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs ({model}), Python {sys.version.split()[0]}"


def _terminate(signum: int, _frame: Any) -> None:
    print(f"\nstopped by signal {signum}; shutting the bridge down", file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)  # unwinds, so the bridge is stopped and its data removed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    server_cpus, client_cpus = plan_cpus(args.no_pin)
    if client_cpus:
        _pin(client_cpus)  # keep this orchestrating process off the bridge's CPU too
    sync = os.environ.get("FARMBRIDGE_SQLITE_SYNCHRONOUS", "FULL (default)")
    print(f"machine: {describe_machine()}")
    if not args.url:
        print(f"bridge code: {describe_code(args.src)}")
    print(
        f"target: {args.url or 'a bridge started here'}; sqlite synchronous {sync};"
        f" pinning: bridge {sorted(server_cpus) if server_cpus else '-'},"
        f" clients {sorted(client_cpus) if client_cpus else '-'}"
    )
    print(
        f"load: {args.concurrency} in flight over {args.clients} process(es),"
        f" {args.devices} devices, batch {args.batch_size}; {args.warmup:g} s warm-up +"
        f" {args.seconds:g} s measured per scenario; {args.repeat} run(s) per configuration\n",
        flush=True,
    )
    runs: list[Run] = []
    for rep in range(args.repeat):
        for window in args.windows:
            config = "default" if window is None else f"window={window}"
            print(f"run {rep + 1}/{args.repeat}, {config}", flush=True)
            with bridge_for(args, window, server_cpus) as (url, user, password, pid):
                keys = setup_devices(url, user, password, args.devices)
                for scenario in args.scenarios:
                    for attempt in range(args.retries + 1):
                        busy = wait_quiet(args.max_other_cpu, args.quiet_wait)
                        if busy >= args.max_other_cpu:
                            print(f"  (machine not quiet: {busy:.0f}% of a core busy; running)")
                        run = run_scenario(
                            config=config,
                            scenario=scenario,
                            url=url,
                            keys=keys,
                            batch=1 if scenario == "single" else args.batch_size,
                            concurrency=args.concurrency,
                            clients=args.clients,
                            warmup=args.warmup,
                            seconds=args.seconds,
                            client_cpus=client_cpus,
                            server_pid=pid,
                        )
                        print_run(run)
                        noisy = run.other_cpu is not None and run.other_cpu > args.max_other_cpu
                        if not noisy or attempt == args.retries:
                            break
                        print(f"  discarded: other processes used {run.other_cpu:.0f}% CPU")
                    runs.append(run)
    print_summary(runs, args.repeat)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
