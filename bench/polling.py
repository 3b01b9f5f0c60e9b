"""Polling versus streaming: one dashboard workload served by 5 s REST polling and by /ws.

D dashboards each watch a farm of 30 sensors (3 sensor nodes of 10, each node reporting
all its sensors in one report). For each reporting interval the same run has three
phases on one bridge with the same device load: devices only (the ingest baseline),
then the dashboards polling `GET /farms/{id}/snapshot` and `GET /farms/{id}/events`
every 5 s over one keep-alive connection each, with a browser's headers, then the
dashboards on the live stream (one WebSocket each, subscribed to their farm).

Bytes are counted at the dashboards' sockets (bench/wiretap.py: payload both ways with
HTTP and WebSocket framing, plus 52 bytes of IPv4 + TCP header per segment, either
direction, MSS capped at Ethernet's). Time is compressed by COMPRESSION: polling,
reporting and the bridge's heartbeat all run that many times faster, and every "per
minute" figure is divided back to real time. The delay from a reading to its appearance
is measured from the device's send (`ts`); for polling its wait for the next poll is
scaled back to real time, the request's own time is not. A poll shows only the latest
value per sensor: a reading overwritten before the next poll is counted as skipped.

    python -m bench.polling          # 50 dashboards; reporting every 5, 15, 30, 60 s
    python -m bench.polling --ci     # 5 dashboards; 5 and 60 s
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.harness import Admin, Bridge, percentile, process_meter
from bench.result import cell, main, result, table
from bench.wiretap import Tap, open_socket
from bench.workload import BRIDGE_ENV, SERVER_CPU, Acked, DeviceLoad, Farm, make_farms

POLL_S: Final = 5.0
HEARTBEAT_S: Final = 15.0
DEVICES_PER_FARM: Final = 3
SENSORS_PER_DEVICE: Final = 10
EVENTS_LIMIT: Final = 20
TRAFFIC_TARGET: Final = 0.90
LOAD_TARGET: Final = 0.80


@dataclass(frozen=True)
class Size:
    dashboards: int
    rates_s: tuple[float, ...]
    compression: float
    baseline_s: float
    window_s: float


SIZES: Final = {
    "full": Size(50, (5.0, 15.0, 30.0, 60.0), 5.0, 8.0, 20.0),
    "ci": Size(5, (5.0, 60.0), 10.0, 1.5, 3.0),
}

USER_AGENT: Final = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def _request(path: str, host: str, token: str) -> bytes:
    """A GET as a browser's fetch() sends it from a same-origin dashboard page."""
    return (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Connection: keep-alive\r\n"
        f"User-Agent: {USER_AGENT}\r\n"
        "Accept: application/json, text/plain, */*\r\n"
        f"Authorization: Bearer {token}\r\n"
        'sec-ch-ua: "Chromium";v="131", "Not_A Brand";v="24"\r\n'
        "sec-ch-ua-mobile: ?0\r\n"
        'sec-ch-ua-platform: "Linux"\r\n'
        "Sec-Fetch-Site: same-origin\r\n"
        "Sec-Fetch-Mode: cors\r\n"
        "Sec-Fetch-Dest: empty\r\n"
        f"Referer: http://{host}/farms\r\n"
        "Accept-Encoding: gzip, deflate, br, zstd\r\n"
        "Accept-Language: en-US,en;q=0.9\r\n"
        "\r\n"
    ).encode()


class HttpConnection:
    """One keep-alive HTTP/1.1 connection on a tapped socket; reopens when the server
    closes it (uvicorn drops a connection idle for 5 s)."""

    def __init__(self, host: str, port: int, tap: Tap) -> None:
        self.host, self.port, self.tap = host, port, tap
        self._io: tuple[asyncio.StreamReader, asyncio.StreamWriter, Any] | None = None
        self.gzip_saving = 0
        self.gzip_bodies = False
        """Also compress each body here, to estimate what a gzip-ing proxy would save."""

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Any]:
        if self._io is None:
            sock = await open_socket(self.host, self.port)
            self.tap.add(sock)
            reader, writer = await asyncio.open_connection(sock=sock)
            self._io = (reader, writer, sock)
        return self._io

    def close(self) -> None:
        if self._io is not None:
            _, writer, sock = self._io
            self.tap.retire(sock)
            writer.close()
            self._io = None

    async def get(self, request: bytes) -> bytes:
        for attempt in range(2):
            reader, writer, _ = await self._open()
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                close = False
                for line in head.split(b"\r\n")[1:]:
                    name, _, val = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(val)
                    elif name == b"connection" and val.strip().lower() == b"close":
                        close = True
                body = await reader.readexactly(length)
            except (asyncio.IncompleteReadError, ConnectionError):
                self.close()
                if attempt:
                    raise
                continue
            if close:
                self.close()
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"poll answered {head.split(b' ', 2)[1].decode()}")
            if self.gzip_bodies:
                self.gzip_saving += len(body) - len(gzip.compress(body, 6)) - 24
            return body
        raise AssertionError("unreachable")


