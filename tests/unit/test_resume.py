"""Resume hands over from replay to live with no gap and no duplicate, whatever interleaves.

The hub and the stream service run over a real SQLite store; the store's commit listener
passes through a gate the test opens and closes, and the store's read is wrapped, so a
commit, its listener and the hub's flush can be placed before, during or after the read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from farmbridge.domain import Change, DeviceState, StatusRecord
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.reports import DeviceReport, ReportedReading, ReportedStatus
from farmbridge.domain.telemetry import SensorSpec
from farmbridge.hub.channel import Part, Subscription
from farmbridge.hub.hub import Hub
from farmbridge.protocol.const import ALL_TOPICS, Mode
from farmbridge.service.access import Principal
from farmbridge.service.bundle import Services
from farmbridge.service.stream import Resync, StreamService, Subscribed
from farmbridge.store.sql import SqlStore
from tests.unit.bridge_services import admin, already_online, device, running_services

RECENT_SIZE = 2
"""So small that every resume in these tests is served from the store."""
MAX_REPLAY = 1_000
MAX_ROUND_TRIPS = 1_000


class Gate:
    """The store's commit listener: passes changes to the hub, or holds them while closed."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.open = True
        self.waiting: list[Change] = []

    def __call__(self, changes: Sequence[Change]) -> None:
        if self.open:
            self.hub.publish(changes)
        else:
            self.waiting.extend(changes)

    def release(self) -> None:
        self.open = True
        waiting, self.waiting = self.waiting, []
        self.hub.publish(waiting)


@dataclass
class Client:
    """A sink that records the seqs handed to it live, in order."""

    live: list[int] = field(default_factory=list)

    def deliver(self, sub: Subscription, parts: Sequence[Part]) -> None:
        for _, changes in parts:
            self.live.extend(c.seq for c in changes)


@dataclass
class Bridge:
    svc: Services
    hub: Hub
    gate: Gate
    stream: StreamService
    clock: FakeClock
    who: Principal
    farm_id: int
    device_key: str

    async def post(self, n: int) -> None:
        """Commits n readings (and waits for the commit, not for its listener)."""
        entry = await self.svc.ingest.authenticate(self.device_key)
        now = self.clock.wall_ms()
        report = DeviceReport(readings=[ReportedReading("temp", 20.0, now) for _ in range(n)])
        await self.svc.ingest.ingest(entry, report)

    async def post_status(self) -> None:
        entry = await self.svc.ingest.authenticate(self.device_key)
        status = ReportedStatus(DeviceState.ONLINE, {}, self.clock.wall_ms())
        await self.svc.ingest.ingest(entry, DeviceReport(status=status))

    async def until_published(self, seq: int) -> None:
        """Waits until this hub's channel has heard `seq` (the listener runs on the loop)."""
        channel = await self.stream.channel(self.farm_id)
        for _ in range(MAX_ROUND_TRIPS):
            if channel.last_seq >= seq:
                return
            await self.svc.store.get_farm(self.farm_id)  # a round trip to a worker thread
        pytest.fail(f"seq {seq} never reached the hub")

    async def resume(self, client: Client, since: int) -> Subscribed | Resync:
        channel = await self.stream.channel(self.farm_id)
        return await self.stream.subscribe(
            self.who,
            client,
            self.farm_id,
            topics=ALL_TOPICS,
            mode=Mode.ALL,
            since=since,
            epoch=channel.epoch,
        )

    def wrap_read(self, around: Callable[[], Awaitable[list[Change]]]) -> None:
        """The stream's store read becomes `around()`, which calls the real one itself."""
        self.svc.store.changes_since = lambda *_a, **_k: around()  # type: ignore[method-assign]

    async def real_read(self, since: int) -> list[Change]:
        return await SqlStore.changes_since(self.svc.store, self.farm_id, since, MAX_REPLAY + 1)


@pytest.fixture
async def bridge(tmp_path: Path) -> AsyncIterator[Bridge]:
    """A farm with one sensor node, and a hub and stream of the test's own behind a gate."""
    clock = FakeClock()
    async with running_services(tmp_path, clock) as svc:
        hub = Hub(recent_size=RECENT_SIZE, clock=clock)
        gate = Gate(hub)
        svc.store.add_listener(gate)
        stream = StreamService(svc.store, hub, max_replay=MAX_REPLAY)
        dev, key = await device(svc, "node", sensors=(SensorSpec("temp", "C", -40, 80),))
        already_online(svc.store, dev.id)  # readings alone take the seqs counted here
        b = Bridge(svc, hub, gate, stream, clock, await admin(svc), dev.farm_id, key)
        await stream.channel(dev.farm_id)
        yield b


def _received(result: Subscribed | Resync, client: Client) -> list[int]:
    assert isinstance(result, Subscribed)
    return [c.seq for c in result.replay] + client.live


