"""The raw floor of Python WebSocket fan-out: a bare `websockets` broadcast server.

No auth, no storage, no sequencing beyond a counter: clients send
`{"type": "subscribe", "farm": F}` and the server broadcasts generated readings of each
farm, in the bridge's batch format, with `websockets.broadcast`. bench/fanout.py runs
the same load against it and against the bridge, side by side.

    python bench/raw_broadcast.py --port 9000 --farms 100 --rate 1000 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections import defaultdict
from pathlib import Path

import orjson
from websockets.asyncio.server import ServerConnection, broadcast, serve

TICK_S = 0.001
ID_SCALE = 1000


def mark_started(path: Path) -> None:
    """The production's start (wall ms): bench/fanout.py's window starts from it."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(str(time.time() * 1000))
    tmp.replace(path)


def write_done(path: Path, seq: list[int]) -> None:
    """{farm: readings made}, renamed into place so a reader never sees half of it."""
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps({str(f): n for f, n in enumerate(seq) if n}))
    tmp.replace(path)


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--farms", type=int, required=True)
    p.add_argument("--rate", type=float, required=True, help="readings per second, all farms")
    p.add_argument("--seconds", type=float, required=True, help="stop producing after this")
    p.add_argument("--start-file", help="produce once this file exists")
    p.add_argument("--done-file", help="write {farm: readings made} here when done")
    args = p.parse_args()
    # Clients leave while broadcasts are in flight; their broken pipes are not news.
    for name in ("websockets", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    farms: dict[int, set[ServerConnection]] = defaultdict(set)

    async def handler(ws: ServerConnection) -> None:
        subscribed: list[int] = []
        try:
            async for raw in ws:
                msg = orjson.loads(raw)
                if msg.get("type") == "subscribe":
                    farms[msg["farm"]].add(ws)
                    subscribed.append(msg["farm"])
                    await ws.send(
                        orjson.dumps({"type": "subscribed", "farm": msg["farm"]}).decode()
                    )
        finally:
            for f in subscribed:
                farms[f].discard(ws)

    async with serve(handler, "127.0.0.1", args.port, ping_interval=None, compression=None):
        start_file = Path(args.start_file) if args.start_file else None
        while start_file is not None and not await asyncio.to_thread(start_file.exists):
            await asyncio.sleep(0.05)
        if start_file is not None:
            mark_started(start_file.with_name("started"))
        seq = [0] * (args.farms + 1)
        start = time.monotonic()
        made = 0
        while (now := time.monotonic()) - start < args.seconds:
            due = int((now - start) * args.rate) - made
            for _ in range(due):
                farm = made % args.farms + 1
                made += 1
                seq[farm] += 1
                ms, us = divmod(time.time_ns() // 1000, 1000)
                # The value carries the reading's id and its time's microseconds, as the
                # bridge's readings do in bench/fanout.py (which checks ids for losses).
                value = (seq[farm] - 1) * ID_SCALE + us
                text = orjson.dumps(
                    {
                        "type": "batch",
                        "farm": farm,
                        "t0": ms,
                        "r": [[seq[farm], 1, value, 0, 0]],
                        "sent": ms,
                    }
                ).decode()
                broadcast(farms[farm], text)
            await asyncio.sleep(TICK_S)
        if args.done_file:
            write_done(Path(args.done_file), seq)
        await asyncio.sleep(30)  # serve the drain until stopped


if __name__ == "__main__":
    asyncio.run(main())
