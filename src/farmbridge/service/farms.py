"""Farms, devices and sensors, and the dashboard's queries on them, each behind a role check."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from farmbridge.domain import (
    Device,
    DeviceKind,
    DeviceProfile,
    Event,
    Farm,
    PendingDevice,
    PendingState,
    Reading,
    ReadingBucket,
    Role,
    Sensor,
)
from farmbridge.domain.devices import MAX_ZONE_CHARS
from farmbridge.domain.displays import display_subject
from farmbridge.domain.errors import Conflict, ValidationFailed
from farmbridge.domain.liveness import MAX_EXPECTED_INTERVAL_S, MIN_EXPECTED_INTERVAL_S
from farmbridge.domain.queries import EventFilter, ExportRow
from farmbridge.domain.telemetry import SensorSpec
from farmbridge.service.access import AccessWatch, Principal
from farmbridge.service.directory import DeviceDirectory
from farmbridge.service.security import Secrets
from farmbridge.service.stream import StreamService
from farmbridge.store import Store


class Unset:
    """A field left out of a change (None there means: remove the value)."""


UNSET: Final = Unset()

MAX_BUCKETS: Final = 5_000
MAX_RAW_READINGS: Final = 10_000


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a dashboard needs to start: the farm, its devices, sensors with latest values."""

    farm: Farm
    devices: list[Device]
    sensors: list[Sensor]


FarmListener = Callable[[int, bool], None]
"""Hears of a farm renamed (False) or deleted (True), by its id."""


