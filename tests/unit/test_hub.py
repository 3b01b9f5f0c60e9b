"""The hub: farm state, channels, recent history and the per-connection send queue."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Final

import orjson

from farmbridge.domain import Device, DeviceKind, Reading, Sensor
from farmbridge.domain.clock import FakeClock
from farmbridge.hub.channel import Channel, Part, Subscription
from farmbridge.hub.hub import Hub
from farmbridge.hub.queue import SendQueue
from farmbridge.hub.state import FarmState
from farmbridge.protocol.const import ALL_TOPICS, Mode, Topic
from farmbridge.protocol.server_messages import batch_prefix

T0 = 1_767_225_600_000
DELIVERY_TIMEOUT_S: Final = 5.0


class Recorder:
    def __init__(self) -> None:
        self.got: list[tuple[str | None, list[int]]] = []

    def deliver(self, sub: Subscription, parts: Sequence[Part]) -> None:
        for prefix, changes in parts:
            self.got.append((prefix, [c.seq for c in changes]))


def _reading(seq: int, sensor: int = 1, ts: int = 0, value: float = 1.0) -> Reading:
    return Reading(sensor, 1, 1, value, T0 + ts, T0 + ts, seq)


def _state(seq: int = 0) -> FarmState:
    device = Device(1, 1, "d", DeviceKind.SENSOR_NODE, "d", T0)
    return FarmState(seq, [device], [Sensor(1, 1, 1, "t", "C"), Sensor(2, 1, 1, "h", "%")])


def test_farm_state_keeps_the_newest_value_by_device_time() -> None:
    """Applying an older reading after a newer one leaves the newer value; seq still advances."""
    state = _state()
    state.apply([_reading(1, ts=100, value=5.0), _reading(2, ts=50, value=9.0)])
    assert state.sensors[1].last_value == 5.0
    assert state.seq == 2
    assert orjson.loads(state.encoded())["sensors"][0]["value"] == 5.0


def test_farm_state_encoding_is_cached_until_a_change() -> None:
    """The snapshot is encoded once per version: the same object until something changes."""
    state = _state()
    first = state.encoded()
    assert state.encoded() is first
    state.apply([_reading(1)])
    assert state.encoded() is not first


def test_channel_encodes_once_per_topic_set_and_skips_empty() -> None:
    """Two subscribers with the same topics share one encoded prefix; events-only gets nothing."""
    channel = Channel(1, "ep", _state(), recent_size=10)
    rec = Recorder()
    a = Subscription(rec, 1, ALL_TOPICS, Mode.ALL)
    b = Subscription(rec, 1, ALL_TOPICS, Mode.ALL)
    c = Subscription(rec, 1, frozenset({Topic.EVENTS}), Mode.ALL)
    channel.subs.update({a, b, c})
    channel.publish([_reading(1), _reading(2)])
    assert channel.flush() == 2
    assert len(rec.got) == 2
    assert rec.got[0][0] is rec.got[1][0]
    assert rec.got[0][1] == [1, 2]


def test_channel_recent_after_knows_how_far_back_it_reaches() -> None:
    """Memory serves a resume only from its coverage start and within its ring buffer."""
    channel = Channel(1, "ep", _state(seq=10), recent_size=5)
    channel.publish([_reading(s) for s in range(11, 19)])
    assert channel.recent_after(9) is None
    assert channel.recent_after(12) is None  # 11..13 fell out of the ring
    recent = channel.recent_after(14)
    assert recent is not None
    assert [c.seq for c in recent] == [15, 16, 17, 18]
    assert channel.recent_after(18) == []


def test_channel_ignores_changes_it_has_already_seen() -> None:
    """A change with a seq at or below the channel's head is not delivered twice."""
    channel = Channel(1, "ep", _state(seq=5), recent_size=5)
    channel.publish([_reading(4), _reading(6)])
    assert [c.seq for c in channel.pending] == [6]


def test_channel_hands_each_subscription_only_changes_above_its_last_seq() -> None:
    """A subscription whose replay reached into a flush gets the rest of it, in its own
    batch; one that is behind gets the shared batch; one already past it gets nothing."""
    channel = Channel(1, "ep", _state(seq=10), recent_size=10)
    behind, resumed, ahead = Recorder(), Recorder(), Recorder()
    channel.subs.update(
        {
            Subscription(behind, 1, ALL_TOPICS, Mode.ALL, last_seq=10),
            Subscription(resumed, 1, ALL_TOPICS, Mode.ALL, last_seq=12),
            Subscription(ahead, 1, ALL_TOPICS, Mode.ALL, last_seq=14),
        }
    )
    channel.publish([_reading(s) for s in range(11, 15)])
    assert channel.flush() == 2
    assert [seqs for _, seqs in behind.got] == [[11, 12, 13, 14]]
    assert [seqs for _, seqs in resumed.got] == [[13, 14]]
    assert ahead.got == []
    assert {s.last_seq for s in channel.subs} == {14}


def test_channel_keeps_a_held_subscriptions_changes_for_its_replay() -> None:
    """While a resume is read from the store, a flush puts the changes above the
    subscription's seq into its held list, not into its sink, and advances its seq."""
    channel = Channel(1, "ep", _state(seq=10), recent_size=10)
    rec = Recorder()
    sub = Subscription(rec, 1, ALL_TOPICS, Mode.ALL, held=[], last_seq=11)
    channel.subs.add(sub)
    channel.publish([_reading(s) for s in range(11, 14)])
    assert channel.flush() == 0
    assert [c.seq for c in sub.held or []] == [12, 13]
    assert sub.last_seq == 13
    assert rec.got == []


