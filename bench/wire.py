"""Wire cost of the live stream: bytes per reading, lone and batched, with and without
permessage-deflate, and the bridge's CPU for each.

One farm, one device of 10 sensors, C WebSocket clients subscribed to its readings. The
device sends reports of 1, 10 and 100 readings one after another (each acked and a pause
before the next, so each report is a frame of its own). Counted at the clients' sockets
(bench/wiretap.py): TCP payload per reading (WebSocket framing included), and the wire
with IPv4 + TCP headers of every segment both ways (the clients' ACKs too), MSS capped at
Ethernet's. The JSON size is what the client decoded (before any compression). The
bridge's CPU covers the ingest of the reports and the fan-out to every client.

The switch is `FARMBRIDGE_WS_PER_MESSAGE_DEFLATE` (off by default; uvicorn's
`ws_per_message_deflate`): the clients offer permessage-deflate as browsers do, and the
bridge accepts it only when the switch is on.

    python -m bench.wire          # 100 clients
    python -m bench.wire --ci     # 10 clients
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

from bench.harness import Admin, Bridge, process_meter
from bench.result import cell, main, result, table
from bench.wiretap import Tap, open_socket
from bench.workload import BRIDGE_ENV, SERVER_CPU, Device, make_farms

BATCHES: Final = (1, 10, 100)
PAUSE_S: Final = 0.03
"""Between reports: longer than the hub's 5 ms tick, so reports do not share a frame."""
DRAIN_TIMEOUT_S: Final = 30.0
SENSORS: Final = 10
"""A device's sensors; a batch of 100 holds each sensor's last 10 readings, 1 ms apart."""


@dataclass(frozen=True)
class Size:
    clients: int
    reports: dict[int, int]
    """Reports per batch size."""


SIZES: Final = {
    "full": Size(100, {1: 300, 10: 100, 100: 30}),
    "ci": Size(10, {1: 40, 10: 15, 100: 5}),
}


@dataclass
class Client:
    ws: ClientConnection
    readings: int = 0
    frames: int = 0
    json_bytes: int = 0
    deflate: bool = False
    task: asyncio.Task[None] | None = None
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)

    async def read(self) -> None:
        async for raw in self.ws:
            data = orjson.loads(raw)
            msgs = data if isinstance(data, list) else (data,)
            if any(m["type"] == "batch" for m in msgs):
                self.frames += 1
                self.json_bytes += len(raw)
            for m in msgs:
                kind = m["type"]
                if kind == "batch":
                    self.readings += len(m.get("r", ()))
                elif kind == "subscribed":
                    self.subscribed.set()
                elif kind == "ping":
                    await self.ws.send('{"type":"pong"}')


@dataclass
class Cost:
    deflate: bool
    batch: int
    readings: int
    clients: int
    wire: float
    """Wire bytes per reading per client, both ways, headers included."""
    payload: float
    """TCP payload bytes per reading per client, server to client (WebSocket frames)."""
    json: float
    """JSON bytes per reading, as decoded."""
    per_frame: float
    cpu_s: float
    negotiated: bool

    @property
    def deliveries(self) -> int:
        return self.readings * self.clients

    @property
    def cpu_us_per_delivery(self) -> float:
        return 1e6 * self.cpu_s / self.deliveries

    @property
    def cpu_s_per_mb(self) -> float:
        """Bridge CPU seconds per MB of JSON delivered (before compression)."""
        return self.cpu_s / (self.json * self.deliveries / 1e6)


async def _clients(url: str, port: int, token: str, farm: int, n: int, tap: Tap) -> list[Client]:
    out = []
    for _ in range(n):
        sock = await open_socket("127.0.0.1", port)
        tap.add(sock)
        ws = await connect(url, sock=sock, ping_interval=None, max_size=None)
        ext = ws.response.headers.get("Sec-WebSocket-Extensions", "") if ws.response else ""
        c = Client(ws, deflate="permessage-deflate" in ext)
        c.task = asyncio.create_task(c.read())
        await ws.send(orjson.dumps({"type": "auth", "token": token}).decode())
        await ws.send(
            orjson.dumps({"type": "subscribe", "farm": farm, "topics": ["readings"]}).decode()
        )
        out.append(c)
    await asyncio.wait_for(asyncio.gather(*(c.subscribed.wait() for c in out)), 60)
    return out


