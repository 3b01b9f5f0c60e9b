"""Alarm transitions written inside the transaction of their cause.

Readings, status changes, device events (store/ingest_writes.py), command updates
(store/sql_commands.py), acknowledgements and the timer's job all end here: the pure
engine (domain/alarm_engine.py) steps the watches, and each raise, clear and
acknowledgement takes the farm's next seq, is stored (`alarms`, `alarm_changes`) and
queued in the outbox, all in the transaction that holds the farm row's lock. That lock
is what keeps evaluation exactly once with several instances on one database
(docs/design.md, Alarms).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, select, update

from farmbridge.domain import (
    Alarm,
    AlarmChange,
    AlarmKind,
    AlarmRule,
    AlarmState,
    AlarmUpdate,
    CommandUpdate,
    Event,
    EventLevel,
    Reading,
    RuleKind,
    Severity,
    StatusRecord,
)
from farmbridge.domain.alarm_engine import (
    Transition,
    Watch,
    is_time_based,
    on_command,
    on_data,
    on_reading,
    on_status,
    on_tick,
)
from farmbridge.domain.alarms import alarm_json
from farmbridge.store import outbox, rows
from farmbridge.store.alarm_cache import AlarmCache, FarmAlarms, WatchEntry
from farmbridge.store.schema import (
    alarm_changes,
    alarm_rules,
    alarm_watches,
    alarms,
    devices,
    farms,
)

CLEARED_SUFFIX = "_cleared"
"""A device event `<code>_cleared` clears the device alarm `<code>` (docs/protocol.md)."""


def lock_farm(conn: Connection, farm_id: int) -> int:
    """Takes the farm row's write lock (a no-op update); returns its alarm version."""
    version: int = conn.execute(
        update(farms)
        .where(farms.c.id == farm_id)
        .values(last_seq=farms.c.last_seq)
        .returning(farms.c.alarm_version)
    ).scalar_one()
    return version


def next_seq(conn: Connection, farm_id: int) -> int:
    seq: int = conn.execute(
        update(farms)
        .where(farms.c.id == farm_id)
        .values(last_seq=farms.c.last_seq + 1)
        .returning(farms.c.last_seq)
    ).scalar_one()
    return seq


def bump_version(conn: Connection, farm_id: int) -> int:
    """Marks the farm's rules or watches changed: every cache of them (any instance) reloads."""
    version: int = conn.execute(
        update(farms)
        .where(farms.c.id == farm_id)
        .values(alarm_version=farms.c.alarm_version + 1)
        .returning(farms.c.alarm_version)
    ).scalar_one()
    return version


class Recorder:
    """Writes alarms and their changes for one farm; collects the changes it streams."""

    def __init__(self, conn: Connection, farm_id: int, farm_name: str, now_ms: int) -> None:
        self.conn = conn
        self.farm_id = farm_id
        self.farm_name = farm_name
        self.now_ms = now_ms
        self.updates: list[AlarmUpdate] = []

    def raise_alarm(
        self,
        *,
        kind: AlarmKind,
        code: str,
        severity: Severity,
        message: str,
        rule_id: int | None = None,
        device_id: int | None = None,
        sensor_id: int | None = None,
        value: float | None = None,
    ) -> Alarm:
        seq = next_seq(self.conn, self.farm_id)
        values: dict[str, Any] = {
            "farm_id": self.farm_id,
            "seq": seq,
            "rule_id": rule_id,
            "device_id": device_id,
            "sensor_id": sensor_id,
            "kind": kind.value,
            "code": code,
            "severity": severity.value,
            "message": message,
            "value": value,
            "state": AlarmState.ACTIVE.value,
            "raised_ms": self.now_ms,
        }
        pk = self.conn.execute(insert(alarms).values(**values)).inserted_primary_key
        assert pk is not None
        alarm = Alarm(
            pk[0], self.farm_id, seq, kind, code, severity, message, AlarmState.ACTIVE,
            self.now_ms, rule_id, device_id, sensor_id, value,
        )  # fmt: skip
        self.record(alarm, AlarmChange.RAISED)
        return alarm

    def clear(self, alarm_id: int) -> Alarm | None:
        """Ends an alarm's condition: active -> cleared, acknowledged -> closed."""
        row = self.conn.execute(select(alarms).where(alarms.c.id == alarm_id)).first()
        if row is None:
            return None
        cur = rows.alarm(row)
        if not cur.state.holding:
            return None
        state = AlarmState.CLEARED if cur.state is AlarmState.ACTIVE else AlarmState.CLOSED
        return self.move(cur, state, AlarmChange.CLEARED, cleared_ms=self.now_ms)

    def move(self, cur: Alarm, state: AlarmState, change: AlarmChange, **values: Any) -> Alarm:
        """Moves an alarm to `state` (with extra column `values`) as one sequenced change."""
        seq = next_seq(self.conn, self.farm_id)
        self.conn.execute(
            update(alarms).where(alarms.c.id == cur.id).values(state=state.value, seq=seq, **values)
        )
        new = rows.alarm(self.conn.execute(select(alarms).where(alarms.c.id == cur.id)).one())
        self.record(new, change)
        return new

    def record(self, alarm: Alarm, change: AlarmChange) -> None:
        obj = alarm_json(alarm)
        self.conn.execute(
            insert(alarm_changes).values(
                farm_id=self.farm_id,
                seq=alarm.seq,
                alarm_id=alarm.id,
                change=change.value,
                received_ms=self.now_ms,
                snapshot=obj,
            )
        )
        payload = {**obj, "change": change.value, "farm_name": self.farm_name}
        outbox.enqueue(self.conn, self.farm_id, "alarm", payload, self.now_ms)
        self.updates.append(AlarmUpdate(self.farm_id, alarm.seq, alarm, change, self.now_ms))