class FarmService:
    def __init__(
        self,
        store: Store,
        directory: DeviceDirectory,
        secrets: Secrets,
        stream: StreamService | None = None,
        watch: AccessWatch | None = None,
    ) -> None:
        """`watch` hears of the members and displays a deleted farm took with it."""
        self._store = store
        self._directory = directory
        self._secrets = secrets
        self._stream = stream
        self._watch = watch
        self._drop_handlers: list[FarmListener] = []
        self._change_listeners: list[FarmListener] = []

    def add_drop_handler(self, handler: FarmListener) -> None:
        """`handler` drops what it holds of a farm renamed or deleted, here or on another
        instance (the named-device cache, live subscriptions)."""
        self._drop_handlers.append(handler)

    def add_change_listener(self, listener: FarmListener) -> None:
        """Hears of each farm renamed or deleted here; the backplane tells the others."""
        self._change_listeners.append(listener)

    def drop_farm(self, farm_id: int, deleted: bool) -> None:
        """Drops what this process holds of the farm (another instance changed it)."""
        if deleted and self._stream is not None:
            self._stream.farm_removed(farm_id)
        for handler in self._drop_handlers:
            handler(farm_id, deleted)

    def _farm_changed(self, farm_id: int, deleted: bool) -> None:
        self.drop_farm(farm_id, deleted)
        for listener in self._change_listeners:
            listener(farm_id, deleted)

    async def create_farm(self, who: Principal, name: str, title: str) -> Farm:
        who.require_admin()
        return await self._store.create_farm(name, title or name)

    async def rename_farm(
        self, who: Principal, farm_id: int, name: str | None, title: str | None
    ) -> Farm:
        """Sets the farm's name or title or both (farm admin; a name left out stays, a
        title left out follows a new name as at creation). Raises Conflict for a name
        another farm has. Devices on MQTT address the farm by name: after a rename they
        must publish under the new one."""
        await self.require_farm(who, farm_id, Role.ADMIN)
        farm = await self._store.get_farm(farm_id)
        new_name = farm.name if name is None else name
        if title is not None:
            new_title = title or new_name
        else:
            new_title = new_name if farm.title == farm.name else farm.title
        renamed = await self._store.rename_farm(farm_id, new_name, new_title)
        if renamed.name != farm.name:
            self._farm_changed(farm_id, False)
        return renamed

    async def delete_farm(self, who: Principal, farm_id: int) -> None:
        """Deletes the farm and everything of it (global admin). Every live subscription
        to it ends (`unsubscribed`, reason `farm_deleted`) on every instance, its devices'
        keys stop working at once, and its display screens' sockets close."""
        who.require_admin()
        gone = await self._store.delete_farm(farm_id)
        for device_id in gone.device_ids:
            self._directory.forget_device(device_id)
        self._farm_changed(farm_id, True)
        if self._watch is not None:
            for user_id in gone.member_ids:
                self._watch.changed(user_id)
            for display_id in gone.display_ids:
                self._watch.changed(display_subject(display_id))

    async def list_farms(self, who: Principal) -> list[Farm]:
        return await self._store.list_farms(who.visible_farms())

    async def get_farm(self, who: Principal, farm_id: int) -> Farm:
        who.require(farm_id, Role.VIEWER, what="farm")
        return await self._store.get_farm(farm_id)

    async def require_farm(self, who: Principal, farm_id: int, needed: Role) -> None:
        """Raises Forbidden for too weak a role, NotFound when the farm does not exist or the
        caller has no role on it (the same answer, so farm ids cannot be enumerated)."""
        who.require(farm_id, needed, what="farm")
        if who.is_admin:
            # Members know their farm exists; a global admin passes any id, so check it.
            await self._store.get_farm(farm_id)

    async def snapshot(self, who: Principal, farm_id: int) -> Snapshot:
        who.require(farm_id, Role.VIEWER, what="farm")
        # Read the farm first: what the lists show is then at least as new as its last_seq.
        farm = await self._store.get_farm(farm_id)
        devices = await self._store.list_devices(farm_id)
        sensors = await self._store.list_sensors(farm_id=farm_id)
        return Snapshot(farm, devices, sensors)

    # Devices and sensors.

    async def create_device(
        self,
        who: Principal,
        farm_id: int,
        name: str,
        kind: DeviceKind,
        title: str,
        sensors: list[SensorSpec],
    ) -> tuple[Device, str]:
        """Returns the device and its key; the key is shown this once and stored hashed."""
        who.require(farm_id, Role.ADMIN, what="farm")
        return await self.register_device(farm_id, name, kind, title, sensors)

    async def register_device(
        self, farm_id: int, name: str, kind: DeviceKind, title: str, sensors: list[SensorSpec]
    ) -> tuple[Device, str]:
        """create_device without a role check, for the machine's owner (CLI, demo)."""
        _check_sensor_specs(sensors)
        key = self._secrets.new_device_key()
        device = await self._store.create_device(
            farm_id, name, kind, title or name, self._secrets.device_key_hash(key), sensors
        )
        self._directory.forget_misses()  # a message just before this finds it at once
        await self._announce(device)
        return device, key

    async def _announce(self, device: Device) -> None:
        if self._stream is not None:
            sensors = await self._store.list_sensors(device_id=device.id)
            self._stream.device_changed(device, sensors)

    async def device(self, who: Principal, device_id: int, needed: Role = Role.VIEWER) -> Device:
        device = await self._store.get_device(device_id)
        who.require(device.farm_id, needed, what="device")
        return device

    async def list_devices(self, who: Principal, farm_id: int) -> list[Device]:
        await self.require_farm(who, farm_id, Role.VIEWER)
        return await self._store.list_devices(farm_id)

    async def rotate_key(self, who: Principal, device_id: int) -> str:
        await self.device(who, device_id, Role.ADMIN)
        return await self.rekey_device(device_id)

    async def rekey_device(self, device_id: int) -> str:
        """rotate_key without a role check, for the machine's owner (CLI, demo)."""
        key = self._secrets.new_device_key()
        await self._store.set_device_key_hash(device_id, self._secrets.device_key_hash(key))
        self._directory.forget_device(device_id)
        return key

    async def set_expected_interval(
        self, who: Principal, device_id: int, interval_s: float | None
    ) -> Device:
        """Sets the device's expected reporting interval (farm admin); None: learn it.
        Raises ValidationFailed (field expected_interval_s) outside the accepted bounds."""
        await self.device(who, device_id, Role.ADMIN)
        if interval_s is not None and not (
            math.isfinite(interval_s)
            and MIN_EXPECTED_INTERVAL_S <= interval_s <= MAX_EXPECTED_INTERVAL_S
        ):
            raise ValidationFailed(
                f"expected_interval_s must be between {MIN_EXPECTED_INTERVAL_S} and "
                f"{MAX_EXPECTED_INTERVAL_S:.0f} seconds, or null",
                field="expected_interval_s",
            )
        device = await self._store.set_expected_interval(device_id, interval_s)
        await self._announce(device)
        return device

    async def set_device_profile(
        self,
        who: Principal,
        device_id: int,
        *,
        name: str | None = None,
        title: str | None = None,
        zone: str | Unset | None = UNSET,
        confirm_commands: bool | None = None,
    ) -> Device:
        """Changes the fields given of the device's profile (farm admin); an empty or
        blank zone is no zone. Raises Conflict for a name another device of the farm has,
        ValidationFailed (field zone) for a zone over MAX_ZONE_CHARS."""
        device = await self.device(who, device_id, Role.ADMIN)
        new_zone = device.zone if isinstance(zone, Unset) else _zone(zone)
        profile = DeviceProfile(
            name=device.name if name is None else name,
            title=device.title if title is None else (title or (name or device.name)),
            zone=new_zone,
            confirm_commands=(
                device.confirm_commands if confirm_commands is None else confirm_commands
            ),
        )
        changed = await self._store.set_device_profile(device_id, profile)
        self._directory.forget_device(device_id)
        await self._announce(changed)
        return changed

    async def set_sensor_range(
        self,
        who: Principal,
        sensor_id: int,
        *,
        unit: str | None = None,
        min_value: float | Unset | None = UNSET,
        max_value: float | Unset | None = UNSET,
    ) -> Sensor:
        """Changes the sensor's unit or the bounds of its readings (farm admin); a bound
        given as None is removed. Raises ValidationFailed (field min) when min is not below
        max. Readings already stored stay; new ones outside the bounds are refused."""
        sensor = await self._store.get_sensor(sensor_id)
        who.require(sensor.farm_id, Role.ADMIN, what="sensor")
        lo = sensor.min_value if isinstance(min_value, Unset) else min_value
        hi = sensor.max_value if isinstance(max_value, Unset) else max_value
        if lo is not None and hi is not None and not lo < hi:
            raise ValidationFailed("min must be below max", field="min")
        changed = await self._store.set_sensor_range(
            sensor_id, sensor.unit if unit is None else unit, lo, hi
        )
        self._directory.forget_device(sensor.device_id)
        await self._announce(await self._store.get_device(sensor.device_id))
        return changed

    async def delete_device(self, who: Principal, device_id: int) -> None:
        """Deletes the device (farm admin); its removal streams like any change, so every
        open dashboard drops it (the farm's channel applies it as it is published)."""
        await self.device(who, device_id, Role.ADMIN)
        await self._store.delete_device(device_id)
        self._directory.forget_device(device_id)

    async def add_sensor(self, who: Principal, device_id: int, spec: SensorSpec) -> Sensor:
        await self.device(who, device_id, Role.ADMIN)
        _check_sensor_specs([spec])
        sensor = await self._store.create_sensor(device_id, spec)
        self._directory.forget_device(device_id)
        await self._announce(await self._store.get_device(device_id))
        return sensor

    async def register_sensors(self, device_id: int, specs: list[SensorSpec]) -> None:
        """add_sensor without a role check, for sensors a device announces itself (MQTT
        discovery, a new key in its telemetry); names already there are skipped."""
        _check_sensor_specs(specs)
        have = {s.name for s in await self._store.list_sensors(device_id=device_id)}
        for spec in specs:
            if spec.name not in have:
                # Conflict: registered meanwhile by a concurrent message.
                with contextlib.suppress(Conflict):
                    await self._store.create_sensor(device_id, spec)
        self._directory.forget_device(device_id)
        await self._announce(await self._store.get_device(device_id))

    # Devices heard of but not registered.

    async def list_pending(self, who: Principal, farm_id: int) -> list[PendingDevice]:
        await self.require_farm(who, farm_id, Role.ADMIN)
        return await self._store.list_pending_devices(farm_id)

    async def approve_pending(
        self, who: Principal, pending_id: int, kind: DeviceKind, title: str
    ) -> tuple[Device, str]:
        """Registers a pending device under the name it reported; returns it and its key."""
        pending = await self._store.get_pending_device(pending_id)
        who.require(pending.farm_id, Role.ADMIN, what="pending device")
        device, key = await self.register_device(pending.farm_id, pending.name, kind, title, [])
        await self._store.delete_pending_device(pending_id)
        return device, key

    async def reject_pending(self, who: Principal, pending_id: int) -> PendingDevice:
        """Keeps the device on record as rejected: its messages stay dropped, unlisted."""
        pending = await self._store.get_pending_device(pending_id)
        who.require(pending.farm_id, Role.ADMIN, what="pending device")
        await self._store.set_pending_state(pending_id, PendingState.REJECTED)
        return await self._store.get_pending_device(pending_id)

    async def get_pending(self, who: Principal, pending_id: int) -> PendingDevice:
        pending = await self._store.get_pending_device(pending_id)
        who.require(pending.farm_id, Role.ADMIN, what="pending device")
        return pending

    async def forget_pending(self, who: Principal, pending_id: int) -> None:
        """Deletes the record, pending or rejected: a device that sends again reappears."""
        pending = await self._store.get_pending_device(pending_id)
        who.require(pending.farm_id, Role.ADMIN, what="pending device")
        await self._store.delete_pending_device(pending_id)

    async def list_sensors(self, who: Principal, farm_id: int) -> list[Sensor]:
        await self.require_farm(who, farm_id, Role.VIEWER)
        return await self._store.list_sensors(farm_id=farm_id)

    async def sensor(self, who: Principal, sensor_id: int) -> Sensor:
        sensor = await self._store.get_sensor(sensor_id)
        who.require(sensor.farm_id, Role.VIEWER, what="sensor")
        return sensor

    # Queries.

    async def readings(
        self, who: Principal, sensor_id: int, start_ms: int, end_ms: int, limit: int
    ) -> list[Reading]:
        await self.sensor(who, sensor_id)
        _check_range(start_ms, end_ms)
        return await self._store.readings(
            sensor_id, start_ms, end_ms, limit=min(limit, MAX_RAW_READINGS)
        )

    async def buckets(
        self, who: Principal, sensor_id: int, start_ms: int, end_ms: int, bucket_ms: int
    ) -> list[ReadingBucket]:
        await self.sensor(who, sensor_id)
        _check_range(start_ms, end_ms)
        if bucket_ms <= 0 or (end_ms - start_ms) / bucket_ms > MAX_BUCKETS:
            raise ValidationFailed(
                f"bucket must be positive and give at most {MAX_BUCKETS} buckets", field="bucket_s"
            )
        return await self._store.reading_buckets(sensor_id, start_ms, end_ms, bucket_ms)

    async def events(self, who: Principal, farm_id: int, flt: EventFilter) -> list[Event]:
        await self.require_farm(who, farm_id, Role.VIEWER)
        return await self._store.events(farm_id, flt)

    async def export_chunk(
        self,
        who: Principal,
        farm_id: int,
        start_ms: int,
        end_ms: int,
        after_seq: int,
        sensor_ids: Sequence[int] | None = None,
    ) -> list[ExportRow]:
        """The next chunk of the farm's readings (of `sensor_ids` only, when given). The
        first call (after_seq 0) checks the farm and that every sensor is one of it:
        ValidationFailed (field sensor) names the first that is not."""
        if after_seq == 0:
            await self.require_farm(who, farm_id, Role.VIEWER)
            if sensor_ids is not None:
                theirs = {s.id for s in await self._store.list_sensors(farm_id=farm_id)}
                for sid in sensor_ids:
                    if sid not in theirs:
                        raise ValidationFailed(
                            f"sensor {sid} is not a sensor of farm {farm_id}", field="sensor"
                        )
        else:
            who.require(farm_id, Role.VIEWER, what="farm")
        _check_range(start_ms, end_ms)
        return await self._store.export_readings(
            farm_id, start_ms, end_ms, after_seq=after_seq, sensor_ids=sensor_ids
        )


def _zone(zone: str | None) -> str | None:
    if zone is None or not zone.strip():
        return None
    if len(zone.strip()) > MAX_ZONE_CHARS:
        raise ValidationFailed(f"zone must be at most {MAX_ZONE_CHARS} characters", field="zone")
    return zone.strip()


def _check_range(start_ms: int, end_ms: int) -> None:
    if end_ms <= start_ms:
        raise ValidationFailed("end must be after start", field="end")


def _check_sensor_specs(specs: list[SensorSpec]) -> None:
    names = set()
    for i, s in enumerate(specs):
        if s.name in names:
            raise ValidationFailed(f"sensor {s.name!r} named twice", field=f"sensors[{i}].name")
        names.add(s.name)
        if s.min_value is not None and s.max_value is not None and s.min_value > s.max_value:
            raise ValidationFailed("min above max", field=f"sensors[{i}].min")