@dataclass
class Dashboard:
    farm: Farm
    seen: list[tuple[float, float, int, int]] = field(default_factory=list)
    """(request start s, shown at s, sensor id, reading ts ms) per sensor per poll or frame."""
    count: int = 0
    """Requests (polling) or server frames (streaming)."""
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)


async def poll_dashboard(
    d: Dashboard, conn: HttpConnection, token: str, poll_s: float, phase_s: float, stop: Any
) -> None:
    host = f"{conn.host}:{conn.port}"
    snapshot = _request(f"/api/v1/farms/{d.farm.id}/snapshot", host, token)
    events = _request(f"/api/v1/farms/{d.farm.id}/events?limit={EVENTS_LIMIT}", host, token)
    start = time.monotonic() + phase_s
    n = 0
    try:
        while not stop.is_set():
            due = start + n * poll_s
            n += 1
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            t_req = time.time()
            snap = orjson.loads(await conn.get(snapshot))
            t_shown = time.time()
            await conn.get(events)
            d.count += 2
            for s in snap["sensors"]:
                if s["last_ts_ms"] is not None:
                    d.seen.append((t_req, t_shown, s["id"], s["last_ts_ms"]))
    finally:
        conn.close()


async def stream_dashboard(
    d: Dashboard, url: str, host: str, port: int, tap: Tap, token: str, stop: Any
) -> None:
    sock = await open_socket(host, port)
    tap.add(sock)
    try:
        async with connect(url, sock=sock, ping_interval=None, max_size=None) as ws:
            await ws.send(orjson.dumps({"type": "auth", "token": token}).decode())
            await ws.send(orjson.dumps({"type": "subscribe", "farm": d.farm.id}).decode())
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(decode=False), 0.5)
                except TimeoutError:
                    continue
                now = time.time()
                d.count += 1
                data = orjson.loads(raw)
                for m in data if isinstance(data, list) else (data,):
                    kind = m["type"]
                    if kind == "batch":
                        t0 = m["t0"]
                        d.seen.extend((now, now, r[1], t0 + r[3]) for r in m.get("r", ()))
                    elif kind == "ping":
                        await ws.send('{"type":"pong"}')
                    elif kind == "subscribed":
                        d.subscribed.set()
                    elif kind == "error":
                        raise RuntimeError(f"stream error: {m}")
            tap.retire(sock)
    except ConnectionClosed:
        tap.retire(sock)
        raise


@dataclass
class Delivery:
    shown: int = 0
    skipped: int = 0
    lost: int = 0
    delays_ms: list[float] = field(default_factory=list)


def resolve(
    dashboards: list[Dashboard],
    readings: dict[int, list[tuple[int, int]]],
    *,
    scale_wait: float,
) -> Delivery:
    """Matches what each dashboard showed against the readings sent in the window.

    `readings` holds each sensor's window readings' (ts, acked at), sorted. A reading is
    shown by the first poll (or frame) that carries its ts; one whose sensor showed a
    later ts first was skipped; one never reached is lost. The delay's wait for the poll
    (from the ingest ack to the poll's request) is multiplied by `scale_wait` (the time
    compression; 1 for streaming); the ingest and the request themselves are not.
    """
    out = Delivery()
    for d in dashboards:
        pos: dict[int, int] = defaultdict(int)
        for t_req, t_shown, sid, ts in sorted(d.seen):
            want = readings.get(sid)
            if not want:
                continue
            i = pos[sid]
            while i < len(want) and want[i][0] <= ts:
                if want[i][0] == ts:
                    acked_ms = want[i][1]
                    wait_ms = max(0.0, t_req * 1000 - acked_ms) * scale_wait
                    rest_ms = min(acked_ms, t_req * 1000) - ts + (t_shown - t_req) * 1000
                    out.delays_ms.append(max(0.0, wait_ms + rest_ms))
                    out.shown += 1
                else:
                    out.skipped += 1
                i += 1
            pos[sid] = i
        for sid in d.farm.sensor_ids:
            out.lost += len(readings.get(sid, ())) - pos.get(sid, 0)
    return out


