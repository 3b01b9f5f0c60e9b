"""The SQL store's alarms aggregate: rules and their audit, alarms, acknowledgement, timer.

Every write here takes the farm row's lock first (store/alarm_writes.py), bumps the
farm's alarm version when rules change, and streams its alarm changes like any other.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from farmbridge.domain import (
    Alarm,
    AlarmChange,
    AlarmFilter,
    AlarmRule,
    AlarmState,
    RuleAudit,
    RuleSpec,
)
from farmbridge.domain.alarms import rule_json, slug
from farmbridge.domain.errors import Conflict
from farmbridge.store import rows
from farmbridge.store.alarm_writes import (
    Recorder,
    bump_version,
    evaluate_timers,
    lock_farm,
)
from farmbridge.store.database import SqlAggregate, one_row
from farmbridge.store.results import AlarmAcked, AlarmsChanged, RuleChanged
from farmbridge.store.schema import alarm_rule_audit, alarm_rules, alarm_watches, alarms, farms

OPEN_STATES = tuple(s.value for s in AlarmState if s.open)


class SqlAlarms(SqlAggregate):
    """See farmbridge.store.base.AlarmStore for the contract of each method."""

    async def create_alarm_rule(
        self, farm_id: int, spec: RuleSpec, *, by: int | None, username: str
    ) -> RuleChanged:
        at = self._db.clock.wall_ms()

        def fn(c: Connection) -> RuleChanged:
            lock_farm(c, farm_id)
            pk = c.execute(
                insert(alarm_rules).values(
                    farm_id=farm_id, created_ms=at, **_spec_values(spec, at, by)
                )
            ).inserted_primary_key
            assert pk is not None
            rule = _rule(c, pk[0])
            _audit(c, rule, "created", at, by, username, None, rule)
            bump_version(c, farm_id)
            return RuleChanged(rule)

        return await self._db.write_streamed(fn)

    async def update_alarm_rule(
        self, rule_id: int, spec: RuleSpec, *, by: int | None, username: str
    ) -> RuleChanged:
        at = self._db.clock.wall_ms()

        def fn(c: Connection) -> RuleChanged:
            before = _rule(c, rule_id)
            lock_farm(c, before.farm_id)
            rec = _drop_watches(c, before, at)
            c.execute(
                update(alarm_rules)
                .where(alarm_rules.c.id == rule_id)
                .values(**_spec_values(spec, at, by))
            )
            rule = _rule(c, rule_id)
            _audit(c, rule, "updated", at, by, username, before, rule)
            bump_version(c, rule.farm_id)
            return RuleChanged(rule, tuple(rec.updates))

        return await self._db.write_streamed(fn)

    async def delete_alarm_rule(
        self, rule_id: int, *, by: int | None, username: str
    ) -> RuleChanged:
        at = self._db.clock.wall_ms()

        def fn(c: Connection) -> RuleChanged:
            before = _rule(c, rule_id)
            lock_farm(c, before.farm_id)
            rec = _drop_watches(c, before, at)
            c.execute(delete(alarm_rules).where(alarm_rules.c.id == rule_id))
            _audit(c, before, "deleted", at, by, username, before, None)
            bump_version(c, before.farm_id)
            return RuleChanged(None, tuple(rec.updates))

        return await self._db.write_streamed(fn)

    async def get_alarm_rule(self, rule_id: int) -> AlarmRule:
        return await self._db.read(lambda c: _rule(c, rule_id))

    async def list_alarm_rules(self, farm_id: int) -> list[AlarmRule]:
        q = select(alarm_rules).where(alarm_rules.c.farm_id == farm_id).order_by(alarm_rules.c.id)
        return await self._db.read(lambda c: [rows.alarm_rule(r) for r in c.execute(q)])

    async def alarm_rule_audit(self, farm_id: int, *, limit: int = 100) -> list[RuleAudit]:
        q = (
            select(alarm_rule_audit)
            .where(alarm_rule_audit.c.farm_id == farm_id)
            .order_by(alarm_rule_audit.c.id.desc())
            .limit(limit)
        )
        return await self._db.read(lambda c: [rows.rule_audit(r) for r in c.execute(q)])

    async def list_alarms(self, farm_id: int, flt: AlarmFilter) -> list[Alarm]:
        q = select(alarms).where(alarms.c.farm_id == farm_id)
        if flt.states is not None:
            q = q.where(alarms.c.state.in_([s.value for s in flt.states]))
        if flt.severity is not None:
            q = q.where(alarms.c.severity == flt.severity.value)
        if flt.device_id is not None:
            q = q.where(alarms.c.device_id == flt.device_id)
        if flt.before_seq is not None:
            q = q.where(alarms.c.seq < flt.before_seq)
        q = q.order_by(alarms.c.seq.desc()).limit(flt.limit)
        return await self._db.read(lambda c: [rows.alarm(r) for r in c.execute(q)])

    async def open_alarms(self, farm_id: int) -> list[Alarm]:
        q = (
            select(alarms)
            .where(alarms.c.farm_id == farm_id, alarms.c.state.in_(OPEN_STATES))
            .order_by(alarms.c.seq)
        )
        return await self._db.read(lambda c: [rows.alarm(r) for r in c.execute(q)])

    async def get_alarm(self, alarm_id: int) -> Alarm:
        return await self._db.read(
            lambda c: rows.alarm(one_row(c, alarms, alarms.c.id == alarm_id, "alarm"))
        )

    async def acknowledge_alarm(
        self, alarm_id: int, *, by: int, username: str, comment: str
    ) -> AlarmAcked:
        at = self._db.clock.wall_ms()

        def fn(c: Connection) -> AlarmAcked:
            farm_id = one_row(c, alarms, alarms.c.id == alarm_id, "alarm").farm_id
            lock_farm(c, farm_id)  # then read it again: nobody moves it under us now
            cur = rows.alarm(one_row(c, alarms, alarms.c.id == alarm_id, "alarm"))
            if cur.state is AlarmState.CLOSED:
                raise Conflict(f"alarm {alarm_id} is closed already")
            if cur.state is AlarmState.ACKNOWLEDGED:
                return AlarmAcked(cur)  # acknowledged already: nothing changes, no seq taken
            name = c.execute(select(farms.c.name).where(farms.c.id == farm_id)).scalar_one()
            rec = Recorder(c, farm_id, name, at)
            active = cur.state is AlarmState.ACTIVE
            new = rec.move(
                cur,
                AlarmState.ACKNOWLEDGED if active else AlarmState.CLOSED,
                AlarmChange.ACKNOWLEDGED if active else AlarmChange.CLOSED,
                ack_by=by,
                ack_user=username,
                ack_ms=at,
                ack_comment=comment,
            )
            return AlarmAcked(new, tuple(rec.updates))

        return await self._db.write_streamed(fn)

    async def evaluate_alarm_timers(self, now_ms: int) -> AlarmsChanged:
        cache = self._db.alarm_cache
        return await self._db.write_streamed(
            lambda c: AlarmsChanged(tuple(evaluate_timers(c, cache, now_ms)))
        )


def _rule(c: Connection, rule_id: int) -> AlarmRule:
    return rows.alarm_rule(one_row(c, alarm_rules, alarm_rules.c.id == rule_id, "alarm rule"))


def _spec_values(spec: RuleSpec, at: int, by: int | None) -> dict[str, Any]:
    return {
        "name": spec.name,
        "code": slug(spec.name),
        "kind": spec.kind.value,
        "severity": spec.severity.value,
        "sensor_id": spec.sensor_id,
        "sensor_name": spec.sensor_name,
        "device_id": spec.device_id,
        "threshold": spec.threshold,
        "clear_threshold": spec.clear_threshold,
        "for_ms": spec.for_ms,
        "enabled": spec.enabled,
        "message": spec.message,
        "updated_ms": at,
        "updated_by": by,
    }


def _drop_watches(c: Connection, rule: AlarmRule, at: int) -> Recorder:
    """Forgets a replaced or deleted rule's watches and clears the alarms they held raised:
    nothing would ever clear them otherwise; a replaced rule starts watching afresh."""
    name = c.execute(select(farms.c.name).where(farms.c.id == rule.farm_id)).scalar_one()
    rec = Recorder(c, rule.farm_id, name, at)
    held = c.execute(
        select(alarm_watches.c.active_alarm_id).where(
            alarm_watches.c.rule_id == rule.id, alarm_watches.c.active_alarm_id.is_not(None)
        )
    ).all()
    for (alarm_id,) in held:
        rec.clear(alarm_id)
    c.execute(delete(alarm_watches).where(alarm_watches.c.rule_id == rule.id))
    return rec


def _audit(
    c: Connection,
    rule: AlarmRule,
    action: str,
    at: int,
    by: int | None,
    username: str,
    before: AlarmRule | None,
    after: AlarmRule | None,
) -> None:
    c.execute(
        insert(alarm_rule_audit).values(
            farm_id=rule.farm_id,
            rule_id=rule.id,
            action=action,
            at_ms=at,
            user_id=by,
            username=username,
            before=None if before is None else rule_json(before),
            after=None if after is None else rule_json(after),
        )
    )
