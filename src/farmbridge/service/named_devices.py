"""Messages from devices named by a topic or a network server rather than by their own key.

MQTT conventions and LoRaWAN integrations identify a device by its name on a farm (the
broker or the network server authenticated it). A name that is not registered is held as
pending for an admin, or dropped, by setting: never created silently. A registered
device's new sensors are registered as they first report, since these devices announce
what they measure in their messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final, Literal

from farmbridge import metrics
from farmbridge.domain import DeviceState, IngestBatch, IngestResult, PendingState
from farmbridge.domain.clock import Clock
from farmbridge.domain.errors import NotFound, ValidationFailed
from farmbridge.domain.reports import DeviceReport, ReportedStatus
from farmbridge.domain.telemetry import SensorSpec
from farmbridge.service.directory import DeviceDirectory, DeviceEntry
from farmbridge.service.farms import FarmService
from farmbridge.service.ingest import IngestService
from farmbridge.store import Store
from farmbridge.store.results import OfflineCandidate

MAX_AUTO_SENSORS: Final = 64
"""A device that reports more distinct keys than this is misbehaving, not measuring."""

SAMPLE_CHARS: Final = 500
NOTE_EVERY_S: Final = 10.0
FARM_MISS_TTL_S: Final = 5.0


class NamedDeviceService:
    def __init__(
        self,
        store: Store,
        directory: DeviceDirectory,
        farms: FarmService,
        ingest: IngestService,
        *,
        unknown_devices: Literal["pending", "reject"],
        clock: Clock,
    ) -> None:
        """Caches of misses and of pending-device notes expire on `clock`'s monotonic
        time; reports are received at its wall time unless the adapter says otherwise."""
        self._store = store
        self._clock = clock
        self._directory = directory
        self._farms = farms
        self._ingest = ingest
        self._unknown = unknown_devices
        self._farm_ids: dict[str, int] = {}
        self._farm_misses: dict[str, float] = {}
        self._noted: dict[tuple[int, str], float] = {}
        self._rejected: set[tuple[int, str]] = set()
        self._forget_listeners: list[Callable[[int, str], None]] = []

    async def farm_id(self, name: str) -> int | None:
        """The id of the farm of that name, or None; cached until the farm is renamed or
        deleted (`drop_farm`)."""
        fid = self._farm_ids.get(name)
        if fid is not None:
            return fid
        missed = self._farm_misses.get(name)
        if missed is not None and self._clock.monotonic() - missed < FARM_MISS_TTL_S:
            return None
        try:
            farm = await self._store.get_farm_by_name(name)
        except NotFound:
            self._farm_misses[name] = self._clock.monotonic()
            return None
        self._farm_ids[name] = farm.id
        return farm.id

    async def device(
        self, farm_id: int, name: str, *, source: str, sample: bytes
    ) -> DeviceEntry | None:
        """The registered device, or None after holding (or dropping) an unknown one."""
        entry = await self._directory.by_name(farm_id, name)
        if entry is not None:
            return entry
        metrics.UNKNOWN_DEVICE_MESSAGES.labels(source).inc()
        key = (farm_id, name)
        if self._unknown == "reject" or key in self._rejected:
            return None
        now = self._clock.monotonic()
        # One write per device per few seconds, however fast an unknown device sends.
        if now - self._noted.get(key, 0.0) >= NOTE_EVERY_S:
            self._noted[key] = now
            pending = await self._store.note_pending_device(
                farm_id,
                name,
                source,
                sample[:SAMPLE_CHARS].decode("utf-8", "replace"),
                self._clock.wall_ms(),
            )
            if pending.state is PendingState.REJECTED:
                self._rejected.add(key)
        return None

    async def device_by_key(self, key: str) -> DeviceEntry:
        """A device named by its key (raises Unauthenticated, RateLimited)."""
        return await self._ingest.authenticate(key)

    async def prepare(
        self,
        entry: DeviceEntry,
        report: DeviceReport,
        *,
        units: dict[str, str] | None = None,
        received_ms: int | None = None,
    ) -> IngestBatch:
        """Registers sensors the report names for the first time, then validates it
        (raises ValidationFailed naming the field at fault)."""
        missing = sorted({r.sensor for r in report.readings} - entry.sensors.keys())
        if missing:
            entry = await self.add_sensors(entry, missing, units or {})
        if received_ms is None:
            received_ms = self._clock.wall_ms()
        return self._ingest.to_batch(entry, report, received_ms)

    def submit(self, batch: IngestBatch) -> asyncio.Future[IngestResult]:
        """Queues a batch for the durable commit at once, so batches submitted one after
        another are stored in that order; the future completes after the commit."""
        return asyncio.ensure_future(self._store.ingest(batch))

    async def store(
        self,
        entry: DeviceEntry,
        report: DeviceReport,
        *,
        units: dict[str, str] | None = None,
        received_ms: int | None = None,
    ) -> IngestResult:
        """prepare, then store durably."""
        batch = await self.prepare(entry, report, units=units, received_ms=received_ms)
        return await self._store.ingest(batch)

    async def add_sensors(
        self, entry: DeviceEntry, names: list[str], units: dict[str, str]
    ) -> DeviceEntry:
        new = [n for n in names if n not in entry.sensors]
        if not new:
            return entry
        if len(entry.sensors) + len(new) > MAX_AUTO_SENSORS:
            raise ValidationFailed(
                f"device {entry.device.name!r} would have more than {MAX_AUTO_SENSORS} sensors",
                field="readings",
            )
        await self._farms.register_sensors(
            entry.device.id, [SensorSpec(n, units.get(n, "")) for n in new]
        )
        fresh = await self._directory.by_name(entry.device.farm_id, entry.device.name)
        return fresh or entry

    async def news_in(self, entry: DeviceEntry, report: DeviceReport) -> DeviceReport | None:
        """What a retained message adds to what is stored: the broker re-sends a topic's
        retained message on every (re)subscription, so readings equal to their sensor's
        latest stored value and a status equal to the stored one are old news. None when
        nothing is left."""
        latest = {
            s.name: s.last_value for s in await self._store.list_sensors(device_id=entry.device.id)
        }
        readings = [r for r in report.readings if latest.get(r.sensor) != r.value]
        status = report.status
        if status is not None:
            current = (await self._store.get_device(entry.device.id)).status
            if current.state == status.state and (
                not status.actuator or current.actuator == status.actuator
            ):
                status = None
        if not readings and status is None and not report.events:
            return None
        return DeviceReport(readings, status, list(report.events), report.message_id)

    async def liveness(self, entry: DeviceEntry, online: bool, ts_ms: int) -> DeviceReport:
        """The report of an online/offline change (it streams like any status change)."""
        state = DeviceState.ONLINE if online else DeviceState.OFFLINE
        # The cached entry's status is as old as the cache: keep the actuator state stored now.
        current = await self._store.get_device(entry.device.id)
        return DeviceReport(status=ReportedStatus(state, dict(current.status.actuator), ts_ms))

    async def mark_silent(self, entry: DeviceEntry, now_ms: int) -> bool:
        """Marks a device offline after a silence its adapter timed (MQTT's timeout), as
        the liveness sweep does: only while it is stored online and unheard of since, so
        the sweep and this never say it twice. True when this call marked it."""
        d = await self._store.get_device(entry.device.id)
        if d.status.state is not DeviceState.ONLINE or d.last_seen_ms is None:
            return False
        seen = OfflineCandidate(d.id, d.farm_id, d.status.state, d.last_seen_ms)
        return bool((await self._store.mark_offline([seen], now_ms)).records)

    def add_forget_listener(self, listener: Callable[[int, str], None]) -> None:
        """Hears of each pending device forgotten here; the backplane tells the others."""
        self._forget_listeners.append(listener)

    def forget(self, farm_id: int, name: str) -> None:
        """After an admin approves or forgets a pending device."""
        self.drop(farm_id, name)
        for listener in self._forget_listeners:
            listener(farm_id, name)

    def drop_farm(self, farm_id: int, deleted: bool) -> None:
        """Forgets the farm's name (renamed or deleted, here or on another instance), and
        every miss, as the new name may be one of them; a deleted farm's notes go too."""
        for name in [n for n, fid in self._farm_ids.items() if fid == farm_id]:
            del self._farm_ids[name]
        self._farm_misses.clear()
        if deleted:
            self._rejected = {k for k in self._rejected if k[0] != farm_id}
            for key in [k for k in self._noted if k[0] == farm_id]:
                del self._noted[key]

    def drop(self, farm_id: int, name: str) -> None:
        """Forgets what this process noted of the device (another instance forgot it)."""
        self._rejected.discard((farm_id, name))
        self._noted.pop((farm_id, name), None)