def window_readings(
    farms: list[Farm], acked: list[Acked], t0_ms: float, t1_ms: float
) -> dict[int, list[tuple[int, int]]]:
    devices = [d for f in farms for d in f.devices]
    out: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for idx, ts, _, _, acked_ms in acked:
        if t0_ms <= ts < t1_ms:
            for _, sid in devices[idx].sensors:
                out[sid].append((ts, acked_ms))
    for v in out.values():
        v.sort()
    return out


@dataclass
class Phase:
    mode: str
    wire_bytes: float = 0.0
    payload_bytes: float = 0.0
    segments: float = 0.0
    count: float = 0.0
    cpu_s: float = 0.0
    gzip_saving: float = 0.0
    readings: int = 0
    delivery: Delivery = field(default_factory=Delivery)
    """Per real minute: bytes, segments, count, cpu_s, gzip_saving (all dashboards)."""


async def run_phase(
    mode: str, bridge: Bridge, farms: list[Farm], token: str, rate_s: float, size: Size
) -> Phase:
    assert bridge.proc is not None
    k = size.compression
    poll_s = POLL_S / k
    tap = Tap()
    stop = asyncio.Event()
    dashboards = [Dashboard(f) for f in farms]
    tasks: list[asyncio.Task[None]] = []
    conns: list[HttpConnection] = []
    if mode == "polling":
        for i, d in enumerate(dashboards):
            conn = HttpConnection("127.0.0.1", bridge.port, tap)
            conn.gzip_bodies = True
            conns.append(conn)
            phase_s = poll_s * i / len(dashboards)
            tasks.append(asyncio.create_task(poll_dashboard(d, conn, token, poll_s, phase_s, stop)))
    elif mode == "streaming":
        ws_url = bridge.url.replace("http", "ws") + "/ws"
        for d in dashboards:
            tasks.append(
                asyncio.create_task(
                    stream_dashboard(d, ws_url, "127.0.0.1", bridge.port, tap, token, stop)
                )
            )
        await asyncio.wait_for(asyncio.gather(*(d.subscribed.wait() for d in dashboards)), 60)
    window_s = size.baseline_s if mode == "baseline" else size.window_s
    load = DeviceLoad(
        bridge.url, [d for f in farms for d in f.devices], interval_s=rate_s / k
    ).start()
    try:
        await asyncio.sleep(poll_s + 0.5)
        for t in tasks:
            if t.done():
                t.result()
        tap.mark()
        count0 = sum(d.count for d in dashboards)
        saving0 = sum(c.gzip_saving for c in conns)
        t0 = time.time() * 1000
        with process_meter(bridge.proc.pid) as cpu:
            await asyncio.sleep(window_s)
        t1 = time.time() * 1000
        wire = tap.read()
        count = sum(d.count for d in dashboards) - count0
        saving = sum(c.gzip_saving for c in conns) - saving0
        await asyncio.sleep(poll_s + 0.5)
    finally:
        acked = load.stop()["acked"]
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    per_min = 60.0 / window_s / k
    readings = window_readings(farms, acked, t0, t1)
    scale = k if mode == "polling" else 1.0
    phase = Phase(
        mode,
        wire_bytes=wire.wire * per_min,
        payload_bytes=wire.payload * per_min,
        segments=wire.segments * per_min,
        count=count * per_min,
        cpu_s=cpu["cpu_pct"] / 100 * 60 / k,
        gzip_saving=saving * per_min,
        readings=sum(len(v) for v in readings.values()),
    )
    if mode != "baseline":
        phase.delivery = resolve(dashboards, readings, scale_wait=scale)
    return phase


