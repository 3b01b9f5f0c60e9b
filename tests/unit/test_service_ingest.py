"""Ingest rules that depend on time, on a FakeClock: timestamp skew and age, rate limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from farmbridge.domain import DeviceState, EventLevel
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.errors import RateLimited, ValidationFailed
from farmbridge.domain.reports import DeviceReport, ReportedEvent, ReportedReading, ReportedStatus
from farmbridge.domain.telemetry import SensorSpec
from farmbridge.service.bundle import Services
from farmbridge.service.directory import DeviceEntry
from tests.unit.bridge_services import device, running_services

SKEW_S = 300
MAX_AGE_S = 30 * 86_400
RATE_PER_S = 5
BURST = 5
TEMP = SensorSpec("temp", "C", -40, 80)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def svc(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Services]:
    async with running_services(
        tmp_path,
        clock,
        max_clock_skew_s=SKEW_S,
        max_reading_age_s=MAX_AGE_S,
        device_rate_per_s=RATE_PER_S,
        device_burst=BURST,
    ) as services:
        yield services


@pytest.fixture
async def node(svc: Services) -> tuple[DeviceEntry, str]:
    """A sensor node's directory entry and its key."""
    _, key = await device(svc, "node", sensors=(TEMP,))
    return await svc.ingest.authenticate(key), key


def reading_at(ts_ms: int) -> DeviceReport:
    return DeviceReport(readings=[ReportedReading("temp", 21.0, ts_ms)])


async def test_ingest_receives_reports_at_the_clocks_time(
    svc: Services, clock: FakeClock, node: tuple[DeviceEntry, str]
) -> None:
    """Without an adapter's receive time a report is received at the clock's wall time."""
    entry, _ = node
    result = await svc.ingest.ingest(entry, reading_at(clock.wall_ms() - 1_000))
    online, reading = result.stored  # its first data also says it is online
    assert reading.received_ms == online.received_ms == clock.wall_ms()
    assert (await svc.store.get_device(entry.device.id)).last_seen_ms == clock.wall_ms()


async def test_ingest_accepts_timestamps_at_the_edges_of_the_window(
    svc: Services, clock: FakeClock, node: tuple[DeviceEntry, str]
) -> None:
    """A timestamp exactly max skew ahead, or exactly max age behind, is still accepted."""
    entry, _ = node
    now = clock.wall_ms()
    ahead = await svc.ingest.ingest(entry, reading_at(now + SKEW_S * 1000))
    behind = await svc.ingest.ingest(entry, reading_at(now - MAX_AGE_S * 1000))
    assert (ahead.accepted, behind.accepted) == (1, 1)


async def test_ingest_refuses_a_timestamp_past_the_allowed_skew(
    svc: Services, clock: FakeClock, node: tuple[DeviceEntry, str]
) -> None:
    """One millisecond beyond the allowed skew ahead is refused, naming the item's ts."""
    entry, _ = node
    with pytest.raises(ValidationFailed, match="in the future") as info:
        await svc.ingest.ingest(entry, reading_at(clock.wall_ms() + SKEW_S * 1000 + 1))
    assert info.value.field == "readings[0].ts"
    assert (await svc.store.get_farm(entry.device.farm_id)).last_seq == 0


async def test_ingest_refuses_a_timestamp_older_than_the_allowed_age(
    svc: Services, clock: FakeClock, node: tuple[DeviceEntry, str]
) -> None:
    """One millisecond older than the accepted age is refused, naming the item's ts."""
    entry, _ = node
    with pytest.raises(ValidationFailed, match="older than the accepted age") as info:
        await svc.ingest.ingest(entry, reading_at(clock.wall_ms() - MAX_AGE_S * 1000 - 1))
    assert info.value.field == "readings[0].ts"


async def test_ingest_checks_status_and_event_timestamps_too(
    svc: Services, clock: FakeClock, node: tuple[DeviceEntry, str]
) -> None:
    """The window holds for a status's and each event's timestamp, named by their field."""
    entry, _ = node
    future = clock.wall_ms() + 3_600_000
    status = DeviceReport(status=ReportedStatus(DeviceState.ONLINE, {}, future))
    events = DeviceReport(
        events=[
            ReportedEvent(EventLevel.INFO, "ok", "", clock.wall_ms()),
            ReportedEvent(EventLevel.INFO, "late", "", future),
        ]
    )
    with pytest.raises(ValidationFailed) as info:
        await svc.ingest.ingest(entry, status)
    assert info.value.field == "status.ts"
    with pytest.raises(ValidationFailed) as info:
        await svc.ingest.ingest(entry, events)
    assert info.value.field == "events[1].ts"


async def test_ingest_window_moves_with_the_clock(
    svc: Services, clock: FakeClock, node: tuple[DeviceEntry, str]
) -> None:
    """A timestamp refused as too far ahead is accepted once the clock has caught up."""
    entry, _ = node
    ts = clock.wall_ms() + SKEW_S * 1000 + 60_000
    with pytest.raises(ValidationFailed):
        await svc.ingest.ingest(entry, reading_at(ts))
    clock.advance(60)
    assert (await svc.ingest.ingest(entry, reading_at(ts))).accepted == 1


async def test_ingest_rate_limit_refuses_past_the_burst_and_recovers(
    svc: Services, clock: FakeClock, node: tuple[DeviceEntry, str]
) -> None:
    """A device gets `burst` messages at once, the next is refused with the wait, and one
    more passes after 1/rate seconds; another device is not limited meanwhile."""
    _, key = node
    for _ in range(BURST - 1):  # the fixture's authenticate took the first token
        await svc.ingest.authenticate(key)
    with pytest.raises(RateLimited) as info:
        await svc.ingest.authenticate(key)
    assert info.value.retry_after_s == pytest.approx(1 / RATE_PER_S)
    _, other_key = await device(svc, "other", sensors=(TEMP,))
    await svc.ingest.authenticate(other_key)
    clock.advance(1 / RATE_PER_S)
    await svc.ingest.authenticate(key)
    with pytest.raises(RateLimited):
        await svc.ingest.authenticate(key)
