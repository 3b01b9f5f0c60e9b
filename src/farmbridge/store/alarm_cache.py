"""The writer thread's cache of each farm's alarm rules and watches, indexed for ingest.

A reading touches only the rules that watch its sensor (by id or by name), a device's
data only the rules of that device or of every device. The cache of a farm is valid
while its `version` equals `farms.alarm_version`, which every change of the farm's
rules or watches bumps in the transaction that makes it, and which the seq allocation
returns for nothing (it updates the farm row anyway). Another instance's change bumps
it too, so no instance acts on a stale watch. A rollback drops the whole cache: what
the rolled-back transaction put in it was never committed.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from farmbridge.domain import AlarmRule, RuleKind
from farmbridge.domain.alarm_engine import IDLE, Watch
from farmbridge.store import rows
from farmbridge.store.schema import alarm_rules, alarm_watches, farms, sensors


@dataclass(slots=True)
class WatchEntry:
    """A watch and the alarm it raised (while active); `stored` is what the table holds."""

    watch: Watch = IDLE
    alarm_id: int | None = None
    stored: bool = False


@dataclass(slots=True)
class SensorInfo:
    name: str
    device_id: int
    last_ts_ms: int | None


@dataclass(slots=True)
class SensorIndex:
    """The threshold rules of one sensor sorted by threshold, so a value finds the idle
    rules it starts a condition of by bisection, whatever the number of rules."""

    above_t: list[float]
    above: list[AlarmRule]
    below_t: list[float]
    below: list[AlarmRule]

    @classmethod
    def of(cls, rules: list[AlarmRule]) -> SensorIndex:
        up = sorted((r for r in rules if r.kind is RuleKind.ABOVE), key=_threshold)
        down = sorted((r for r in rules if r.kind is RuleKind.BELOW), key=_threshold)
        return cls([_threshold(r) for r in up], up, [_threshold(r) for r in down], down)

    def starting(self, value: float) -> list[AlarmRule]:
        """The rules whose condition `value` meets (above: threshold < value; below: >)."""
        out = self.above[: bisect.bisect_left(self.above_t, value)]
        return out + self.below[bisect.bisect_right(self.below_t, value) :]


def _threshold(rule: AlarmRule) -> float:
    assert rule.threshold is not None
    return rule.threshold


@dataclass(slots=True)
class FarmAlarms:
    """One farm's enabled rules, indexed, and the watches that differ from idle."""

    farm_id: int
    farm_name: str
    version: int
    rules: dict[int, AlarmRule] = field(default_factory=dict)
    by_sensor: dict[int, list[AlarmRule]] = field(default_factory=lambda: defaultdict(list))
    by_sensor_name: dict[str, list[AlarmRule]] = field(default_factory=lambda: defaultdict(list))
    by_device: dict[tuple[int, RuleKind], list[AlarmRule]] = field(
        default_factory=lambda: defaultdict(list)
    )
    every_device: dict[RuleKind, list[AlarmRule]] = field(default_factory=lambda: defaultdict(list))
    watches: dict[tuple[int, str], WatchEntry] = field(default_factory=dict)
    # The rules with a watch entry, by subject: a reading steps those, and of the others
    # only the ones its value starts (SensorIndex).
    busy: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    sensors: dict[int, SensorInfo] = field(default_factory=dict)
    indexes: dict[int, SensorIndex] = field(default_factory=dict)

    def put_watch(self, rule_id: int, subject: str, entry: WatchEntry) -> None:
        self.watches[(rule_id, subject)] = entry
        self.busy[subject].add(rule_id)

    def drop_watch(self, rule_id: int, subject: str) -> None:
        self.watches.pop((rule_id, subject), None)
        self.busy[subject].discard(rule_id)

    def index(self, conn: Connection, sensor_id: int) -> tuple[SensorIndex, SensorInfo]:
        idx = self.indexes.get(sensor_id)
        if idx is None:
            rules, info = self.sensor_rules(conn, sensor_id)
            idx = self.indexes[sensor_id] = SensorIndex.of(rules)
            return idx, info
        return idx, self.sensors[sensor_id]

    def add(self, rule: AlarmRule) -> None:
        self.rules[rule.id] = rule
        if rule.kind.on_sensor:
            if rule.sensor_id is not None:
                self.by_sensor[rule.sensor_id].append(rule)
            if rule.sensor_name is not None:
                self.by_sensor_name[rule.sensor_name].append(rule)
        elif rule.device_id is not None:
            self.by_device[(rule.device_id, rule.kind)].append(rule)
        else:
            self.every_device[rule.kind].append(rule)

    def device_rules(self, device_id: int, kind: RuleKind) -> list[AlarmRule]:
        mine = self.by_device.get((device_id, kind))
        every = self.every_device.get(kind)
        if not mine:
            return every or []
        return mine + every if every else mine

    def sensor_rules(self, conn: Connection, sensor_id: int) -> tuple[list[AlarmRule], SensorInfo]:
        """The rules watching a sensor, and what the cache knows of it (read once)."""
        info = self.sensors.get(sensor_id)
        if info is None:
            row = conn.execute(
                select(sensors.c.name, sensors.c.device_id, sensors.c.last_ts_ms).where(
                    sensors.c.id == sensor_id
                )
            ).first()
            info = (
                SensorInfo(row.name, row.device_id, row.last_ts_ms)
                if row
                else SensorInfo("", 0, None)
            )
            self.sensors[sensor_id] = info
        by_id = self.by_sensor.get(sensor_id)
        by_name = self.by_sensor_name.get(info.name)
        if not by_name:
            return by_id or [], info
        return (by_id + by_name if by_id else by_name), info

    def entry(self, rule_id: int, subject: str) -> WatchEntry:
        return self.watches.get((rule_id, subject)) or WatchEntry()


class AlarmCache:
    """Per farm, see the module docstring; used only from the writer thread."""

    def __init__(self) -> None:
        self._farms: dict[int, FarmAlarms] = {}

    def clear(self) -> None:
        self._farms.clear()

    def farm(self, conn: Connection, farm_id: int, version: int) -> FarmAlarms:
        """The farm's rules as of `version` (read under the farm row lock)."""
        cached = self._farms.get(farm_id)
        if cached is not None and cached.version == version:
            return cached
        fresh = load(conn, farm_id, version)
        self._farms[farm_id] = fresh
        return fresh


def load(conn: Connection, farm_id: int, version: int) -> FarmAlarms:
    name = conn.execute(select(farms.c.name).where(farms.c.id == farm_id)).scalar_one()
    fa = FarmAlarms(farm_id, name, version)
    q = select(alarm_rules).where(alarm_rules.c.farm_id == farm_id, alarm_rules.c.enabled)
    for r in conn.execute(q):
        fa.add(rows.alarm_rule(r))
    if fa.rules:
        wq = select(alarm_watches).where(alarm_watches.c.rule_id.in_(list(fa.rules)))
        for w in conn.execute(wq):
            fa.put_watch(
                w.rule_id,
                w.subject,
                WatchEntry(
                    Watch(
                        pending_since_ms=w.pending_since_ms,
                        active=w.active_alarm_id is not None,
                        last_ms=w.last_ms,
                        value=w.value,
                    ),
                    w.active_alarm_id,
                    stored=True,
                ),
            )
    return fa