async def _run(size: Size) -> dict[str, dict[str, Phase]]:
    env = {**BRIDGE_ENV, "FARMBRIDGE_WS_HEARTBEAT_S": f"{HEARTBEAT_S / size.compression:g}"}
    out: dict[str, dict[str, Phase]] = {}
    with Bridge(env=env, cpu=SERVER_CPU) as bridge:
        admin = Admin(bridge.url)
        farms = make_farms(
            admin,
            farms=size.dashboards,
            devices=DEVICES_PER_FARM,
            sensors=SENSORS_PER_DEVICE,
            prefix="dash",
        )
        token = admin.token
        admin.close()
        for rate_s in size.rates_s:
            out[f"{rate_s:g}"] = {
                mode: await run_phase(mode, bridge, farms, token, rate_s, size)
                for mode in ("baseline", "polling", "streaming")
            }
    return out


def _reduction(new: float, old: float) -> float:
    return 1.0 - new / old if old > 0 else float("nan")


def run(size: str) -> dict[str, Any]:
    """Runs the comparison ("ci" or "full") and returns the suite's result dict."""
    sz = SIZES[size]
    phases = asyncio.run(_run(sz))
    rows: list[list[Any]] = []
    figures: dict[str, float] = {}
    verdicts: list[str] = []
    bytes_series: dict[str, list[list[Any]]] = {"polling": [], "streaming": []}
    cpu_series: dict[str, list[list[Any]]] = {"polling": [], "streaming": [], "ingest only": []}
    red_series: dict[str, list[list[float]]] = {
        "traffic": [],
        "server CPU": [],
        "server CPU the dashboards add": [],
    }
    per_reading: list[float] = []
    for rate, by_mode in phases.items():
        base, poll, stream = by_mode["baseline"], by_mode["polling"], by_mode["streaming"]
        for p in (poll, stream):
            d = p.delivery
            delays = sorted(d.delays_ms)
            prefix = f"r{rate}s.{p.mode}"
            rows.append(
                [
                    f"{rate} s",
                    p.mode,
                    cell(p.wire_bytes / 1024),
                    cell(p.wire_bytes / 1024 / sz.dashboards, 2),
                    cell(p.count, 0),
                    cell(p.cpu_s, 2),
                    cell(p.cpu_s - base.cpu_s, 2),
                    cell(percentile(delays, 0.5), 0),
                    cell(percentile(delays, 0.99), 0),
                    f"{d.shown}/{d.skipped}/{d.lost}",
                ]
            )
            figures |= {
                f"{prefix}.wire_kib_per_min": p.wire_bytes / 1024,
                f"{prefix}.per_min": p.count,
                f"{prefix}.server_cpu_s_per_min": p.cpu_s,
                f"{prefix}.delay_p50_ms": percentile(delays, 0.5),
                f"{prefix}.delay_p99_ms": percentile(delays, 0.99),
                f"{prefix}.readings_shown": d.shown,
                f"{prefix}.readings_skipped": d.skipped,
                f"{prefix}.readings_lost": d.lost,
                f"{prefix}.readings_sent": p.readings,
            }
        traffic = _reduction(stream.wire_bytes, poll.wire_bytes)
        traffic_gz = _reduction(stream.wire_bytes, poll.wire_bytes - poll.gzip_saving)
        load = _reduction(stream.cpu_s, poll.cpu_s)
        added = _reduction(stream.cpu_s - base.cpu_s, poll.cpu_s - base.cpu_s)
        figures |= {
            f"r{rate}s.baseline.server_cpu_s_per_min": base.cpu_s,
            f"r{rate}s.traffic_reduction_pct": 100 * traffic,
            f"r{rate}s.traffic_reduction_vs_gzip_pct": 100 * traffic_gz,
            f"r{rate}s.load_reduction_pct": 100 * load,
            f"r{rate}s.added_load_reduction_pct": 100 * added,
        }
        x = float(rate)
        bytes_series["polling"].append([f"{rate} s", poll.wire_bytes / 1024])
        bytes_series["streaming"].append([f"{rate} s", stream.wire_bytes / 1024])
        cpu_series["polling"].append([f"{rate} s", poll.cpu_s])
        cpu_series["streaming"].append([f"{rate} s", stream.cpu_s])
        cpu_series["ingest only"].append([f"{rate} s", base.cpu_s])
        red_series["traffic"].append([x, 100 * traffic])
        red_series["server CPU"].append([x, 100 * load])
        red_series["server CPU the dashboards add"].append([x, 100 * added])
        if stream.readings:
            readings_per_min = stream.readings * 60 / sz.window_s / sz.compression
            per_reading.append(stream.wire_bytes / readings_per_min)
        verdicts.append(
            f"reporting every {rate} s: -90 % traffic {_holds(traffic, TRAFFIC_TARGET)} "
            f"({100 * -traffic:+.1f} %; {100 * -traffic_gz:+.1f} % against polling answers "
            f"gzip-ed by a proxy, an estimate), -80 % server load "
            f"{_holds(load, LOAD_TARGET)} ({100 * -load:+.1f} % of the bridge's whole CPU; "
            f"{_added(added)} of what the dashboards add over ingest alone)"
        )
    fastest = phases[f"{min(sz.rates_s):g}"]
    if per_reading:
        # Streaming grows with readings, polling does not: where streaming reaches 10 %
        # of polling's bytes, -90 % stops holding.
        cost = per_reading[0]
        budget = (1 - TRAFFIC_TARGET) * fastest["polling"].wire_bytes
        sensors = sz.dashboards * DEVICES_PER_FARM * SENSORS_PER_DEVICE
        readings_per_min = budget / cost
        interval = 60.0 * sensors / readings_per_min
        figures["traffic_breakeven_interval_s"] = interval
        verdicts.append(
            f"at about {cost:,.0f} wire bytes per streamed reading (sensor nodes of "
            f"{SENSORS_PER_DEVICE} reporting together), -90 % traffic needs sensors to "
            f"report no more often than every {interval:.1f} s against 5 s polling; "
            "sensors that each report alone cost more per reading (bench/wire.py) and "
            "move that point to slower reporting"
        )
    verdicts.append(
        f"time compressed {sz.compression:g}x (polls every {POLL_S / sz.compression:g} s, "
        "reporting and heartbeat scaled alike, per-minute figures divided back); the "
        "bridge's REST answers are not compressed (no gzip), the stream sends no "
        "permessage-deflate by default; each dashboard's connection and snapshot are "
        "opened before the window and not counted"
    )
    columns = [
        "reporting",
        "mode",
        "wire KiB/min",
        "KiB/min per dashboard",
        "requests or frames/min",
        "server CPU s/min",
        "CPU s/min over ingest",
        "delay p50 ms",
        "delay p99 ms",
        "shown/skipped/lost",
    ]
    return result(
        "polling",
        "Polling versus streaming",
        tables=[
            table(
                f"{sz.dashboards} dashboards, farms of {DEVICES_PER_FARM}x{SENSORS_PER_DEVICE} "
                f"sensors, polling every {POLL_S:g} s versus /ws (per real minute)",
                columns,
                rows,
            )
        ],
        plots=[
            {
                "file": "polling-bytes.png",
                "title": "Bytes on the wire per minute, all dashboards",
                "kind": "bar",
                "xlabel": "sensors report every",
                "ylabel": "KiB per minute",
                "series": bytes_series,
            },
            {
                "file": "polling-cpu.png",
                "title": "Bridge CPU per minute",
                "kind": "bar",
                "xlabel": "sensors report every",
                "ylabel": "CPU seconds per minute",
                "series": cpu_series,
            },
            {
                "file": "polling-reduction.png",
                "title": "Streaming against 5 s polling: reduction",
                "kind": "line",
                "xlabel": "reporting interval (s)",
                "ylabel": "reduction (%)",
                "series": red_series,
            },
        ],
        figures=figures,
        verdicts=verdicts,
        commands=["python -m bench.polling", "python -m bench.polling --ci"],
    )


def _added(reduction: float) -> str:
    if reduction > 0.98:  # streaming's share is within the noise of the ingest baseline
        return "about -100 % (the stream adds no CPU measurable over ingest)"
    return f"{100 * -reduction:+.1f} %"


def _holds(reduction: float, target: float) -> str:
    return "holds" if reduction >= target else "does NOT hold"


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main(run, __doc__ or "")