def _sub(mode: Mode = Mode.ALL) -> Subscription:
    return Subscription(Recorder(), 1, ALL_TOPICS, mode)


def test_send_queue_joins_queued_messages_into_one_array_frame() -> None:
    """Control and data messages queued together leave as one JSON array, in order, stamped."""
    q = SendQueue(max_messages=10, max_bytes=10_000)
    sub = _sub()
    q.put_control('{"type":"pong"}')
    changes = [_reading(1)]
    q.put_data(sub, [(batch_prefix(1, changes, ALL_TOPICS) or "", changes)])
    frame = q.take_frame(T0 + 5)
    assert frame is not None
    msgs = orjson.loads(frame)
    assert [m["type"] for m in msgs] == ["pong", "batch"]
    assert msgs[1]["sent"] == T0 + 5
    assert q.take_frame(T0) is None
    assert not q.ready.is_set()


def test_send_queue_put_without_wake_leaves_the_writer_asleep() -> None:
    """A caller that sends the frame itself does not wake the writer for it."""
    q = SendQueue(max_messages=10, max_bytes=10_000)
    changes = [_reading(1)]
    assert q.put_data(_sub(), [(batch_prefix(1, changes, ALL_TOPICS) or "", changes)], wake=False)
    assert not q.ready.is_set()
    assert q.take_frame(T0) is not None
    assert len(q) == 0


def test_send_queue_latest_mode_keeps_only_the_newest_reading_per_sensor() -> None:
    """In latest mode, queued readings of one sensor collapse to the newest."""
    q = SendQueue(max_messages=10, max_bytes=10_000)
    sub = _sub(Mode.LATEST)
    for seq in range(1, 6):
        changes = [_reading(seq, sensor=1 + seq % 2, value=float(seq))]
        q.put_data(sub, [(batch_prefix(1, changes, ALL_TOPICS) or "", changes)])
    assert len(q) == 1
    frame = q.take_frame(T0)
    assert frame is not None
    rows = orjson.loads(frame)["r"]
    assert sorted((r[0], r[1], r[2]) for r in rows) == [(4, 1, 4.0), (5, 2, 5.0)]


def test_send_queue_reports_overflow_and_drop_keeps_control() -> None:
    """Once at its bound the queue refuses data; dropping data keeps the control messages."""
    q = SendQueue(max_messages=3, max_bytes=10_000)
    sub = _sub()
    q.put_control('{"type":"ping"}')
    accepted = [q.put_data(sub, [('{"type":"batch"', [_reading(s)])]) for s in range(1, 5)]
    assert accepted == [True, True, False, False]
    assert len(q) == 3
    assert q.overflowed
    q.drop_data()
    assert len(q) == 1
    assert q.take_frame(T0) == '{"type":"ping"}'


def test_send_queue_takes_a_whole_burst_but_refuses_once_past_its_bound() -> None:
    """A flush larger than the bound is accepted whole; the next one is refused."""
    q = SendQueue(max_messages=100, max_bytes=10)
    sub = _sub()
    burst = [('{"type":"batch","farm":1', [_reading(s)]) for s in range(1, 4)]
    assert q.put_data(sub, burst)
    assert len(q) == 3
    assert not q.put_data(sub, burst[:1])


def test_channel_splits_a_large_flush_into_bounded_batches() -> None:
    """More changes than fit one batch leave as several batches, in order, in one delivery."""
    channel = Channel(1, "ep", _state(), recent_size=1000)
    rec = Recorder()
    channel.subs.add(Subscription(rec, 1, ALL_TOPICS, Mode.ALL))
    channel.publish([_reading(s) for s in range(1, 451)])
    channel.flush()
    assert [len(seqs) for _, seqs in rec.got] == [200, 200, 50]
    assert [s for _, seqs in rec.got for s in seqs] == list(range(1, 451))


class Awaiting(Recorder):
    """A recorder that can be awaited until it holds a given seq."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    def deliver(self, sub: Subscription, parts: Sequence[Part]) -> None:
        super().deliver(sub, parts)
        self.changed.set()

    async def until(self, seq: int) -> None:
        while seq not in {s for _, seqs in self.got for s in seqs}:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), DELIVERY_TIMEOUT_S)


async def test_hub_tick_is_measured_on_its_clock() -> None:
    """An idle hub flushes at once; so does one whose last flush is a whole tick ago on its
    clock, although almost no real time has passed (the tick is an hour)."""
    clock = FakeClock()
    hub = Hub(tick_s=3_600.0, clock=clock)
    hub.begin_open(1)
    hub.finish_open(1, "ep", _state())
    rec = Awaiting()
    hub.attach(Subscription(rec, 1, ALL_TOPICS, Mode.ALL))
    hub.publish([_reading(1)])
    await rec.until(1)
    clock.advance(3_600.0)
    hub.publish([_reading(2)])
    await rec.until(2)
    assert [seqs for _, seqs in rec.got] == [[1], [2]]


def test_a_channel_opened_across_a_gap_takes_the_missing_changes_from_the_store() -> None:
    """While a farm's state is read, only seq 3 arrives (another instance's 1-2 are still
    on their way): the hub says so, and the stored 1-2 given to finish_open close the gap,
    with 3 not taken twice."""
    hub = Hub()
    hub.begin_open(1)
    hub.publish([_reading(3)])
    assert hub.opening_gap(1, 0)
    assert not hub.opening_gap(1, 2)
    channel = hub.finish_open(1, "ep", _state(0), [_reading(1), _reading(2), _reading(3)])
    assert [c.seq for c in channel.recent] == [1, 2, 3]
    assert channel.state.seq == hub.head(1) == 3
    assert hub.head(2) is None
