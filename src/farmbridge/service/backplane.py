"""The Redis backplane: several bridge instances on one database feed each other's hubs.

A commit's changes go to the local hub through `Backplane.local`, and a notice
(instance, farm, seqs) goes to Redis pub/sub. The database is the truth: an instance that
hears of another's commit reads the farm's changes after the last seq it delivered from
the store (`changes_since`, the read a resume uses), so a message Redis drops, or a
Redis that is down, costs latency, never a change. Per farm the hub is fed strictly in
seq order, each seq once: later changes wait until the gap is filled, from the store if
it is not filled within `gap_wait_s`.

Signals are the other half: what one instance must tell the others so that they drop
what they cached (a device's key or sensors, a user's access). They go to a second
channel as (instance, kind, value) and reach every other instance's handlers for that
kind; an instance that cannot hear them (Redis down) is told through its state
listeners, which shorten or drop what they cache, and again when it hears again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Final

import orjson

from farmbridge.domain import Change
from farmbridge.metrics import BACKPLANE_CONNECTED
from farmbridge.store.base import Store

log = logging.getLogger(__name__)

CHANNEL: Final = "farmbridge.changes"
SIGNALS: Final = "farmbridge.signals"
GAP_WAIT_S: Final = 0.2
FILL_LIMIT: Final = 10_000
HEALTH_CHECK_S: Final = 5
MAX_UNSENT_SIGNALS: Final = 10_000
PUBLISH_CONNECTIONS: Final = 16


def encode_notice(instance: str, farm_id: int, seqs: Sequence[int]) -> bytes:
    return orjson.dumps({"i": instance, "f": farm_id, "lo": min(seqs), "hi": max(seqs)})


def decode_notice(data: bytes | str) -> tuple[str, int, int, int]:
    msg = orjson.loads(data)
    return str(msg["i"]), int(msg["f"]), int(msg["lo"]), int(msg["hi"])


def encode_signal(instance: str, kind: str, value: Any) -> bytes:
    return orjson.dumps({"i": instance, "k": kind, "v": value})


def decode_signal(data: bytes | str) -> tuple[str, str, Any]:
    msg = orjson.loads(data)
    return str(msg["i"]), str(msg["k"]), msg["v"]


class Backplane:
    def __init__(
        self,
        store: Store,
        deliver: Callable[[Sequence[Change]], None],
        url: str | None,
        *,
        gap_wait_s: float = GAP_WAIT_S,
        reconnect_max_s: float = 10.0,
        head: Callable[[int], int | None] | None = None,
    ) -> None:
        """`head(farm)` is the seq up to which the hub has every change of the farm, None
        while it holds no channel of it: where ordering starts for a farm first heard of."""
        self._store = store
        self._deliver = deliver
        self._head = head
        self._url = url
        self.instance = uuid.uuid4().hex
        self._gap_wait_s = gap_wait_s
        self._reconnect_max_s = reconnect_max_s
        self._last: dict[int, int] = {}
        self._held: dict[int, dict[int, Change]] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._filling: set[int] = set()
        self._refill: set[int] = set()
        self._redis: Any = None
        self._listeners: list[Callable[[Sequence[Change]], None]] = []
        self._handlers: dict[str, list[Callable[[Any], None]]] = {}
        self._state_listeners: list[Callable[[str], None]] = []
        self._unsent: deque[bytes] = deque(maxlen=MAX_UNSENT_SIGNALS)
        self.connected = False
        BACKPLANE_CONNECTED.set(0)

    def status(self) -> str:
        if self._url is None:
            return "off"
        return "ok" if self.connected else "degraded"

    def add_listener(self, listener: Callable[[Sequence[Change]], None]) -> None:
        """Hears what the hub is fed, after it: every change of every instance, once,
        in seq order per farm (the command service wakes its long polls with it)."""
        self._listeners.append(listener)

    # Signals between instances.
    def on_signal(self, kind: str, handler: Callable[[Any], None]) -> None:
        """Calls `handler(value)` for each signal of `kind` another instance sends."""
        self._handlers.setdefault(kind, []).append(handler)

    def add_state_listener(self, listener: Callable[[str], None]) -> None:
        """Calls `listener(status())` now and whenever the status changes: a listener
        that caches what signals invalidate must not trust its cache while "degraded",
        and must drop it when the status changes (signals may have been missed)."""
        self._state_listeners.append(listener)
        listener(self.status())

    def signal(self, kind: str, value: Any) -> None:
        """Tells every other instance (value JSON-serializable). Not sent now (Redis down,
        or the publish fails), it is sent on reconnect: the others, who heard Redis all
        along, would otherwise trust what it invalidates for their backstop age."""
        if self._url is None:
            return
        msg = encode_signal(self.instance, kind, value)
        if self.connected:
            asyncio.get_running_loop().create_task(self._publish_signal(msg))
        else:
            self._unsent.append(msg)

    async def _publish_signal(self, msg: bytes) -> None:
        try:
            await self._redis.publish(SIGNALS, msg)
        except Exception:
            self._unsent.append(msg)
            self._lost()

    async def _resend(self, client: Any) -> None:
        while self._unsent:
            await client.publish(SIGNALS, self._unsent[0])
            self._unsent.popleft()

    def _signalled(self, data: bytes | str) -> None:
        instance, kind, value = decode_signal(data)
        if instance == self.instance:
            return
        for handler in self._handlers.get(kind, ()):
            try:
                handler(value)
            except Exception:
                log.exception("backplane signal handler failed for %s", kind)

    def _set_connected(self, connected: bool) -> None:
        was = self.connected
        self.connected = connected
        BACKPLANE_CONNECTED.set(1 if connected else 0)
        if was != connected:
            status = self.status()
            for listener in self._state_listeners:
                try:
                    listener(status)
                except Exception:
                    log.exception("backplane state listener failed")

    # Local commits: the store's listener.
    def local(self, changes: Sequence[Change]) -> None:
        by_farm: dict[int, list[Change]] = {}
        for ch in changes:
            by_farm.setdefault(ch.farm_id, []).append(ch)
        for farm_id, farm_changes in by_farm.items():
            self._offer(farm_id, farm_changes)
            if self._url is not None and self.connected:
                msg = encode_notice(self.instance, farm_id, [c.seq for c in farm_changes])
                asyncio.get_running_loop().create_task(self._publish(msg))

    async def _publish(self, msg: bytes, channel: str = CHANNEL) -> None:
        try:
            await self._redis.publish(channel, msg)
        except Exception:
            self._lost()

    def _lost(self) -> None:
        if self.connected:
            log.warning("backplane disconnected")
        self._set_connected(False)

    # Ordering.
    def _start(self, farm_id: int, first_seq: int) -> None:
        """Where a farm first heard of starts. Another instance's commit of a lower seq may
        be in flight (its notice not here yet), so with an open channel it starts at what
        the hub has, and the gap is held and filled; with none, nobody would get the lower
        seqs, and a channel opened later reads its state from the store (stream.py)."""
        if farm_id not in self._last:
            known = None if self._head is None else self._head(farm_id)
            self._last[farm_id] = first_seq - 1 if known is None else known

    def _offer(self, farm_id: int, changes: Sequence[Change]) -> None:
        self._start(farm_id, min(c.seq for c in changes))
        last = self._last[farm_id]
        held = self._held.setdefault(farm_id, {})
        for ch in changes:
            if ch.seq > last:
                held.setdefault(ch.seq, ch)
        self._drain(farm_id)

    def _drain(self, farm_id: int) -> None:
        held = self._held.get(farm_id, {})
        last = self._last[farm_id]
        out: list[Change] = []
        while last + 1 in held:
            last += 1
            out.append(held.pop(last))
        for seq in [s for s in held if s <= last]:
            del held[seq]
        self._last[farm_id] = last
        if out:
            self._deliver(out)
            for listener in self._listeners:
                try:
                    listener(out)
                except Exception:
                    log.exception("backplane listener failed")
        timer = self._timers.pop(farm_id, None)
        if held:
            if timer is not None:
                self._timers[farm_id] = timer
            else:
                loop = asyncio.get_running_loop()
                self._timers[farm_id] = loop.call_later(self._gap_wait_s, self._fill, farm_id)
        elif timer is not None:
            timer.cancel()

    def _fill(self, farm_id: int) -> None:
        self._timers.pop(farm_id, None)
        if farm_id in self._filling:
            self._refill.add(farm_id)
            return
        self._filling.add(farm_id)
        asyncio.get_running_loop().create_task(self._fill_from_store(farm_id))

    async def _fill_from_store(self, farm_id: int) -> None:
        try:
            while True:
                self._refill.discard(farm_id)
                stored = await self._store.changes_since(farm_id, self._last[farm_id], FILL_LIMIT)
                if stored:
                    held = self._held.setdefault(farm_id, {})
                    for ch in stored:
                        if ch.seq > self._last[farm_id]:
                            held.setdefault(ch.seq, ch)
                    self._drain(farm_id)
                if farm_id not in self._refill and len(stored) < FILL_LIMIT:
                    break
        except Exception:
            log.exception("backplane gap fill failed for farm %s", farm_id)
        finally:
            self._filling.discard(farm_id)

    def _remote(self, data: bytes | str) -> None:
        instance, farm_id, lo, hi = decode_notice(data)
        if instance == self.instance:
            return
        self._start(farm_id, lo)
        if hi > self._last[farm_id]:
            self._fill(farm_id)

    # The subscriber, reconnecting with backoff.
    async def run(self) -> None:
        if self._url is None:
            return
        import redis.asyncio as aioredis

        delay = 0.1
        while True:
            # The health check pings an idle subscription, so a silently dead link is seen
            # within seconds, not when TCP gives up.
            # A blocking pool: a burst of notices (one publish task each) waits for one of
            # its connections instead of failing with MaxConnectionsError past redis-py's
            # default of 100, which took the instance off the backplane (bench/instances.py).
            pool = aioredis.BlockingConnectionPool.from_url(
                self._url,
                max_connections=PUBLISH_CONNECTIONS,
                socket_connect_timeout=2,
                health_check_interval=HEALTH_CHECK_S,
            )
            client = aioredis.Redis.from_pool(pool)
            try:
                pubsub = client.pubsub()
                await pubsub.subscribe(CHANNEL, SIGNALS)
                self._redis = client
                await self._resend(client)
                self._set_connected(True)
                log.info("backplane connected")
                delay = 0.1
                for farm_id in list(self._last):  # missed while away: the store has them
                    self._fill(farm_id)
                while self.connected:  # a failed publish sets it off: reconnect, refill
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if msg is not None and msg.get("type") == "message":
                        try:
                            if msg.get("channel") in (SIGNALS, SIGNALS.encode()):
                                self._signalled(msg["data"])
                            else:
                                self._remote(msg["data"])
                        except Exception:
                            log.exception("bad backplane message")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("backplane unavailable: %s", exc)
            finally:
                self._lost()
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._reconnect_max_s)