def describe(rule: AlarmRule, value: float | None) -> str:
    """An alarm's message: the rule's own, else one that says what happened."""
    if rule.message:
        return rule.message
    secs = f" for {rule.for_ms / 1000:g} s" if rule.for_ms else ""
    if rule.kind.on_sensor and value is not None:
        return f"{rule.name}: {value:g} {rule.kind.value} {rule.threshold:g}{secs}"
    if rule.kind is RuleKind.NO_DATA:
        return f"{rule.name}: no data{secs}"
    if rule.kind is RuleKind.OFFLINE:
        return f"{rule.name}: offline{secs}"
    if rule.kind is RuleKind.COMMAND_FAILED:
        return f"{rule.name}: a command failed"
    return rule.name


class Evaluation:
    """One farm's rules stepped within one transaction; `finish` writes the watches."""

    def __init__(self, rec: Recorder, fa: FarmAlarms) -> None:
        self.rec = rec
        self.fa = fa
        self.dirty: dict[tuple[int, str], WatchEntry] = {}

    def step(
        self,
        rule: AlarmRule,
        subject: str,
        new: Watch,
        tr: Transition | None,
        *,
        device_id: int | None = None,
        sensor_id: int | None = None,
    ) -> None:
        key = (rule.id, subject)
        entry = self.fa.entry(rule.id, subject)
        alarm_id = entry.alarm_id
        if tr is Transition.RAISE:
            alarm_id = self.rec.raise_alarm(
                kind=AlarmKind(rule.kind.value),
                code=rule.code,
                severity=rule.severity,
                message=describe(rule, new.value),
                rule_id=rule.id,
                device_id=device_id,
                sensor_id=sensor_id,
                value=new.value if rule.kind.on_sensor else None,
            ).id
        elif tr is Transition.CLEAR:
            if alarm_id is not None:
                self.rec.clear(alarm_id)
            alarm_id = None
        fresh = WatchEntry(new, alarm_id, entry.stored)
        if new.active or new.pending_since_ms is not None or entry.stored:
            self.fa.put_watch(rule.id, subject, fresh)
        else:
            self.fa.drop_watch(rule.id, subject)
        old = entry.watch
        if tr is not None or (old.pending_since_ms, old.active) != (
            new.pending_since_ms,
            new.active,
        ):
            self.dirty[key] = fresh

    def finish(self) -> list[AlarmUpdate]:
        conn = self.rec.conn
        for (rule_id, subject), entry in self.dirty.items():
            if entry.stored:
                conn.execute(
                    delete(alarm_watches).where(
                        alarm_watches.c.rule_id == rule_id, alarm_watches.c.subject == subject
                    )
                )
            w = entry.watch
            entry.stored = w.active or w.pending_since_ms is not None
            if not entry.stored and self.fa.watches.get((rule_id, subject)) is entry:
                self.fa.drop_watch(rule_id, subject)  # idle again: the fast path applies
            if entry.stored:
                conn.execute(
                    insert(alarm_watches).values(
                        rule_id=rule_id,
                        subject=subject,
                        pending_since_ms=w.pending_since_ms,
                        active_alarm_id=entry.alarm_id,
                        last_ms=w.last_ms,
                        value=w.value,
                    )
                )
        if self.dirty:
            self.fa.version = bump_version(conn, self.fa.farm_id)
            self.dirty = {}
        return self.rec.updates


