"""Alarm use cases: list and acknowledge alarms, manage a farm's rules (validated, audited).

Roles: a viewer reads alarms and rules, an operator acknowledges, a farm admin manages
rules and reads their audit (docs/api.md, Alarms).
"""

from __future__ import annotations

from farmbridge.domain import (
    Alarm,
    AlarmFilter,
    AlarmRule,
    Role,
    RuleAudit,
    RuleKind,
    RuleSpec,
)
from farmbridge.domain.errors import NotFound, ValidationFailed
from farmbridge.service.access import Principal
from farmbridge.store import Store


class AlarmService:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def list_alarms(self, who: Principal, farm_id: int, flt: AlarmFilter) -> list[Alarm]:
        who.require(farm_id, Role.VIEWER, what="farm")
        await self._store.get_farm(farm_id)
        return await self._store.list_alarms(farm_id, flt)

    async def acknowledge(self, who: Principal, farm_id: int, alarm_id: int, comment: str) -> Alarm:
        """Raises NotFound (not this farm's), Forbidden (below operator), Conflict (closed)."""
        who.require(farm_id, Role.VIEWER, what="alarm")
        alarm = await self._store.get_alarm(alarm_id)
        if alarm.farm_id != farm_id:
            raise NotFound("alarm not found")
        who.require(farm_id, Role.OPERATOR)
        done = await self._store.acknowledge_alarm(
            alarm_id, by=who.user.id, username=who.user.username, comment=comment
        )
        return done.alarm

    async def list_rules(self, who: Principal, farm_id: int) -> list[AlarmRule]:
        who.require(farm_id, Role.VIEWER, what="farm")
        await self._store.get_farm(farm_id)
        return await self._store.list_alarm_rules(farm_id)

    async def rule(self, who: Principal, farm_id: int, rule_id: int) -> AlarmRule:
        who.require(farm_id, Role.VIEWER, what="alarm rule")
        rule = await self._store.get_alarm_rule(rule_id)
        if rule.farm_id != farm_id:
            raise NotFound("alarm rule not found")
        return rule

    async def create_rule(self, who: Principal, farm_id: int, spec: RuleSpec) -> AlarmRule:
        who.require(farm_id, Role.ADMIN, what="farm")
        await self._store.get_farm(farm_id)
        await self._check(farm_id, spec)
        done = await self._store.create_alarm_rule(
            farm_id, spec, by=who.user.id, username=who.user.username
        )
        assert done.rule is not None
        return done.rule

    async def replace_rule(
        self, who: Principal, farm_id: int, rule_id: int, spec: RuleSpec
    ) -> AlarmRule:
        await self.rule(who, farm_id, rule_id)
        who.require(farm_id, Role.ADMIN, what="farm")
        await self._check(farm_id, spec)
        done = await self._store.update_alarm_rule(
            rule_id, spec, by=who.user.id, username=who.user.username
        )
        assert done.rule is not None
        return done.rule

    async def delete_rule(self, who: Principal, farm_id: int, rule_id: int) -> None:
        await self.rule(who, farm_id, rule_id)
        who.require(farm_id, Role.ADMIN, what="farm")
        await self._store.delete_alarm_rule(rule_id, by=who.user.id, username=who.user.username)

    async def audit(self, who: Principal, farm_id: int, *, limit: int = 100) -> list[RuleAudit]:
        who.require(farm_id, Role.ADMIN, what="farm")
        await self._store.get_farm(farm_id)
        return await self._store.alarm_rule_audit(farm_id, limit=limit)

    async def _check(self, farm_id: int, spec: RuleSpec) -> None:
        """The rules of a rule that need the store: its sensor and device are this farm's."""
        check_rule(spec)
        if spec.sensor_id is not None:
            try:
                sensor = await self._store.get_sensor(spec.sensor_id)
            except NotFound:
                sensor = None
            if sensor is None or sensor.farm_id != farm_id:
                raise ValidationFailed("no such sensor on this farm", field="sensor_id")
        if spec.device_id is not None:
            try:
                device = await self._store.get_device(spec.device_id)
            except NotFound:
                device = None
            if device is None or device.farm_id != farm_id:
                raise ValidationFailed("no such device on this farm", field="device_id")


def check_rule(spec: RuleSpec) -> None:
    """Raises ValidationFailed naming the field at fault (docs/api.md, Alarm rules)."""
    if not spec.name.strip():
        raise ValidationFailed("a rule needs a name", field="name")
    if spec.for_ms < 0:
        raise ValidationFailed("for_s must be >= 0", field="for_s")
    if spec.kind.on_sensor:
        if spec.threshold is None:
            raise ValidationFailed(
                f"a rule of kind {spec.kind.value} needs a threshold", field="threshold"
            )
        if (spec.sensor_id is None) == (spec.sensor_name is None):
            raise ValidationFailed(
                "give exactly one of sensor_id and sensor_name", field="sensor_id"
            )
        if spec.device_id is not None:
            raise ValidationFailed(
                "a threshold rule watches sensors, not a device", field="device_id"
            )
        clear = spec.clear_threshold
        if clear is not None and (
            (spec.kind is RuleKind.ABOVE and clear > spec.threshold)
            or (spec.kind is RuleKind.BELOW and clear < spec.threshold)
        ):
            side = "at or below" if spec.kind is RuleKind.ABOVE else "at or above"
            raise ValidationFailed(
                f"clear_threshold must be {side} the threshold", field="clear_threshold"
            )
        return
    for name, value in (
        ("sensor_id", spec.sensor_id),
        ("sensor_name", spec.sensor_name),
        ("threshold", spec.threshold),
        ("clear_threshold", spec.clear_threshold),
    ):
        if value is not None:
            raise ValidationFailed(f"a {spec.kind.value} rule takes no {name}", field=name)
    if spec.kind in (RuleKind.NO_DATA, RuleKind.OFFLINE) and spec.for_ms <= 0:
        raise ValidationFailed(f"a {spec.kind.value} rule needs for_s > 0", field="for_s")
