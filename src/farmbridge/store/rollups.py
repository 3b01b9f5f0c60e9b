"""Reading rollups: rolling a farm's new readings up, and chart buckets answered from them.

A farm's readings are rolled up in seq order above its `rolled_seq` mark: the aggregate
of a seq range is read on a read connection, then one write job moves the mark from the
value read to the range's end (compare and set) and adds the aggregate to the rollups
in the same transaction. A second instance that read the same mark finds it moved and
adds nothing, so each reading is counted once whoever sweeps. Seqs of one farm commit in
order (the farm row's update serializes its writers), so no reading below a mark can
commit after the mark passed it.

A chart whose start and bucket width are whole periods is answered from the rollups of
that period, plus the raw readings above the mark (not rolled up yet), plus the raw
readings of a last, partial period; the same numbers as from raw readings alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import BigInteger, Connection, Float, bindparam, case, func, select, text, update

from farmbridge.domain import ReadingBucket
from farmbridge.domain.errors import StoreUnavailable
from farmbridge.store.dialect import upsert
from farmbridge.store.schema import farms, history_marks, reading_rollups, readings, sensors

FIVE_MINUTES_MS: Final = 300_000
HOUR_MS: Final = 3_600_000
PERIODS_MS: Final = (HOUR_MS, FIVE_MINUTES_MS)
"""The rollup periods, longest first (a chart takes the longest that fits)."""
ROLLUP_BATCH_ROWS: Final = 20_000
"""Readings aggregated per write job: bounds the writer's time in one roll-up."""
UNROLLED_SCAN_MAX_SEQS: Final = 100_000
"""Above this many seqs not rolled up, a chart reads them through the sensor's index."""
STABLE_READ_ATTEMPTS: Final = 5


@dataclass(slots=True)
class Agg:
    """count, sum, min and max of some readings of one sensor."""

    n: int
    total: float
    lo: float
    hi: float

    def add(self, other: Agg) -> None:
        self.n += other.n
        self.total += other.total
        self.lo = min(self.lo, other.lo)
        self.hi = max(self.hi, other.hi)


RollupKey = tuple[int, int, int]
"""(sensor id, period ms, bucket start ms)."""


@dataclass(frozen=True, slots=True)
class RollupBatch:
    """The aggregate of a farm's readings with seqs in (after_seq, upto_seq]."""

    farm_id: int
    after_seq: int
    upto_seq: int
    rows: dict[RollupKey, Agg]
    readings: int


def marks(c: Connection, farm_id: int) -> tuple[int, int]:
    """The farm's (rolled_seq, purged_seq); (0, 0) before its first sweep."""
    row = c.execute(
        select(history_marks.c.rolled_seq, history_marks.c.purged_seq).where(
            history_marks.c.farm_id == farm_id
        )
    ).first()
    return (0, 0) if row is None else (int(row.rolled_seq), int(row.purged_seq))


def ensure_marks(c: Connection, farm_id: int) -> None:
    """Creates the farm's marks row at (0, 0) unless it exists."""
    upsert(
        c,
        history_marks,
        key=["farm_id"],
        values={"farm_id": farm_id, "rolled_seq": 0, "purged_seq": 0},
        on_conflict={"farm_id": history_marks.c.farm_id},
    )


def raise_purged(c: Connection, farm_id: int, seq: int) -> None:
    """Raises the farm's purged_seq to `seq` (never lowers it): changes up to it may be gone."""
    ensure_marks(c, farm_id)
    c.execute(
        update(history_marks)
        .where(history_marks.c.farm_id == farm_id, history_marks.c.purged_seq < seq)
        .values(purged_seq=seq)
    )