def evaluate_ingest(
    conn: Connection,
    cache: AlarmCache,
    versions: Mapping[int, int],
    now_ms: int,
    readings: Iterable[Reading],
    statuses: Iterable[StatusRecord],
    data: Mapping[int, Mapping[int, int]],
    events: Iterable[Event],
) -> list[AlarmUpdate]:
    """Steps the rules of the farms in `versions` (farm -> alarm version, read under the lock)
    by a group's newest reading per sensor, newest status per device, the devices that sent
    data (`data`: farm -> device -> stored ms) and the device events; returns the changes."""
    by_farm_readings: dict[int, list[Reading]] = {}
    for r in readings:
        by_farm_readings.setdefault(r.farm_id, []).append(r)
    by_farm_status: dict[int, list[StatusRecord]] = {}
    for s in statuses:
        by_farm_status.setdefault(s.farm_id, []).append(s)
    by_farm_events: dict[int, list[Event]] = {}
    for e in events:
        if e.device_id is not None and (
            e.level is EventLevel.ALARM or e.code.endswith(CLEARED_SUFFIX)
        ):
            by_farm_events.setdefault(e.farm_id, []).append(e)
    out: list[AlarmUpdate] = []
    for farm_id, version in versions.items():
        farm_events = by_farm_events.get(farm_id)
        fa = cache.farm(conn, farm_id, version)
        if not fa.rules and not farm_events:
            continue  # the hot path of a farm without rules: one dict look-up
        rec = Recorder(conn, farm_id, fa.farm_name, now_ms)
        ev = Evaluation(rec, fa)
        if fa.rules:
            _readings(ev, by_farm_readings.get(farm_id, ()))
            for srec in by_farm_status.get(farm_id, ()):
                for rule in fa.device_rules(srec.device_id, RuleKind.OFFLINE):
                    subject = f"d{srec.device_id}"
                    w = fa.entry(rule.id, subject).watch
                    new, tr = on_status(rule, w, srec.status.state, srec.received_ms)
                    ev.step(rule, subject, new, tr, device_id=srec.device_id)
            for device_id, at_ms in data.get(farm_id, {}).items():
                for rule in fa.device_rules(device_id, RuleKind.NO_DATA):
                    subject = f"d{device_id}"
                    w = fa.entry(rule.id, subject).watch
                    if w.active:  # an idle no_data watch needs nothing: last-seen is stored
                        new, tr = on_data(rule, w, at_ms)
                        ev.step(rule, subject, new, tr, device_id=device_id)
        for e in farm_events or ():
            device_event(rec, e)
        out.extend(ev.finish())
    return out


def _readings(ev: Evaluation, readings: Iterable[Reading]) -> None:
    fa = ev.fa
    for r in readings:
        if r.sensor_id not in fa.by_sensor and not fa.by_sensor_name:
            continue
        idx, info = fa.index(ev.rec.conn, r.sensor_id)
        if not idx.above and not idx.below:
            continue
        if info.last_ts_ms is not None and r.ts_ms < info.last_ts_ms:
            continue  # a late, buffered reading: not the sensor's latest value
        info.last_ts_ms = r.ts_ms
        subject = f"s{r.sensor_id}"
        busy = fa.busy.get(subject)
        # The rules with a watch (pending or raised), then the idle ones this value starts:
        # the steady state of a thousand idle rules is one bisection per reading.
        todo = [fa.rules[i] for i in busy if i in fa.rules] if busy else []
        todo.extend(rule for rule in idx.starting(r.value) if not busy or rule.id not in busy)
        for rule in todo:
            w = fa.entry(rule.id, subject).watch
            new, tr = on_reading(rule, w, r.value, r.received_ms)
            ev.step(rule, subject, new, tr, device_id=r.device_id, sensor_id=r.sensor_id)


