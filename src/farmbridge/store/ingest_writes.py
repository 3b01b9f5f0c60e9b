"""The bulk write of a group of ingest batches inside one transaction.

Per group: one idempotency look-up, one sequence allocation per farm, one read of the
group's devices (state, actuator, interval estimate), and one executemany per table,
whatever the number of batches. A device coming back online (data while stored offline
or unknown) costs one more allocation per farm, rarely. The interval estimate
(domain/liveness.py) rides along with the last-seen update.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    Float,
    Select,
    and_,
    bindparam,
    case,
    delete,
    or_,
    select,
    update,
)

from farmbridge.domain import (
    AlarmUpdate,
    DeviceState,
    DeviceStatus,
    Event,
    IngestBatch,
    IngestResult,
    Reading,
    StatusRecord,
    Stored,
)
from farmbridge.domain.errors import NotFound
from farmbridge.domain.liveness import learn
from farmbridge.store.alarm_cache import AlarmCache
from farmbridge.store.alarm_writes import evaluate_ingest
from farmbridge.store.dialect import bulk_insert
from farmbridge.store.schema import (
    devices,
    events,
    farms,
    ingest_messages,
    readings,
    sensors,
    status_changes,
)

READING_COLUMNS = ("farm_id", "seq", "sensor_id", "device_id", "value", "ts_ms", "received_ms")


def allocate_seqs(
    conn: Connection, need: dict[int, int], versions: dict[int, int] | None = None
) -> dict[int, int]:
    """Reserves `need[farm]` sequence numbers per farm; returns the last seq before them,
    and puts each farm's alarm version (store/alarm_cache.py) in `versions` if given.

    The row update serializes concurrent writers on one farm, in SQLite and PostgreSQL alike.
    Raises NotFound when a farm is gone (deleted after its device was looked up).
    """
    base: dict[int, int] = {}
    for farm_id, n in sorted(need.items()):
        row = conn.execute(
            update(farms)
            .where(farms.c.id == farm_id)
            .values(last_seq=farms.c.last_seq + n)
            .returning(farms.c.last_seq, farms.c.alarm_version)
        ).one_or_none()
        if row is None:  # deleted meanwhile (a write that read its device just before)
            raise NotFound("farm not found")
        last, version = row
        base[farm_id] = last - n
        if versions is not None:
            versions[farm_id] = version
    return base


def known_message_query(keys: Sequence[tuple[int, str]]) -> Select[Any]:
    """The stored ids among (device, message id) pairs, as a superset to filter.

    Two IN lists, not a row-value IN: SQLite answers `(a, b) IN (VALUES ...)` by scanning
    the whole table (a day of message ids), but searches the primary key for these; the
    few extra pairs of the cross product are filtered out by the caller.
    """
    return select(ingest_messages).where(
        ingest_messages.c.device_id.in_({k[0] for k in keys}),
        ingest_messages.c.message_id.in_({k[1] for k in keys}),
    )


def known_messages(conn: Connection, keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], Any]:
    wanted = set(keys)
    return {
        (r.device_id, r.message_id): r
        for r in conn.execute(known_message_query(keys))
        if (r.device_id, r.message_id) in wanted
    }


def write_ingest_group(
    conn: Connection,
    batches: Sequence[IngestBatch],
    alarms: AlarmCache | None = None,
    raised: list[AlarmUpdate] | None = None,
) -> list[IngestResult]:
    """Writes a group of batches; with `alarms`, evaluates the farms' alarm rules in the
    same transaction and appends the alarm changes to `raised` (seqs after the group's)."""
    results: list[IngestResult | None] = [None] * len(batches)
    firsts: dict[tuple[int, str], int] = {}
    dup_of: dict[int, int] = {}
    stale: list[tuple[int, str]] = []  # ids stored by older messages that shared them
    keys = [(b.device_id, b.message_id) for b in batches if b.message_id]
    if keys:
        known = known_messages(conn, keys)
        for i, b in enumerate(batches):
            if not b.message_id:
                continue
            key = (b.device_id, b.message_id)
            if key in known and not _stale(b, known[key]):
                row = known[key]
                results[i] = IngestResult(row.accepted, row.first_seq, row.last_seq, duplicate=True)
            elif key in firsts:
                dup_of[i] = firsts[key]
            else:
                firsts[key] = i
                if key in known:
                    stale.append(key)

    todo = [i for i in range(len(batches)) if results[i] is None and i not in dup_of]
    need: dict[int, int] = defaultdict(int)
    for i in todo:
        need[batches[i].farm_id] += batches[i].size
    versions: dict[int, int] = {}
    base = allocate_seqs(conn, need, versions)
    # Read after the farm rows are locked (allocate_seqs), so what a concurrent writer of
    # the same farm committed is seen: the back-online rule fires once per comeback.
    live = _device_liveness(conn, {batches[i].device_id for i in todo})
    actuators = {d: dict(row.actuator or {}) for d, row in live.items()}
    revive = _revived(batches, todo, live)
    if revive:
        # The farm rows are still locked by this transaction: these seqs follow on.
        extra: dict[int, int] = defaultdict(int)
        for i in revive:
            extra[batches[i].farm_id] += 1
        allocate_seqs(conn, extra)
    intervals = {d: (row.learned_interval_s, row.interval_anchor_ms) for d, row in live.items()}

    reading_rows: list[tuple[int, int, int, int, float, int, int]] = []
    status_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    message_rows: list[dict[str, Any]] = []
    newest_by_sensor: dict[int, Reading] = {}
    newest_status: dict[int, StatusRecord] = {}
    seen: dict[int, int] = {}
    data: dict[int, dict[int, int]] = defaultdict(dict)
    stored_events: list[Event] = []
    for i in todo:
        b = batches[i]
        seq = base[b.farm_id]
        stored: list[Stored] = []
        if i in revive:
            # Data from a device taken as offline (or never heard of): it is back, said
            # once and stored like any status change.
            seq += 1
            ts = max(b.received_ms, live[b.device_id].status_ts_ms)
            merged = actuators.get(b.device_id, {})
            status_rows.append(
                {
                    "farm_id": b.farm_id,
                    "seq": seq,
                    "device_id": b.device_id,
                    "state": DeviceState.ONLINE.value,
                    "actuator": merged,
                    "ts_ms": ts,
                    "received_ms": b.received_ms,
                }
            )
            srec = StatusRecord(
                b.farm_id,
                b.device_id,
                DeviceStatus(DeviceState.ONLINE, merged, ts, seq),
                b.received_ms,
            )
            stored.append(srec)
            prev_s = newest_status.get(b.device_id)
            if prev_s is None or ts >= prev_s.status.ts_ms:
                newest_status[b.device_id] = srec
        # The answer's range covers the report's own items; the online status before
        # them is the bridge's word, streamed but not part of what the device sent.
        first = seq + 1
        for r in b.readings:
            seq += 1
            rec = Reading(r.sensor_id, b.device_id, b.farm_id, r.value, r.ts_ms, b.received_ms, seq)
            stored.append(rec)
            reading_rows.append(
                (b.farm_id, seq, r.sensor_id, b.device_id, r.value, r.ts_ms, b.received_ms)
            )
            prev = newest_by_sensor.get(r.sensor_id)
            if prev is None or r.ts_ms >= prev.ts_ms:
                newest_by_sensor[r.sensor_id] = rec
        if b.status is not None:
            seq += 1
            st = b.status
            # A report names only what changed; the rest of the actuator state stays.
            merged = {**actuators.get(b.device_id, {}), **st.actuator}
            actuators[b.device_id] = merged
            status_rows.append(
                {
                    "farm_id": b.farm_id,
                    "seq": seq,
                    "device_id": b.device_id,
                    "state": st.state.value,
                    "actuator": merged,
                    "ts_ms": st.ts_ms,
                    "received_ms": b.received_ms,
                }
            )
            srec = StatusRecord(
                b.farm_id, b.device_id, DeviceStatus(st.state, merged, st.ts_ms, seq), b.received_ms
            )
            stored.append(srec)
            prev_s = newest_status.get(b.device_id)
            if prev_s is None or st.ts_ms >= prev_s.status.ts_ms:
                newest_status[b.device_id] = srec
        for e in b.events:
            seq += 1
            event_rows.append(
                {
                    "farm_id": b.farm_id,
                    "seq": seq,
                    "device_id": b.device_id,
                    "level": e.level.value,
                    "code": e.code,
                    "message": e.message,
                    "ts_ms": e.ts_ms,
                    "received_ms": b.received_ms,
                }
            )
            erec = Event(
                b.farm_id, b.device_id, e.level, e.code, e.message, e.ts_ms, b.received_ms, seq
            )
            stored.append(erec)
            stored_events.append(erec)
        base[b.farm_id] = seq
        if _alive(b):
            seen[b.device_id] = max(seen.get(b.device_id, 0), b.received_ms)
            data[b.farm_id][b.device_id] = seen[b.device_id]
            est, anchor = intervals.get(b.device_id, (None, None))
            intervals[b.device_id] = learn(est, anchor, b.received_ms)
        last = seq if seq >= first else None
        results[i] = IngestResult(
            b.size, first if last else None, last, duplicate=False, stored=tuple(stored)
        )
        if b.message_id:
            message_rows.append(
                {
                    "device_id": b.device_id,
                    "message_id": b.message_id,
                    "received_ms": b.received_ms,
                    "accepted": b.size,
                    "first_seq": first if last else None,
                    "last_seq": last,
                }
            )

    if reading_rows:
        bulk_insert(conn, readings, READING_COLUMNS, reading_rows)
        _update_sensor_latest(conn, newest_by_sensor)
    if status_rows:
        conn.execute(status_changes.insert(), status_rows)
        _update_device_status(conn, newest_status)
    if event_rows:
        conn.execute(events.insert(), event_rows)
    if message_rows:
        for device_id, message_id in stale:
            conn.execute(
                delete(ingest_messages).where(
                    ingest_messages.c.device_id == device_id,
                    ingest_messages.c.message_id == message_id,
                )
            )
        conn.execute(ingest_messages.insert(), message_rows)
    if seen:
        # One executemany, as before the interval was learned: last-seen only moves
        # forward; the estimate and its burst anchor ride along.
        newer = or_(devices.c.last_seen_ms.is_(None), devices.c.last_seen_ms < bindparam("b_seen"))
        conn.execute(
            update(devices)
            .where(devices.c.id == bindparam("b_id"))
            .values(
                last_seen_ms=case((newer, bindparam("b_seen")), else_=devices.c.last_seen_ms),
                learned_interval_s=bindparam("b_est", type_=Float),
                interval_anchor_ms=bindparam("b_anchor", type_=BigInteger),
            ),
            [
                {"b_id": d, "b_seen": ms, "b_est": intervals[d][0], "b_anchor": intervals[d][1]}
                for d, ms in seen.items()
            ],
        )
    if alarms is not None and raised is not None and versions:
        now_ms = max((batches[i].received_ms for i in todo), default=0)
        raised.extend(
            evaluate_ingest(
                conn,
                alarms,
                versions,
                now_ms,
                newest_by_sensor.values(),
                newest_status.values(),
                data,
                stored_events,
            )
        )
    for i, j in dup_of.items():
        orig = results[j]
        assert orig is not None
        results[i] = IngestResult(orig.accepted, orig.first_seq, orig.last_seq, duplicate=True)
    return [r for r in results if r is not None]


def _device_liveness(conn: Connection, device_ids: set[int]) -> dict[int, Any]:
    """The stored state, actuator state and interval estimate of the group's devices."""
    if not device_ids:
        return {}
    q = select(
        devices.c.id,
        devices.c.state,
        devices.c.actuator,
        devices.c.status_ts_ms,
        devices.c.learned_interval_s,
        devices.c.interval_anchor_ms,
    ).where(devices.c.id.in_(device_ids))
    return {r.id: r for r in conn.execute(q)}


def _alive(b: IngestBatch) -> bool:
    """Whether a batch moves last-seen: a sign of life, and more than an offline status
    alone (a last will is the broker's word, not the device's)."""
    if not b.sign_of_life:
        return False
    only_offline = (
        b.status is not None
        and b.status.state is DeviceState.OFFLINE
        and not b.readings
        and not b.events
    )
    return not only_offline


REVIVED_FROM: frozenset[str] = frozenset({DeviceState.OFFLINE.value, DeviceState.UNKNOWN.value})
"""The stored states that data without a status of its own turns online."""


def _revived(batches: Sequence[IngestBatch], todo: Sequence[int], live: dict[int, Any]) -> set[int]:
    """The batches that bring their device back online: a sign of life with no status of
    its own from a device stored offline or unknown, once per device (in group order)."""
    state = {d: row.state for d, row in live.items()}
    out: set[int] = set()
    for i in todo:
        b = batches[i]
        if b.device_id not in state:
            continue  # deleted meanwhile: the insert fails on its own terms
        if b.status is not None:
            state[b.device_id] = b.status.state.value
        elif b.sign_of_life and state[b.device_id] in REVIVED_FROM:
            out.add(i)
            state[b.device_id] = DeviceState.ONLINE.value
    return out


def _update_sensor_latest(conn: Connection, newest: dict[int, Reading]) -> None:
    # Late, buffered readings must not replace a newer latest value.
    conn.execute(
        update(sensors)
        .where(sensors.c.id == bindparam("b_id"))
        .where(or_(sensors.c.last_ts_ms.is_(None), sensors.c.last_ts_ms <= bindparam("b_ts")))
        .values(
            last_value=bindparam("b_value"),
            last_ts_ms=bindparam("b_ts"),
            last_seq=bindparam("b_seq"),
        ),
        [
            {"b_id": sid, "b_value": r.value, "b_ts": r.ts_ms, "b_seq": r.seq}
            for sid, r in newest.items()
        ],
    )


def _update_device_status(conn: Connection, newest: dict[int, StatusRecord]) -> None:
    conn.execute(
        update(devices)
        .where(and_(devices.c.id == bindparam("b_id"), devices.c.status_ts_ms <= bindparam("b_ts")))
        .values(
            state=bindparam("b_state"),
            actuator=bindparam("b_actuator", type_=JSON),
            status_ts_ms=bindparam("b_ts"),
            status_seq=bindparam("b_seq"),
        ),
        [
            {
                "b_id": d,
                "b_state": s.status.state.value,
                "b_actuator": s.status.actuator,
                "b_ts": s.status.ts_ms,
                "b_seq": s.status.seq,
            }
            for d, s in newest.items()
        ],
    )


def _stale(batch: IngestBatch, row: Any) -> bool:
    """Whether a stored id row predates the window in which `batch` takes it as its own."""
    return batch.dedup_since_ms is not None and int(row.received_ms) < batch.dedup_since_ms