async def _measure(deflate: bool, size: Size) -> list[Cost]:
    env = {**BRIDGE_ENV, "FARMBRIDGE_WS_PER_MESSAGE_DEFLATE": "true" if deflate else "false"}
    costs = []
    with Bridge(env=env, cpu=SERVER_CPU) as bridge:
        assert bridge.proc is not None
        admin = Admin(bridge.url)
        (farm,) = make_farms(admin, farms=1, devices=1, sensors=SENSORS, prefix="wire")
        token = admin.token
        admin.close()
        device: Device = farm.devices[0]
        names = [n for n, _ in device.sensors]
        tap = Tap()
        ws_url = bridge.url.replace("http", "ws") + "/ws"
        clients = await _clients(ws_url, bridge.port, token, farm.id, size.clients, tap)
        headers = {"Authorization": f"Bearer {device.key}"}
        async with httpx.AsyncClient(base_url=bridge.url, headers=headers, timeout=30) as http:
            # One report first, so the device's first status change is out of the way.
            (
                await http.post("/api/v1/ingest", json={"sensor": names[0], "value": 1})
            ).raise_for_status()
            await asyncio.sleep(0.5)
            for batch in BATCHES:
                reports = size.reports[batch]
                r0 = [c.readings for c in clients]
                f0 = sum(c.frames for c in clients)
                j0 = sum(c.json_bytes for c in clients)
                tap.mark()
                with process_meter(bridge.proc.pid) as cpu:
                    t0 = time.monotonic()
                    for i in range(reports):
                        ts = time.time_ns() // 1_000_000
                        body = {
                            "readings": [
                                {
                                    "sensor": names[j % SENSORS],
                                    "value": 20 + (i + j) % 97 / 10,
                                    "ts": ts - j // SENSORS,
                                }
                                for j in range(batch)
                            ]
                        }
                        (await http.post("/api/v1/ingest", json=body)).raise_for_status()
                        await asyncio.sleep(PAUSE_S)
                    want = reports * batch
                    while any(c.readings - r < want for c, r in zip(clients, r0, strict=True)):
                        if time.monotonic() - t0 > DRAIN_TIMEOUT_S:
                            raise RuntimeError("clients did not get every reading")
                        await asyncio.sleep(0.01)
                    busy_s = time.monotonic() - t0
                await asyncio.sleep(0.3)  # the clients' last ACKs
                wire = tap.read()
                deliveries = want * len(clients)
                frames = sum(c.frames for c in clients) - f0
                costs.append(
                    Cost(
                        deflate=deflate,
                        batch=batch,
                        readings=want,
                        clients=len(clients),
                        wire=wire.wire / deliveries,
                        payload=wire.received / deliveries,
                        json=(sum(c.json_bytes for c in clients) - j0) / deliveries,
                        per_frame=deliveries / max(1, frames),
                        cpu_s=cpu["cpu_pct"] / 100 * busy_s,
                        negotiated=all(c.deflate for c in clients),
                    )
                )
        for c in clients:
            await c.ws.close()
            if c.task is not None:
                c.task.cancel()
    return costs


def run(size: str) -> dict[str, Any]:
    """Measures ("ci" or "full") and returns the suite's result dict."""
    sz = SIZES[size]
    costs = [c for deflate in (False, True) for c in asyncio.run(_measure(deflate, sz))]
    rows = []
    figures: dict[str, float] = {}
    for c in costs:
        mode = "deflate" if c.deflate else "plain"
        rows.append(
            [
                f"{c.batch}",
                mode + ("" if c.negotiated == c.deflate else " (not negotiated)"),
                cell(c.per_frame, 1),
                cell(c.json, 1),
                cell(c.payload, 1),
                cell(c.wire, 1),
                cell(c.cpu_us_per_delivery, 1),
                cell(c.cpu_s_per_mb, 2),
            ]
        )
        key = f"batch{c.batch}.{mode}"
        figures |= {
            f"{key}.json_bytes_per_reading": c.json,
            f"{key}.frame_bytes_per_reading": c.payload,
            f"{key}.wire_bytes_per_reading": c.wire,
            f"{key}.cpu_us_per_delivery": c.cpu_us_per_delivery,
            f"{key}.cpu_s_per_mb": c.cpu_s_per_mb,
        }
    by = {(c.deflate, c.batch): c for c in costs}
    verdicts = []
    for batch in BATCHES:
        plain, packed = by[(False, batch)], by[(True, batch)]
        saved = packed.wire / plain.wire - 1
        cpu = packed.cpu_us_per_delivery / plain.cpu_us_per_delivery - 1
        verdicts.append(
            f"{batch} reading(s) per frame: {plain.wire:,.0f} wire bytes per reading plain, "
            f"{packed.wire:,.0f} with permessage-deflate ({100 * saved:+.0f} %), "
            f"for {100 * cpu:+.0f} % bridge CPU per delivery"
        )
    negotiated = all(c.negotiated == c.deflate for c in costs)
    verdicts.append(
        "permessage-deflate is the bridge's FARMBRIDGE_WS_PER_MESSAGE_DEFLATE switch (off by "
        "default; uvicorn's ws_per_message_deflate): "
        + (
            "negotiated with every client when on, and never when off"
            if negotiated
            else "NOT negotiated as configured for some clients"
        )
    )
    plot_series: dict[str, list[list[Any]]] = {}
    for c in costs:
        label = "deflate" if c.deflate else "plain"
        plot_series.setdefault(label, []).append([f"{c.batch}/frame", c.wire])
    cpu_series: dict[str, list[list[Any]]] = {}
    for c in costs:
        label = "deflate" if c.deflate else "plain"
        cpu_series.setdefault(label, []).append([f"{c.batch}/frame", c.cpu_us_per_delivery])
    return result(
        "wire",
        "Wire cost per reading",
        tables=[
            table(
                f"{sz.clients} clients on one farm; per reading per client",
                [
                    "readings per report",
                    "compression",
                    "readings per frame",
                    "JSON bytes",
                    "frame bytes (TCP payload)",
                    "wire bytes (with TCP/IP, both ways)",
                    "bridge CPU us per delivery",
                    "bridge CPU s per MB of JSON",
                ],
                rows,
            )
        ],
        plots=[
            {
                "file": "wire-bytes.png",
                "title": "Wire bytes per reading per client",
                "kind": "bar",
                "xlabel": "readings per report",
                "ylabel": "bytes",
                "series": plot_series,
            },
            {
                "file": "wire-cpu.png",
                "title": "Bridge CPU per delivered reading",
                "kind": "bar",
                "xlabel": "readings per report",
                "ylabel": "microseconds",
                "series": cpu_series,
            },
        ],
        figures=figures,
        verdicts=verdicts,
        commands=["python -m bench.wire", "python -m bench.wire --ci"],
    )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main(run, __doc__ or "")