def device_event(rec: Recorder, e: Event) -> None:
    """A device-sent alarm: level `alarm` with code C raises (or keeps) the device alarm
    (device, C); code `C_cleared` clears it."""
    cleared = e.code.endswith(CLEARED_SUFFIX)
    code = e.code[: -len(CLEARED_SUFFIX)] if cleared else e.code
    holding = rec.conn.execute(
        select(alarms.c.id).where(
            and_(
                alarms.c.device_id == e.device_id,
                alarms.c.code == code,
                alarms.c.kind == AlarmKind.DEVICE.value,
                alarms.c.state.in_([AlarmState.ACTIVE.value, AlarmState.ACKNOWLEDGED.value]),
            )
        )
    ).scalar()
    if cleared:
        if holding is not None:
            rec.clear(holding)
    elif holding is None:
        rec.raise_alarm(
            kind=AlarmKind.DEVICE,
            code=code,
            severity=Severity.CRITICAL,
            message=e.message or code,
            device_id=e.device_id,
        )


def evaluate_command(
    conn: Connection, cache: AlarmCache, version: int, upd: CommandUpdate
) -> list[AlarmUpdate]:
    """Steps the command_failed rules of the command's device by its new state."""
    fa = cache.farm(conn, upd.farm_id, version)
    rules = fa.device_rules(upd.device_id, RuleKind.COMMAND_FAILED) if fa.rules else []
    if not rules:
        return []
    ev = Evaluation(Recorder(conn, upd.farm_id, fa.farm_name, upd.ts_ms), fa)
    subject = f"d{upd.device_id}"
    for rule in rules:
        new, tr = on_command(rule, fa.entry(rule.id, subject).watch, upd.state, upd.ts_ms)
        ev.step(rule, subject, new, tr, device_id=upd.device_id)
    return ev.finish()


def timed_farms(conn: Connection) -> list[int]:
    """The farms with a rule whose duration can elapse unobserved (the timer's work)."""
    q = (
        select(alarm_rules.c.farm_id)
        .where(
            alarm_rules.c.enabled,
            (alarm_rules.c.kind.in_([RuleKind.NO_DATA.value, RuleKind.OFFLINE.value]))
            | (alarm_rules.c.for_ms > 0),
        )
        .distinct()
        .order_by(alarm_rules.c.farm_id)
    )
    return [r[0] for r in conn.execute(q)]


def evaluate_timers(conn: Connection, cache: AlarmCache, now_ms: int) -> list[AlarmUpdate]:
    """The timer's job: for each farm with timed rules, under its row lock, raises what has
    held long enough with no new input (on_tick)."""
    out: list[AlarmUpdate] = []
    for farm_id in timed_farms(conn):
        fa = cache.farm(conn, farm_id, lock_farm(conn, farm_id))
        timed = [r for r in fa.rules.values() if is_time_based(r)]
        if not timed:
            continue
        ev = Evaluation(Recorder(conn, farm_id, fa.farm_name, now_ms), fa)
        devs = None
        for rule in timed:
            if rule.kind.on_sensor:
                for (rule_id, subject), entry in list(fa.watches.items()):
                    if rule_id == rule.id and entry.watch.pending_since_ms is not None:
                        new, tr = on_tick(rule, entry.watch, now_ms)
                        sid = int(subject[1:])
                        info = fa.sensors.get(sid)
                        ev.step(
                            rule, subject, new, tr,
                            device_id=info.device_id if info else None, sensor_id=sid,
                        )  # fmt: skip
                continue
            if devs is None:
                devs = conn.execute(
                    select(
                        devices.c.id, devices.c.state, devices.c.last_seen_ms, devices.c.created_ms
                    ).where(devices.c.farm_id == farm_id)
                ).all()
            for d in devs:
                if rule.device_id is not None and d.id != rule.device_id:
                    continue
                subject = f"d{d.id}"
                w = fa.entry(rule.id, subject).watch
                if rule.kind is RuleKind.NO_DATA:
                    last = d.last_seen_ms or max(d.created_ms, rule.created_ms)
                    w = dataclasses.replace(w, last_ms=last)
                elif rule.kind is RuleKind.OFFLINE:
                    if d.state != "offline" or w.active:
                        continue
                    if w.pending_since_ms is None:
                        # Offline before the rule saw it go: count from the first look.
                        ev.step(rule, subject, Watch(pending_since_ms=now_ms), None, device_id=d.id)
                        w = fa.entry(rule.id, subject).watch
                new, tr = on_tick(rule, w, now_ms)
                if tr is not None:
                    ev.step(rule, subject, new, tr, device_id=d.id)
        out.extend(ev.finish())
    return out