def read_batch(c: Connection, farm_id: int, max_rows: int = ROLLUP_BATCH_ROWS) -> RollupBatch:
    """Aggregates the next `max_rows` readings of the farm above its mark, per sensor and
    period; an empty batch (upto == after) when every reading is rolled up."""
    after, _ = marks(c, farm_id)
    window = (
        select(readings.c.seq)
        .where(readings.c.farm_id == farm_id, readings.c.seq > after)
        .order_by(readings.c.seq)
        .limit(max_rows)
        .subquery()
    )
    upto = c.execute(select(func.max(window.c.seq))).scalar()
    if upto is None:
        return RollupBatch(farm_id, after, after, {}, 0)
    start = readings.c.ts_ms - readings.c.ts_ms % FIVE_MINUTES_MS
    q = (
        select(
            readings.c.sensor_id,
            start.label("b"),
            func.count().label("n"),
            func.sum(readings.c.value).label("total"),
            func.min(readings.c.value).label("lo"),
            func.max(readings.c.value).label("hi"),
        )
        .where(readings.c.farm_id == farm_id, readings.c.seq > after, readings.c.seq <= upto)
        .group_by(readings.c.sensor_id, text("b"))
    )
    rows: dict[RollupKey, Agg] = {}
    count = 0
    for r in c.execute(q):
        five = Agg(int(r.n), float(r.total), float(r.lo), float(r.hi))
        count += five.n
        rows[(r.sensor_id, FIVE_MINUTES_MS, int(r.b))] = five
        hour_key = (r.sensor_id, HOUR_MS, int(r.b) - int(r.b) % HOUR_MS)
        hour = rows.get(hour_key)
        if hour is None:
            rows[hour_key] = Agg(five.n, five.total, five.lo, five.hi)
        else:
            hour.add(five)
    return RollupBatch(farm_id, after, int(upto), rows, count)


def write_batch(c: Connection, batch: RollupBatch) -> bool:
    """Moves the farm's mark from `after_seq` to `upto_seq` and adds the batch to the
    rollups; False (nothing written) when the mark had moved: another sweep rolled it."""
    ensure_marks(c, batch.farm_id)
    moved = c.execute(
        update(history_marks)
        .where(
            history_marks.c.farm_id == batch.farm_id,
            history_marks.c.rolled_seq == batch.after_seq,
        )
        .values(rolled_seq=batch.upto_seq)
    ).rowcount
    if moved != 1:
        return False
    # The mark's row, updated above, is locked until this commits: nobody else writes the
    # farm's rollups now, so the rows that exist are read once and the batch is two
    # executemanys (an upsert a row costs ten times more in the writer).
    t = reading_rollups.c
    first = min(k[2] for k in batch.rows)
    last = max(k[2] for k in batch.rows)
    have = {
        (r.sensor_id, r.period_ms, r.bucket_ms)
        for r in c.execute(
            select(t.sensor_id, t.period_ms, t.bucket_ms).where(
                t.farm_id == batch.farm_id,
                t.period_ms.in_(PERIODS_MS),
                t.bucket_ms >= first - first % HOUR_MS,
                t.bucket_ms <= last,
            )
        )
    }
    added = [
        {"k_s": k[0], "k_p": k[1], "k_b": k[2], "d_n": a.n, "d_t": a.total}
        | {"d_lo": a.lo, "d_hi": a.hi}
        for k, a in sorted(batch.rows.items())
        if k in have
    ]
    if added:
        lo, hi = bindparam("d_lo", type_=Float), bindparam("d_hi", type_=Float)
        c.execute(
            update(reading_rollups)
            .where(
                t.sensor_id == bindparam("k_s"),
                t.period_ms == bindparam("k_p"),
                t.bucket_ms == bindparam("k_b"),
            )
            .values(
                n=t.n + bindparam("d_n", type_=BigInteger),
                total=t.total + bindparam("d_t", type_=Float),
                # CASE, not min()/max() of two values: PostgreSQL spells those LEAST/GREATEST.
                lo=case((t.lo < lo, t.lo), else_=lo),
                hi=case((t.hi > hi, t.hi), else_=hi),
            ),
            added,
        )
    new = [
        {"sensor_id": k[0], "period_ms": k[1], "bucket_ms": k[2], "farm_id": batch.farm_id}
        | {"n": a.n, "total": a.total, "lo": a.lo, "hi": a.hi}
        for k, a in sorted(batch.rows.items())
        if k not in have
    ]
    if new:
        c.execute(reading_rollups.insert(), new)
    return True


def period_for(start_ms: int, bucket_ms: int) -> int | None:
    """The longest rollup period that both the chart's start and bucket width are whole
    multiples of, or None (the chart is answered from raw readings)."""
    for period in PERIODS_MS:
        if bucket_ms % period == 0 and start_ms % period == 0:
            return period
    return None


