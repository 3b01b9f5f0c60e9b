"""SqlStore: the Store on SQLAlchemy Core, SQLite by default, PostgreSQL by URL.

Writes go through one group-commit writer thread; reads run on a small thread pool
(SQLite in WAL mode lets them proceed while the writer commits).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError, NoResultFound, OperationalError, SQLAlchemyError

from farmbridge.domain import (
    Change,
    Command,
    CommandState,
    CommandUpdate,
    Device,
    DeviceKind,
    Event,
    Farm,
    IngestBatch,
    IngestResult,
    Membership,
    PendingDevice,
    PendingState,
    Reading,
    ReadingBucket,
    Role,
    Sensor,
    User,
)
from farmbridge.domain.commands import can_transition
from farmbridge.domain.errors import Conflict, DomainError, NotFound, StoreUnavailable
from farmbridge.store import migrate, rows
from farmbridge.store.base import ChangeListener, EventFilter, SensorSpec, changes_of
from farmbridge.store.engine import build_engine
from farmbridge.store.ingest_writes import allocate_seqs, write_ingest_group
from farmbridge.store.schema import (
    command_updates,
    commands,
    devices,
    events,
    farms,
    ingest_messages,
    memberships,
    pending_devices,
    readings,
    sensors,
    status_changes,
    users,
)
from farmbridge.store.writer import GroupCommitWriter

T = TypeVar("T")
log = logging.getLogger(__name__)
WriteFn = Callable[[Connection], Any]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def translate(exc: Exception) -> Exception:
    """Maps driver exceptions to the domain tree; domain errors pass through."""
    if isinstance(exc, DomainError):
        return exc
    if isinstance(exc, IntegrityError):
        return Conflict(f"conflicts with existing data: {exc.orig}")
    if isinstance(exc, NoResultFound):
        return NotFound("not found")
    if isinstance(exc, OperationalError | SQLAlchemyError):
        err = StoreUnavailable(f"store unavailable: {exc.__class__.__name__}")
        err.__cause__ = exc
        return err
    return exc


class SqlStore:
    """See farmbridge.store.base.Store for the contract of each method."""

    def __init__(
        self,
        url: str,
        *,
        commit_window_s: float = 0.0,
        commit_max_jobs: int = 512,
        sqlite_synchronous: str = "FULL",
    ) -> None:
        self.engine = build_engine(url, sqlite_synchronous=sqlite_synchronous)
        self._writer = GroupCommitWriter(
            self.engine,
            self._handle_group,
            window_s=commit_window_s,
            max_jobs=commit_max_jobs,
            translate=translate,
            on_commit=self._committed,
        )
        self._listeners: list[ChangeListener] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def add_listener(self, listener: ChangeListener) -> None:
        """Calls `listener(changes)` on the event loop after each commit, in commit order."""
        self._listeners.append(listener)

    def _committed(self, results: list[Any]) -> None:
        if not self._listeners or self._loop is None:
            return
        changes = [c for r in results for c in changes_of(r)]
        if changes:
            self._loop.call_soon_threadsafe(self._notify, changes)

    def _notify(self, changes: list[Change]) -> None:
        for listener in self._listeners:
            try:
                listener(changes)
            except Exception:
                log.exception("change listener failed")

    # Lifecycle.

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(migrate.upgrade, self.engine)
        self._writer.start()

    async def close(self) -> None:
        await asyncio.to_thread(self._writer.stop)
        self.engine.dispose()

    async def ping(self) -> None:
        await self._read(lambda c: c.execute(text("SELECT 1")).scalar_one())

    @property
    def writer_stats(self) -> tuple[int, int]:
        """(groups committed, jobs committed): their ratio is the group-commit factor."""
        return self._writer.groups, self._writer.jobs

    # Plumbing.

    async def _read(self, fn: Callable[[Connection], T]) -> T:
        def run() -> T:
            try:
                with self.engine.connect() as conn:
                    return fn(conn)
            except Exception as exc:
                raise translate(exc) from exc

        return await asyncio.to_thread(run)

    async def _write(self, fn: Callable[[Connection], T]) -> T:
        result: T = await self._writer.submit(fn)
        return result

    def _handle_group(self, conn: Connection, payloads: Sequence[Any]) -> list[Any]:
        out: list[Any] = []
        run: list[IngestBatch] = []
        for p in payloads:
            if isinstance(p, IngestBatch):
                run.append(p)
                continue
            if run:
                out.extend(write_ingest_group(conn, run))
                run = []
            out.append(p(conn))
        if run:
            out.extend(write_ingest_group(conn, run))
        return out

    # Users and membership.

    async def create_user(self, username: str, password_hash: str, *, is_admin: bool) -> User:
        created = now_ms()

        def fn(c: Connection) -> User:
            if c.execute(select(users.c.id).where(users.c.username == username)).first():
                raise Conflict(f"user {username!r} exists already")
            uid = c.execute(
                insert(users).values(
                    username=username,
                    password_hash=password_hash,
                    is_admin=is_admin,
                    token_version=0,
                    created_ms=created,
                )
            ).inserted_primary_key
            assert uid is not None
            return User(uid[0], username, is_admin, created, password_hash, 0)

        return await self._write(fn)

    async def get_user(self, user_id: int) -> User:
        return await self._read(lambda c: rows.user(_one(c, users, users.c.id == user_id, "user")))

    async def get_user_by_name(self, username: str) -> User:
        return await self._read(
            lambda c: rows.user(_one(c, users, users.c.username == username, "user"))
        )

    async def list_users(self) -> list[User]:
        return await self._read(
            lambda c: [rows.user(r) for r in c.execute(select(users).order_by(users.c.id))]
        )

    async def set_password(self, user_id: int, password_hash: str) -> None:
        await self._write(
            _updater(users, users.c.id == user_id, "user", password_hash=password_hash)
        )

    async def bump_token_version(self, user_id: int) -> None:
        await self._write(
            _updater(users, users.c.id == user_id, "user", token_version=users.c.token_version + 1)
        )

    async def delete_user(self, user_id: int) -> None:
        def fn(c: Connection) -> None:
            c.execute(delete(memberships).where(memberships.c.user_id == user_id))
            if not c.execute(delete(users).where(users.c.id == user_id)).rowcount:
                raise NotFound(f"user {user_id} not found")

        await self._write(fn)

    async def set_membership(self, user_id: int, farm_id: int, role: Role) -> None:
        def fn(c: Connection) -> None:
            _one(c, users, users.c.id == user_id, "user")
            _one(c, farms, farms.c.id == farm_id, "farm")
            c.execute(
                delete(memberships).where(
                    memberships.c.user_id == user_id, memberships.c.farm_id == farm_id
                )
            )
            c.execute(insert(memberships).values(user_id=user_id, farm_id=farm_id, role=role.value))

        await self._write(fn)

    async def remove_membership(self, user_id: int, farm_id: int) -> None:
        def fn(c: Connection) -> None:
            res = c.execute(
                delete(memberships).where(
                    memberships.c.user_id == user_id, memberships.c.farm_id == farm_id
                )
            )
            if not res.rowcount:
                raise NotFound(f"user {user_id} has no role on farm {farm_id}")

        await self._write(fn)

    async def memberships_of_user(self, user_id: int) -> list[Membership]:
        q = select(memberships).where(memberships.c.user_id == user_id)
        return await self._read(lambda c: [rows.membership(r) for r in c.execute(q)])

    async def memberships_of_farm(self, farm_id: int) -> list[Membership]:
        q = select(memberships).where(memberships.c.farm_id == farm_id)
        return await self._read(lambda c: [rows.membership(r) for r in c.execute(q)])

    # Farms, devices, sensors.

    async def create_farm(self, name: str, title: str) -> Farm:
        created = now_ms()
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

        return await self._write(fn)

    async def get_farm(self, farm_id: int) -> Farm:
        return await self._read(lambda c: rows.farm(_one(c, farms, farms.c.id == farm_id, "farm")))

    async def get_farm_by_name(self, name: str) -> Farm:
        return await self._read(lambda c: rows.farm(_one(c, farms, farms.c.name == name, "farm")))

    async def list_farms(self, farm_ids: Iterable[int] | None = None) -> list[Farm]:
        q = select(farms).order_by(farms.c.id)
        if farm_ids is not None:
            q = q.where(farms.c.id.in_(list(farm_ids)))
        return await self._read(lambda c: [rows.farm(r) for r in c.execute(q)])

    async def create_device(
        self,
        farm_id: int,
        name: str,
        kind: DeviceKind,
        title: str,
        key_hash: str,
        sensor_specs: Iterable[SensorSpec] = (),
    ) -> Device:
        created = now_ms()
        specs = list(sensor_specs)

        def fn(c: Connection) -> Device:
            _one(c, farms, farms.c.id == farm_id, "farm")
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
            return rows.device(_one(c, devices, devices.c.id == pk[0], "device"))

        return await self._write(fn)

    async def get_device(self, device_id: int) -> Device:
        return await self._read(
            lambda c: rows.device(_one(c, devices, devices.c.id == device_id, "device"))
        )

    async def get_device_by_key_hash(self, key_hash: str) -> Device:
        return await self._read(
            lambda c: rows.device(_one(c, devices, devices.c.key_hash == key_hash, "device"))
        )

    async def get_device_by_name(self, farm_id: int, name: str) -> Device:
        where = (devices.c.farm_id == farm_id) & (devices.c.name == name)
        return await self._read(lambda c: rows.device(_one(c, devices, where, "device")))

    async def list_devices(self, farm_id: int) -> list[Device]:
        q = select(devices).where(devices.c.farm_id == farm_id).order_by(devices.c.id)
        return await self._read(lambda c: [rows.device(r) for r in c.execute(q)])

    async def set_device_key_hash(self, device_id: int, key_hash: str) -> None:
        await self._write(_updater(devices, devices.c.id == device_id, "device", key_hash=key_hash))

    async def delete_device(self, device_id: int) -> None:
        def fn(c: Connection) -> None:
            c.execute(delete(sensors).where(sensors.c.device_id == device_id))
            c.execute(delete(commands).where(commands.c.device_id == device_id))
            if not c.execute(delete(devices).where(devices.c.id == device_id)).rowcount:
                raise NotFound(f"device {device_id} not found")

        await self._write(fn)

    async def create_sensor(self, device_id: int, spec: SensorSpec) -> Sensor:
        def fn(c: Connection) -> Sensor:
            dev = _one(c, devices, devices.c.id == device_id, "device")
            return _insert_sensor(c, device_id, dev.farm_id, spec)

        return await self._write(fn)

    async def note_pending_device(
        self, farm_id: int, name: str, source: str, sample: str, now_ms: int
    ) -> PendingDevice:
        def fn(c: Connection) -> PendingDevice:
            where = (pending_devices.c.farm_id == farm_id) & (pending_devices.c.name == name)
            done = c.execute(
                update(pending_devices)
                .where(where)
                .values(
                    last_seen_ms=now_ms,
                    messages=pending_devices.c.messages + 1,
                    sample=sample,
                    source=source,
                )
            ).rowcount
            if not done:
                c.execute(
                    insert(pending_devices).values(
                        farm_id=farm_id,
                        name=name,
                        source=source,
                        state=PendingState.PENDING.value,
                        first_seen_ms=now_ms,
                        last_seen_ms=now_ms,
                        messages=1,
                        sample=sample,
                    )
                )
            return rows.pending_device(_one(c, pending_devices, where, "pending device"))

        return await self._write(fn)

    async def list_pending_devices(self, farm_id: int) -> list[PendingDevice]:
        q = (
            select(pending_devices)
            .where(pending_devices.c.farm_id == farm_id)
            .order_by(pending_devices.c.id)
        )
        return await self._read(lambda c: [rows.pending_device(r) for r in c.execute(q)])

    async def get_pending_device(self, pending_id: int) -> PendingDevice:
        return await self._read(
            lambda c: rows.pending_device(
                _one(c, pending_devices, pending_devices.c.id == pending_id, "pending device")
            )
        )

    async def set_pending_state(self, pending_id: int, state: PendingState) -> None:
        await self._write(
            _updater(
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

        await self._write(fn)

    async def list_sensors(
        self, *, farm_id: int | None = None, device_id: int | None = None
    ) -> list[Sensor]:
        q = select(sensors).order_by(sensors.c.id)
        if farm_id is not None:
            q = q.where(sensors.c.farm_id == farm_id)
        if device_id is not None:
            q = q.where(sensors.c.device_id == device_id)
        return await self._read(lambda c: [rows.sensor(r) for r in c.execute(q)])

    async def get_sensor(self, sensor_id: int) -> Sensor:
        return await self._read(
            lambda c: rows.sensor(_one(c, sensors, sensors.c.id == sensor_id, "sensor"))
        )

    # Ingest.

    async def ingest(self, batch: IngestBatch) -> IngestResult:
        result: IngestResult = await self._writer.submit(batch)
        return result

    # Queries.

    async def readings(
        self, sensor_id: int, start_ms: int, end_ms: int, *, limit: int = 10_000
    ) -> list[Reading]:
        q = (
            select(readings)
            .where(
                readings.c.sensor_id == sensor_id,
                readings.c.ts_ms >= start_ms,
                readings.c.ts_ms < end_ms,
            )
            .order_by(readings.c.ts_ms, readings.c.seq)
            .limit(limit)
        )
        return await self._read(lambda c: [rows.reading(r) for r in c.execute(q)])

    async def reading_buckets(
        self, sensor_id: int, start_ms: int, end_ms: int, bucket_ms: int
    ) -> list[ReadingBucket]:
        bucket = (readings.c.ts_ms - start_ms) // bucket_ms
        q = (
            select(
                bucket.label("b"),
                func.count().label("n"),
                func.min(readings.c.value).label("lo"),
                func.avg(readings.c.value).label("mean"),
                func.max(readings.c.value).label("hi"),
            )
            .where(
                readings.c.sensor_id == sensor_id,
                readings.c.ts_ms >= start_ms,
                readings.c.ts_ms < end_ms,
            )
            .group_by(text("b"))
            .order_by(text("b"))
        )
        return await self._read(
            lambda c: [
                ReadingBucket(start_ms + int(r.b) * bucket_ms, r.n, r.lo, float(r.mean), r.hi)
                for r in c.execute(q)
            ]
        )

    async def events(self, farm_id: int, flt: EventFilter) -> list[Event]:
        q = select(events).where(events.c.farm_id == farm_id)
        if flt.level is not None:
            q = q.where(events.c.level == flt.level.value)
        if flt.device_id is not None:
            q = q.where(events.c.device_id == flt.device_id)
        if flt.before_seq is not None:
            q = q.where(events.c.seq < flt.before_seq)
        q = q.order_by(events.c.seq.desc()).limit(flt.limit)
        return await self._read(lambda c: [rows.event(r) for r in c.execute(q)])

    async def export_readings(
        self, farm_id: int, start_ms: int, end_ms: int, *, chunk: int = 5_000, after_seq: int = 0
    ) -> list[dict[str, Any]]:
        q = (
            select(
                readings.c.seq,
                readings.c.ts_ms,
                readings.c.received_ms,
                devices.c.name.label("device"),
                sensors.c.name.label("sensor"),
                sensors.c.unit,
                readings.c.value,
            )
            .join(sensors, sensors.c.id == readings.c.sensor_id)
            .join(devices, devices.c.id == readings.c.device_id)
            .where(
                readings.c.farm_id == farm_id,
                readings.c.seq > after_seq,
                readings.c.ts_ms >= start_ms,
                readings.c.ts_ms < end_ms,
            )
            .order_by(readings.c.seq)
            .limit(chunk)
        )
        return await self._read(lambda c: [dict(r._mapping) for r in c.execute(q)])

    async def changes_since(self, farm_id: int, after_seq: int, limit: int) -> list[Change]:
        def fn(c: Connection) -> list[Change]:
            out: list[Change] = []
            for table, conv in (
                (readings, rows.reading),
                (status_changes, rows.status_record),
                (events, rows.event),
                (command_updates, rows.stored_command_update),
            ):
                q = (
                    select(table)
                    .where(table.c.farm_id == farm_id, table.c.seq > after_seq)
                    .order_by(table.c.seq)
                    .limit(limit)
                )
                out.extend(conv(r) for r in c.execute(q))
            out.sort(key=lambda ch: ch.seq)
            return out[:limit]

        return await self._read(fn)

    # Commands.

    async def create_command(
        self,
        device_id: int,
        action: str,
        params: dict[str, Any],
        *,
        created_by: int | None,
        expires_ms: int,
    ) -> tuple[Command, CommandUpdate]:
        created = now_ms()

        def fn(c: Connection) -> tuple[Command, CommandUpdate]:
            dev = _one(c, devices, devices.c.id == device_id, "device")
            seq = allocate_seqs(c, {dev.farm_id: 1})[dev.farm_id] + 1
            pk = c.execute(
                insert(commands).values(
                    farm_id=dev.farm_id,
                    device_id=device_id,
                    action=action,
                    params=params,
                    state=CommandState.PENDING.value,
                    created_ms=created,
                    updated_ms=created,
                    expires_ms=expires_ms,
                    created_by=created_by,
                    detail="",
                    seq=seq,
                )
            ).inserted_primary_key
            assert pk is not None
            cmd = rows.command(_one(c, commands, commands.c.id == pk[0], "command"))
            return cmd, _record_update(c, cmd)

        return await self._write(fn)

    async def get_command(self, command_id: int) -> Command:
        return await self._read(
            lambda c: rows.command(_one(c, commands, commands.c.id == command_id, "command"))
        )

    async def list_commands(
        self,
        *,
        device_id: int | None = None,
        farm_id: int | None = None,
        states: Iterable[CommandState] | None = None,
        limit: int = 100,
    ) -> list[Command]:
        q = select(commands).order_by(commands.c.id.desc()).limit(limit)
        if device_id is not None:
            q = q.where(commands.c.device_id == device_id)
        if farm_id is not None:
            q = q.where(commands.c.farm_id == farm_id)
        if states is not None:
            q = q.where(commands.c.state.in_([s.value for s in states]))
        return await self._read(lambda c: [rows.command(r) for r in c.execute(q)])

    async def update_command(
        self, command_id: int, state: CommandState, detail: str = ""
    ) -> tuple[Command, CommandUpdate]:
        at = now_ms()

        def fn(c: Connection) -> tuple[Command, CommandUpdate]:
            cur = rows.command(_one(c, commands, commands.c.id == command_id, "command"))
            return _transition(c, cur, state, detail, at)

        return await self._write(fn)

    async def expire_commands(self, now: int) -> list[CommandUpdate]:
        def fn(c: Connection) -> list[CommandUpdate]:
            due = c.execute(
                select(commands).where(
                    commands.c.state.in_([CommandState.PENDING.value, CommandState.SENT.value]),
                    commands.c.expires_ms <= now,
                )
            ).all()
            return [
                _transition(c, rows.command(r), CommandState.TIMED_OUT, "expired", now)[1]
                for r in due
            ]

        return await self._write(fn)

    async def prune_ingest_messages(self, older_than_ms: int) -> int:
        def fn(c: Connection) -> int:
            res = c.execute(
                delete(ingest_messages).where(ingest_messages.c.received_ms < older_than_ms)
            )
            return int(res.rowcount)

        return await self._write(fn)


def _one(c: Connection, table: Any, where: Any, what: str) -> Any:
    row = c.execute(select(table).where(where)).first()
    if row is None:
        raise NotFound(f"{what} not found")
    return row


def _updater(table: Any, where: Any, what: str, **values: Any) -> WriteFn:
    def fn(c: Connection) -> None:
        if not c.execute(update(table).where(where).values(**values)).rowcount:
            raise NotFound(f"{what} not found")

    return fn


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


def _transition(
    c: Connection, cur: Command, state: CommandState, detail: str, at: int
) -> tuple[Command, CommandUpdate]:
    if not can_transition(cur.state, state):
        raise Conflict(f"command {cur.id} is {cur.state.value}; it cannot become {state.value}")
    seq = allocate_seqs(c, {cur.farm_id: 1})[cur.farm_id] + 1
    c.execute(
        update(commands)
        .where(commands.c.id == cur.id)
        .values(state=state.value, updated_ms=at, detail=detail, seq=seq)
    )
    cmd = rows.command(_one(c, commands, commands.c.id == cur.id, "command"))
    return cmd, _record_update(c, cmd)


def _record_update(c: Connection, cmd: Command) -> CommandUpdate:
    upd = rows.command_update(cmd)
    c.execute(
        insert(command_updates).values(
            farm_id=upd.farm_id,
            seq=upd.seq,
            command_id=upd.command_id,
            device_id=upd.device_id,
            state=upd.state.value,
            detail=upd.detail,
            ts_ms=upd.ts_ms,
            action=upd.action,
        )
    )
    return upd
