"""The backplane's ordering: per farm each seq reaches the hub once, in order; a gap the
instance's own commits and Redis do not fill within the bound is read from the store."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from farmbridge.domain import Change, Reading
from farmbridge.service.backplane import (
    Backplane,
    decode_notice,
    decode_signal,
    encode_notice,
    encode_signal,
)


def _r(seq: int, farm_id: int = 1) -> Reading:
    return Reading(
        sensor_id=1,
        device_id=1,
        farm_id=farm_id,
        value=float(seq),
        ts_ms=1,
        received_ms=1,
        seq=seq,
    )


class FakeStore:
    def __init__(self, changes: list[Change]) -> None:
        self.changes = changes
        self.reads = 0

    async def changes_since(self, farm_id: int, after_seq: int, limit: int) -> list[Change]:
        self.reads += 1
        return [c for c in self.changes if c.farm_id == farm_id and c.seq > after_seq][:limit]


def _plane(store: FakeStore, gap_wait_s: float = 0.01) -> tuple[Backplane, list[int]]:
    out: list[int] = []

    def deliver(changes: Sequence[Change]) -> None:
        out.extend(c.seq for c in changes)

    store_any: Any = store
    return Backplane(store_any, deliver, None, gap_wait_s=gap_wait_s), out


def test_notice_roundtrip() -> None:
    assert decode_notice(encode_notice("abc", 7, [5, 3, 4])) == ("abc", 7, 3, 5)


async def test_in_order_changes_go_straight_through_once() -> None:
    plane, out = _plane(FakeStore([]))
    plane.local([_r(1), _r(2)])
    plane.local([_r(2), _r(3)])
    assert out == [1, 2, 3]


async def test_a_later_change_waits_for_the_gap_and_the_store_fills_it() -> None:
    store = FakeStore([_r(s) for s in range(1, 6)])
    plane, out = _plane(store)
    plane.local([_r(1)])
    plane.local([_r(4)])
    assert out == [1]
    plane.local([_r(2)])
    assert out == [1, 2]
    for _ in range(100):
        if out == [1, 2, 3, 4, 5]:
            break
        await asyncio.sleep(0.01)
    assert out == [1, 2, 3, 4, 5]
    assert store.reads >= 1


async def test_a_remote_notice_reads_the_store_without_duplicates() -> None:
    store = FakeStore([_r(s) for s in range(1, 4)])
    plane, out = _plane(store)
    plane.local([_r(1)])
    plane._remote(encode_notice("other", 1, [2, 3]))
    plane._remote(encode_notice("other", 1, [2, 3]))
    plane._remote(encode_notice(plane.instance, 1, [9]))  # our own: ignored
    for _ in range(100):
        if out == [1, 2, 3]:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.02)
    assert out == [1, 2, 3]
    assert plane.status() == "off"


def test_a_signal_reaches_the_handlers_of_its_kind_on_other_instances_only() -> None:
    """Another instance's signal calls this one's handlers; this one's own is ignored."""
    plane, _ = _plane(FakeStore([]))
    heard: list[Any] = []
    plane.on_signal("device", heard.append)
    plane._signalled(encode_signal("elsewhere", "device", 7))
    plane._signalled(encode_signal("elsewhere", "user", 8))
    plane._signalled(encode_signal(plane.instance, "device", 9))
    assert heard == [7]


def test_state_listeners_hear_the_status_now_and_on_each_change() -> None:
    """A cache learns at once whether it may trust itself, and again on every change."""
    store: Any = FakeStore([])
    plane = Backplane(store, lambda changes: None, "redis://127.0.0.1:1/0")
    states: list[str] = []
    plane.add_state_listener(states.append)
    plane._set_connected(True)
    plane._set_connected(True)
    plane._lost()
    assert states == ["degraded", "ok", "degraded"]


async def test_listeners_hear_what_the_hub_is_fed_in_order() -> None:
    """The command service hears every change once, after the hub, in seq order."""
    plane, out = _plane(FakeStore([]))
    heard: list[int] = []
    plane.add_listener(lambda changes: heard.extend(c.seq for c in changes))
    plane.local([_r(1), _r(2)])
    plane.local([_r(2), _r(3)])
    assert heard == out == [1, 2, 3]


class FakeRedis:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    async def publish(self, channel: str, msg: bytes) -> None:
        self.published.append((channel, msg))


async def test_a_signal_that_could_not_be_sent_is_sent_on_reconnect() -> None:
    """An instance cut off from Redis keeps what it had to say, and says it once it is back,
    so the others, who heard Redis all along, do not trust a stale entry until its age."""
    store: Any = FakeStore([])
    plane = Backplane(store, lambda changes: None, "redis://127.0.0.1:1/0")
    plane.signal("device", 7)
    plane.signal("user", 8)
    redis = FakeRedis()
    await plane._resend(redis)
    assert [decode_signal(m)[1:] for _, m in redis.published] == [("device", 7), ("user", 8)]
    await plane._resend(redis)
    assert len(redis.published) == 2  # once each


async def test_a_farm_first_heard_of_by_a_later_seq_starts_at_the_hubs_head() -> None:
    """Another instance committed seqs 1-2 first, but this instance's own seq 3 arrives
    before their notice: with a channel open at seq 0, 3 waits for 1-2 (read from the
    store), instead of the farm starting at 3 and 1-2 never reaching its clients."""
    store = FakeStore([_r(s) for s in range(1, 4)])
    out: list[int] = []
    store_any: Any = store
    plane = Backplane(
        store_any, lambda chs: out.extend(c.seq for c in chs), None, gap_wait_s=0.01,
        head=lambda farm_id: 0 if farm_id == 1 else None,
    )  # fmt: skip
    plane.local([_r(3)])
    assert out == []
    for _ in range(100):
        if out == [1, 2, 3]:
            break
        await asyncio.sleep(0.01)
    assert out == [1, 2, 3]
    # A farm with no channel has nobody to miss lower seqs: it starts where it is heard.
    plane.local([_r(7, farm_id=2)])
    assert out == [1, 2, 3, 7]
