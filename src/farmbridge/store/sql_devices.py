"""The SQL store's farms aggregate: farms, their devices and sensors, pending devices."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any, Final

from sqlalchemy import ColumnElement, Connection, Table, delete, insert, select, update

from farmbridge.domain import (
    Device,
    DeviceKind,
    DeviceProfile,
    DeviceRemoved,
    Farm,
    PendingDevice,
    PendingState,
    Sensor,
)
from farmbridge.domain.errors import Conflict, NotFound
from farmbridge.domain.telemetry import SensorSpec
from farmbridge.store import rows
from farmbridge.store.database import SqlAggregate, one_row, updater
from farmbridge.store.dialect import upsert
from farmbridge.store.ingest_writes import allocate_seqs
from farmbridge.store.results import DeviceDeleted, FarmDeleted
from farmbridge.store.schema import (
    alarm_changes,
    alarm_rule_audit,
    alarm_rules,
    alarm_watches,
    alarms,
    command_updates,
    commands,
    deliveries,
    device_removals,
    devices,
    displays,
    email_recipients,
    events,
    farms,
    history_marks,
    ingest_messages,
    lorawan_profiles,
    memberships,
    outbox,
    pending_devices,
    reading_rollups,
    readings,
    sensors,
    status_changes,
    webhooks,
)

FARM_TABLES: Final[tuple[Table, ...]] = (
    deliveries,
    outbox,
    email_recipients,
    webhooks,
    alarm_changes,
    alarms,
    alarm_rule_audit,
    alarm_rules,
    command_updates,
    commands,
    device_removals,
    readings,
    reading_rollups,
    status_changes,
    events,
    sensors,
    devices,
    pending_devices,
    displays,
    memberships,
    history_marks,
)
"""Every table with a farm_id column, children before parents: a farm's deletion empties
them in this order (tests/unit/test_store_farms.py checks none is missed)."""


class SqlDevices(SqlAggregate):
    """See farmbridge.store.base.FarmStore for the contract of each method."""

    # Farms.

    async def create_farm(self, name: str, title: str) -> Farm:
        created = self._db.clock.wall_ms()
        epoch = secrets.token_hex(8)

        def fn(c: Connection) -> Farm:
            if c.execute(select(farms.c.id).where(farms.c.name == name)).first():
                raise Conflict(f"farm {name!r} exists already")
            fid = c.execute(
                insert(farms).values(
                    name=name, title=title, created_ms=created, last_seq=0, epoch=epoch
                )
            ).inserted_primary_key
            assert fid is not None
            return Farm(fid[0], name, title, created, 0, epoch)

        return await self._db.write(fn)

    async def get_farm(self, farm_id: int) -> Farm:
        return await self._db.read(
            lambda c: rows.farm(one_row(c, farms, farms.c.id == farm_id, "farm"))
        )

    async def get_farm_by_name(self, name: str) -> Farm:
        return await self._db.read(
            lambda c: rows.farm(one_row(c, farms, farms.c.name == name, "farm"))
        )

    async def rename_farm(self, farm_id: int, name: str, title: str) -> Farm:
        def fn(c: Connection) -> Farm:
            one_row(c, farms, farms.c.id == farm_id, "farm")
            if c.execute(
                select(farms.c.id).where(farms.c.name == name, farms.c.id != farm_id)
            ).first():
                raise Conflict(f"farm {name!r} exists already")
            c.execute(update(farms).where(farms.c.id == farm_id).values(name=name, title=title))
            return rows.farm(one_row(c, farms, farms.c.id == farm_id, "farm"))

        return await self._db.write(fn)

    async def delete_farm(self, farm_id: int) -> FarmDeleted:
        def fn(c: Connection) -> FarmDeleted:
            # The farm row first, as every writer on the farm locks it (ingest_writes): a
            # write in flight on this farm commits before or waits and finds no farm.
            if (
                c.execute(select(farms.c.id).where(farms.c.id == farm_id).with_for_update()).first()
                is None
            ):
                raise NotFound("farm not found")
            gone = FarmDeleted(
                farm_id,
                _ids(c, devices.c.id, devices.c.farm_id == farm_id),
                _ids(c, displays.c.id, displays.c.farm_id == farm_id),
                _ids(c, memberships.c.user_id, memberships.c.farm_id == farm_id),
                tuple(
                    c.execute(
                        select(pending_devices.c.name).where(pending_devices.c.farm_id == farm_id)
                    ).scalars()
                ),
            )
            rules = select(alarm_rules.c.id).where(alarm_rules.c.farm_id == farm_id)
            farm_devices = select(devices.c.id).where(devices.c.farm_id == farm_id)
            # Children before parents, so no foreign key (cascading or not) is relied on.
            c.execute(delete(alarm_watches).where(alarm_watches.c.rule_id.in_(rules)))
            c.execute(delete(ingest_messages).where(ingest_messages.c.device_id.in_(farm_devices)))
            c.execute(
                delete(lorawan_profiles).where(lorawan_profiles.c.device_id.in_(farm_devices))
            )
            for table in FARM_TABLES:
                c.execute(delete(table).where(table.c.farm_id == farm_id))
            c.execute(delete(farms).where(farms.c.id == farm_id))
            return gone

        return await self._db.write(fn)

    async def list_farms(self, farm_ids: Iterable[int] | None = None) -> list[Farm]:
        q = select(farms).order_by(farms.c.id)
        if farm_ids is not None:
            q = q.where(farms.c.id.in_(list(farm_ids)))
        return await self._db.read(lambda c: [rows.farm(r) for r in c.execute(q)])

    # Devices.

    async def create_device(
        self,
        farm_id: int,
        name: str,
        kind: DeviceKind,
        title: str,
        key_hash: str,
        sensor_specs: Iterable[SensorSpec] = (),
    ) -> Device:
        created = self._db.clock.wall_ms()
        specs = list(sensor_specs)

        def fn(c: Connection) -> Device:
            one_row(c, farms, farms.c.id == farm_id, "farm")
            if c.execute(
                select(devices.c.id).where(devices.c.farm_id == farm_id, devices.c.name == name)
            ).first():
                raise Conflict(f"device {name!r} exists already on farm {farm_id}")
            pk = c.execute(
                insert(devices).values(
                    farm_id=farm_id,
                    name=name,
                    kind=kind.value,
                    title=title,
                    key_hash=key_hash,
                    created_ms=created,
                    state="unknown",
                    actuator={},
                    status_ts_ms=0,
                    status_seq=0,
                )
            ).inserted_primary_key
            assert pk is not None
            for spec in specs:
                _insert_sensor(c, pk[0], farm_id, spec)
            return rows.device(one_row(c, devices, devices.c.id == pk[0], "device"))

        return await self._db.write(fn)

    async def get_device(self, device_id: int) -> Device:
        return await self._db.read(
            lambda c: rows.device(one_row(c, devices, devices.c.id == device_id, "device"))
        )

    async def get_device_by_key_hash(self, key_hash: str) -> Device:
        return await self._db.read(
            lambda c: rows.device(one_row(c, devices, devices.c.key_hash == key_hash, "device"))
        )

    async def get_device_by_name(self, farm_id: int, name: str) -> Device:
        where = (devices.c.farm_id == farm_id) & (devices.c.name == name)
        return await self._db.read(lambda c: rows.device(one_row(c, devices, where, "device")))

    async def list_devices(self, farm_id: int) -> list[Device]:
        q = select(devices).where(devices.c.farm_id == farm_id).order_by(devices.c.id)
        return await self._db.read(lambda c: [rows.device(r) for r in c.execute(q)])

    async def set_device_key_hash(self, device_id: int, key_hash: str) -> None:
        await self._db.write(
            updater(devices, devices.c.id == device_id, "device", key_hash=key_hash)
        )

    async def set_expected_interval(self, device_id: int, interval_s: float | None) -> Device:
        def fn(c: Connection) -> Device:
            where = devices.c.id == device_id
            updater(devices, where, "device", expected_interval_s=interval_s)(c)
            return rows.device(one_row(c, devices, where, "device"))

        return await self._db.write(fn)

    async def set_device_profile(self, device_id: int, profile: DeviceProfile) -> Device:
        def fn(c: Connection) -> Device:
            where = devices.c.id == device_id
            farm_id = one_row(c, devices, where, "device").farm_id
            if c.execute(
                select(devices.c.id).where(
                    devices.c.farm_id == farm_id,
                    devices.c.name == profile.name,
                    devices.c.id != device_id,
                )
            ).first():
                raise Conflict(f"device {profile.name!r} exists already on farm {farm_id}")
            c.execute(
                update(devices)
                .where(where)
                .values(
                    name=profile.name,
                    title=profile.title,
                    zone=profile.zone,
                    confirm_commands=profile.confirm_commands,
                )
            )
            return rows.device(one_row(c, devices, where, "device"))

        return await self._db.write(fn)

    async def delete_device(self, device_id: int) -> DeviceDeleted:
        at = self._db.clock.wall_ms()

        def fn(c: Connection) -> DeviceDeleted:
            farm_id = c.execute(
                select(devices.c.farm_id).where(devices.c.id == device_id)
            ).scalar_one_or_none()
            if farm_id is None:
                raise NotFound(f"device {device_id} not found")
            # The farm row is locked before the device rows, as everywhere (sql_liveness).
            seq = allocate_seqs(c, {farm_id: 1})[farm_id] + 1
            c.execute(delete(sensors).where(sensors.c.device_id == device_id))
            c.execute(delete(commands).where(commands.c.device_id == device_id))
            c.execute(delete(lorawan_profiles).where(lorawan_profiles.c.device_id == device_id))
            if not c.execute(delete(devices).where(devices.c.id == device_id)).rowcount:
                raise NotFound(f"device {device_id} not found")
            removal = DeviceRemoved(farm_id, device_id, seq, at)
            c.execute(
                insert(device_removals).values(
                    farm_id=farm_id, seq=seq, device_id=device_id, ts_ms=at
                )
            )
            return DeviceDeleted(removal)

        return await self._db.write_streamed(fn)

    # Sensors.

    async def create_sensor(self, device_id: int, spec: SensorSpec) -> Sensor:
        def fn(c: Connection) -> Sensor:
            dev = one_row(c, devices, devices.c.id == device_id, "device")
            return _insert_sensor(c, device_id, dev.farm_id, spec)

        return await self._db.write(fn)

    async def list_sensors(
        self, *, farm_id: int | None = None, device_id: int | None = None
    ) -> list[Sensor]:
        q = select(sensors).order_by(sensors.c.id)
        if farm_id is not None:
            q = q.where(sensors.c.farm_id == farm_id)
        if device_id is not None:
            q = q.where(sensors.c.device_id == device_id)
        return await self._db.read(lambda c: [rows.sensor(r) for r in c.execute(q)])

    async def get_sensor(self, sensor_id: int) -> Sensor:
        return await self._db.read(
            lambda c: rows.sensor(one_row(c, sensors, sensors.c.id == sensor_id, "sensor"))
        )

    async def set_sensor_range(
        self, sensor_id: int, unit: str, min_value: float | None, max_value: float | None
    ) -> Sensor:
        def fn(c: Connection) -> Sensor:
            where = sensors.c.id == sensor_id
            updater(sensors, where, "sensor", unit=unit, min_value=min_value, max_value=max_value)(
                c
            )
            return rows.sensor(one_row(c, sensors, where, "sensor"))

        return await self._db.write(fn)

    # Devices heard of but not registered.

    async def note_pending_device(
        self, farm_id: int, name: str, source: str, sample: str, now_ms: int
    ) -> PendingDevice:
        def fn(c: Connection) -> PendingDevice:
            upsert(
                c,
                pending_devices,
                key=("farm_id", "name"),
                values={
                    "farm_id": farm_id,
                    "name": name,
                    "source": source,
                    "state": PendingState.PENDING.value,
                    "first_seen_ms": now_ms,
                    "last_seen_ms": now_ms,
                    "messages": 1,
                    "sample": sample,
                },
                on_conflict={
                    "last_seen_ms": now_ms,
                    "messages": pending_devices.c.messages + 1,
                    "sample": sample,
                    "source": source,
                },
            )
            where = (pending_devices.c.farm_id == farm_id) & (pending_devices.c.name == name)
            return rows.pending_device(one_row(c, pending_devices, where, "pending device"))

        return await self._db.write(fn)

    async def list_pending_devices(self, farm_id: int) -> list[PendingDevice]:
        q = (
            select(pending_devices)
            .where(pending_devices.c.farm_id == farm_id)
            .order_by(pending_devices.c.id)
        )
        return await self._db.read(lambda c: [rows.pending_device(r) for r in c.execute(q)])

    async def get_pending_device(self, pending_id: int) -> PendingDevice:
        return await self._db.read(
            lambda c: rows.pending_device(
                one_row(c, pending_devices, pending_devices.c.id == pending_id, "pending device")
            )
        )

    async def set_pending_state(self, pending_id: int, state: PendingState) -> None:
        await self._db.write(
            updater(
                pending_devices,
                pending_devices.c.id == pending_id,
                "pending device",
                state=state.value,
            )
        )

    async def delete_pending_device(self, pending_id: int) -> None:
        def fn(c: Connection) -> None:
            q = delete(pending_devices).where(pending_devices.c.id == pending_id)
            if not c.execute(q).rowcount:
                raise NotFound("pending device not found")

        await self._db.write(fn)


def _ids(c: Connection, column: Any, where: ColumnElement[bool]) -> tuple[int, ...]:
    return tuple(int(v) for v in c.execute(select(column).where(where)).scalars())


def _insert_sensor(c: Connection, device_id: int, farm_id: int, spec: SensorSpec) -> Sensor:
    if c.execute(
        select(sensors.c.id).where(sensors.c.device_id == device_id, sensors.c.name == spec.name)
    ).first():
        raise Conflict(f"sensor {spec.name!r} exists already on device {device_id}")
    pk = c.execute(
        insert(sensors).values(
            device_id=device_id,
            farm_id=farm_id,
            name=spec.name,
            unit=spec.unit,
            min_value=spec.min_value,
            max_value=spec.max_value,
        )
    ).inserted_primary_key
    assert pk is not None
    return Sensor(pk[0], device_id, farm_id, spec.name, spec.unit, spec.min_value, spec.max_value)
