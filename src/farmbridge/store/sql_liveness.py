"""The SQL store's liveness aggregate: which devices to watch, and marking silent ones offline.

`mark_offline` is exactly once across bridge instances sharing one database: each UPDATE
is conditional on the state and last-seen the sweep read, so of two sweeps that saw the
same silence one changes the row and the other finds it changed (docs/design.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select, update

from farmbridge.domain import AlarmUpdate, Change, Device, DeviceState, DeviceStatus, StatusRecord
from farmbridge.store import rows
from farmbridge.store.alarm_cache import AlarmCache
from farmbridge.store.alarm_writes import evaluate_ingest
from farmbridge.store.database import SqlAggregate
from farmbridge.store.ingest_writes import allocate_seqs
from farmbridge.store.results import MarkedOffline, OfflineCandidate
from farmbridge.store.schema import devices, farms, status_changes


class SqlLiveness(SqlAggregate):
    """See farmbridge.store.base.LivenessStore for the contract of each method."""

    async def watched_devices(self) -> list[Device]:
        q = (
            select(devices)
            .where(devices.c.state == DeviceState.ONLINE.value, devices.c.last_seen_ms.is_not(None))
            .order_by(devices.c.farm_id, devices.c.id)
        )
        return await self._db.read(lambda c: [rows.device(r) for r in c.execute(q)])

    async def mark_offline(
        self, candidates: Sequence[OfflineCandidate], now_ms: int
    ) -> MarkedOffline:
        todo = sorted(candidates, key=lambda k: (k.farm_id, k.device_id))

        cache = self._db.alarm_cache

        def fn(c: Connection) -> MarkedOffline:
            records: list[StatusRecord] = []
            alarms: list[AlarmUpdate] = []
            ordered: list[Change] = []
            for k in todo:
                marked = _mark_one(c, k, now_ms, cache)
                if marked is not None:
                    records.append(marked[0])
                    alarms.extend(marked[1])
                    ordered += [marked[0], *marked[1]]
            return MarkedOffline(tuple(records), tuple(alarms), tuple(ordered))

        return await self._db.write_streamed(fn)


def _mark_one(
    c: Connection, k: OfflineCandidate, now_ms: int, cache: AlarmCache
) -> tuple[StatusRecord, list[AlarmUpdate]] | None:
    """Marks one device offline; its farm's `offline` rules see that status in the same
    transaction, under the farm row lock, as an ingested status would."""
    # The farm row first, as the ingest path locks it (allocate_seqs) before the device
    # rows: one lock order, so PostgreSQL never deadlocks a sweep against an ingest.
    # SQLite ignores FOR UPDATE; its one writer serializes the whole transaction.
    c.execute(select(farms.c.id).where(farms.c.id == k.farm_id).with_for_update())
    hit = c.execute(
        update(devices)
        .where(
            devices.c.id == k.device_id,
            devices.c.state == k.state.value,
            devices.c.last_seen_ms == k.last_seen_ms,
        )
        .values(state=DeviceState.OFFLINE.value)
    ).rowcount
    if not hit:
        return None  # heard of since, or marked by another instance: nothing to say
    versions: dict[int, int] = {}
    seq = allocate_seqs(c, {k.farm_id: 1}, versions)[k.farm_id] + 1
    row = c.execute(
        select(devices.c.actuator, devices.c.status_ts_ms).where(devices.c.id == k.device_id)
    ).one()
    # Never older than the status it replaces, or the device row would keep that one.
    ts = max(now_ms, row.status_ts_ms)
    actuator = dict(row.actuator or {})
    c.execute(
        update(devices).where(devices.c.id == k.device_id).values(status_ts_ms=ts, status_seq=seq)
    )
    c.execute(
        status_changes.insert().values(
            farm_id=k.farm_id,
            seq=seq,
            device_id=k.device_id,
            state=DeviceState.OFFLINE.value,
            actuator=actuator,
            ts_ms=ts,
            received_ms=now_ms,
        )
    )
    status = DeviceStatus(DeviceState.OFFLINE, actuator, ts, seq)
    record = StatusRecord(k.farm_id, k.device_id, status, now_ms)
    raised = evaluate_ingest(c, cache, versions, now_ms, (), (record,), {}, ())
    return record, raised
