"""A second raw floor of Python WebSocket fan-out: a bare `picows` broadcast server.

The same protocol and load as bench/raw_broadcast.py (subscribe, then generated readings
of each farm in the bridge's batch format), on picows, whose frame building and sending
are in Cython: the floor of what asyncio Python can do at all. bench/fanout.py runs it
beside the bridge and the `websockets` floor.

    python bench/picows_broadcast.py --port 9000 --farms 100 --rate 1000 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import defaultdict
from pathlib import Path

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server

from bench.raw_broadcast import ID_SCALE, TICK_S, mark_started, write_done


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--farms", type=int, required=True)
    p.add_argument("--rate", type=float, required=True, help="readings per second, all farms")
    p.add_argument("--seconds", type=float, required=True, help="stop producing after this")
    p.add_argument("--start-file", help="produce once this file exists")
    p.add_argument("--done-file", help="write {farm: readings made} here when done")
    args = p.parse_args()
    farms: dict[int, set[WSTransport]] = defaultdict(set)

    class Listener(WSListener):  # type: ignore[misc]
        def __init__(self) -> None:
            self.subscribed: list[int] = []

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
                return
            if frame.msg_type != WSMsgType.TEXT:
                return
            msg = orjson.loads(frame.get_payload_as_bytes())
            if msg.get("type") == "subscribe":
                farms[msg["farm"]].add(transport)
                self.subscribed.append(msg["farm"])
                transport.send(
                    WSMsgType.TEXT, orjson.dumps({"type": "subscribed", "farm": msg["farm"]})
                )

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            for f in self.subscribed:
                farms[f].discard(transport)

    def factory(request: WSUpgradeRequest) -> WSListener:
        return Listener()

    server = await ws_create_server(factory, "127.0.0.1", args.port)
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
            value = (seq[farm] - 1) * ID_SCALE + us
            data = orjson.dumps(
                {"type": "batch", "farm": farm, "t0": ms, "r": [[seq[farm], 1, value, 0, 0]]}
            )
            for t in list(farms[farm]):
                t.send(WSMsgType.TEXT, data)
        await asyncio.sleep(TICK_S)
    if args.done_file:
        write_done(Path(args.done_file), seq)
    await asyncio.sleep(30)  # serve the drain until stopped
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