async def _history(b: Bridge) -> int:
    """Ten readings, heard by the hub and flushed; returns the head."""
    await b.post(10)
    await b.until_published(10)
    b.hub.flush()
    return 10


async def test_resume_from_store_skips_changes_whose_listener_runs_after_the_read(
    bridge: Bridge,
) -> None:
    """Changes the store read already returned are not handed to the subscription again
    when their commit listener runs only after the resume was answered."""
    b = bridge
    await _history(b)
    b.gate.open = False
    await b.post(5)  # 11..15 committed, their listener not yet run
    client = Client()
    result = await b.resume(client, since=5)
    b.gate.release()
    b.hub.flush()
    await b.post(2)
    await b.until_published(17)
    b.hub.flush()
    assert _received(result, client) == list(range(6, 18))


async def test_resume_from_store_skips_pending_changes_the_read_returned(
    bridge: Bridge,
) -> None:
    """A change published during the read but flushed after the answer is not sent twice."""
    b = bridge
    await _history(b)

    async def around() -> list[Change]:
        await b.post(3)  # 11..13: committed and published, still pending in the channel
        await b.until_published(13)
        return await b.real_read(5)

    b.wrap_read(around)
    client = Client()
    result = await b.resume(client, since=5)
    b.hub.flush()
    assert _received(result, client) == list(range(6, 14))


async def test_resume_from_store_merges_changes_flushed_during_the_read(
    bridge: Bridge,
) -> None:
    """Changes flushed to the subscription while the store is read, before and after the
    read's snapshot, follow the replay once each and in order."""
    b = bridge
    await _history(b)

    async def around() -> list[Change]:
        await b.post(2)  # 11, 12: in the read and flushed into the held subscription
        await b.until_published(12)
        b.hub.flush()
        changes = await b.real_read(5)
        await b.post(2)  # 13, 14: after the read, flushed into the held subscription
        await b.until_published(14)
        b.hub.flush()
        await b.post(1)  # 15: after the read, pending when the answer is made
        await b.until_published(15)
        return changes

    b.wrap_read(around)
    client = Client()
    result = await b.resume(client, since=5)
    b.hub.flush()
    assert _received(result, client) == list(range(6, 16))


async def test_resume_from_store_loses_nothing_when_the_read_is_no_snapshot(
    bridge: Bridge,
) -> None:
    """The store reads its tables one after another: a read that saw a status committed
    after a reading it missed does not hide the reading; it follows live, in order."""
    b = bridge
    await _history(b)

    async def around() -> list[Change]:
        changes = await b.real_read(5)  # 6..10
        b.gate.open = False
        await b.post(1)  # reading 11: committed after the readings table was read
        await b.post_status()  # status 12: committed before the status table was read
        later = await b.real_read(11)
        assert [type(c) for c in later] == [StatusRecord]
        return changes + later

    b.wrap_read(around)
    client = Client()
    result = await b.resume(client, since=5)
    b.gate.release()
    b.hub.flush()
    assert _received(result, client) == list(range(6, 13))


async def test_resume_from_store_answers_too_far_behind_past_the_replay_bound(
    bridge: Bridge,
) -> None:
    """A store that holds more than max_replay changes after `since` (committed but not
    yet heard by the hub) answers resync, not a truncated replay with a hole after it."""
    b = bridge
    await _history(b)
    b.gate.open = False
    await b.post(MAX_REPLAY)
    result = await b.resume(Client(), since=5)
    assert isinstance(result, Resync)
    assert not (await b.stream.channel(b.farm_id)).subs


async def test_resume_from_memory_under_late_listeners_is_gapless(bridge: Bridge) -> None:
    """A resume the ring serves gets the ring's changes, then every later one once."""
    b = bridge
    await _history(b)
    b.gate.open = False
    await b.post(3)  # 11..13 committed, heard only after the answer
    client = Client()
    result = await b.resume(client, since=9)
    assert isinstance(result, Subscribed)
    assert [c.seq for c in result.replay] == [10]
    b.gate.release()
    b.hub.flush()
    await b.post(1)
    await b.until_published(14)
    b.hub.flush()
    assert _received(result, client) == list(range(10, 15))


async def test_resume_batches_cover_exactly_the_changes_above_the_subscription(
    bridge: Bridge,
) -> None:
    """When part of a flush is already replayed, the subscription's batch holds only the
    rest, while a subscriber that needs all of it gets the whole shared batch."""
    b = bridge
    await _history(b)
    b.gate.open = False
    await b.post(3)  # 11..13
    resumed, fresh = Client(), Client()
    result = await b.resume(resumed, since=5)
    await b.resume(fresh, since=10)
    await b.post(1)  # 14: after the read, so the flush of 11..14 is partly replayed
    b.gate.release()
    b.hub.flush()
    assert _received(result, resumed) == list(range(6, 15))
    assert resumed.live == [14]
    assert fresh.live == [11, 12, 13, 14]