def _merge(into: dict[int, Agg], rows: Iterable[Any]) -> None:
    for r in rows:
        agg = Agg(int(r.n), float(r.total), float(r.lo), float(r.hi))
        have = into.get(int(r.b))
        if have is None:
            into[int(r.b)] = agg
        else:
            have.add(agg)


def _raw_query(sensor_id: int, start_ms: int, end_ms: int, bucket_ms: int) -> Any:
    b = (readings.c.ts_ms - start_ms) // bucket_ms
    return (
        select(
            b.label("b"),
            func.count().label("n"),
            func.sum(readings.c.value).label("total"),
            func.min(readings.c.value).label("lo"),
            func.max(readings.c.value).label("hi"),
        )
        .where(readings.c.ts_ms >= start_ms, readings.c.ts_ms < end_ms)
        .group_by(text("b"))
    )


def rolled_buckets(
    c: Connection,
    sensor_id: int,
    start_ms: int,
    end_ms: int,
    bucket_ms: int,
    period_ms: int,
    *,
    scan_max_seqs: int = UNROLLED_SCAN_MAX_SEQS,
) -> list[ReadingBucket]:
    """The chart's buckets from the rollups of `period_ms` (see the module docstring);
    `start_ms` and `bucket_ms` are whole multiples of the period. The readings not rolled
    up yet are found by the farm's seqs when at most `scan_max_seqs` of them are above the
    mark (the usual case), else by the sensor's index over the chart's range."""
    found = c.execute(
        select(sensors.c.farm_id, farms.c.last_seq)
        .join(farms, farms.c.id == sensors.c.farm_id)
        .where(sensors.c.id == sensor_id)
    ).first()
    if found is None:
        return []
    farm_id, last_seq = int(found.farm_id), int(found.last_seq)
    whole_end = start_ms + (end_ms - start_ms) // period_ms * period_ms
    for _ in range(STABLE_READ_ATTEMPTS):
        rolled, _ = marks(c, farm_id)
        out: dict[int, Agg] = {}
        r = reading_rollups.c
        _merge(
            out,
            c.execute(
                select(
                    ((r.bucket_ms - start_ms) // bucket_ms).label("b"),
                    func.sum(r.n).label("n"),
                    func.sum(r.total).label("total"),
                    func.min(r.lo).label("lo"),
                    func.max(r.hi).label("hi"),
                )
                .where(
                    r.sensor_id == sensor_id,
                    r.period_ms == period_ms,
                    r.bucket_ms >= start_ms,
                    r.bucket_ms < whole_end,
                )
                .group_by(text("b"))
            ),
        )
        fresh = _raw_query(sensor_id, start_ms, whole_end, bucket_ms).where(readings.c.seq > rolled)
        if last_seq - rolled <= scan_max_seqs:
            # The farm's few seqs above the mark, by its primary key; `+ 0` keeps the
            # planner off the sensor's index, which would walk the whole range.
            fresh = fresh.where(
                readings.c.farm_id == farm_id, readings.c.sensor_id + 0 == sensor_id
            )
        else:
            fresh = fresh.where(readings.c.sensor_id == sensor_id)
        _merge(out, c.execute(fresh))
        if whole_end < end_ms:
            tail = _raw_query(sensor_id, start_ms, end_ms, bucket_ms).where(
                readings.c.sensor_id == sensor_id, readings.c.ts_ms >= whole_end
            )
            _merge(out, c.execute(tail))
        # No snapshot spans these reads: had a roll-up committed between them, some
        # readings would be counted twice; its mark would have moved, so read again.
        if marks(c, farm_id)[0] == rolled:
            return _buckets(out, start_ms, bucket_ms)
    # Roll-ups commit a few times a minute: this many in one chart's reads is a store in
    # trouble, and numbers that might count some readings twice are not an answer.
    raise StoreUnavailable("the rollups kept moving while the chart was read")


def _buckets(out: dict[int, Agg], start_ms: int, bucket_ms: int) -> list[ReadingBucket]:
    return [
        ReadingBucket(start_ms + b * bucket_ms, a.n, a.lo, a.total / a.n, a.hi)
        for b, a in sorted(out.items())
    ]
