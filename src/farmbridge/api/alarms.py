"""Alarms and alarm rules of a farm: list, acknowledge, rules CRUD, the rules' audit."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Final

from fastapi import APIRouter, Query, Response

from farmbridge.api.alarm_schemas import (
    AckIn,
    AlarmOut,
    AlarmsOut,
    AuditEntryOut,
    AuditOut,
    RuleIn,
    RuleOut,
)
from farmbridge.api.deps import Svc, Who
from farmbridge.api.routing import BoundedRoute
from farmbridge.domain import AlarmFilter, AlarmState, Severity
from farmbridge.domain.bounds import Id, Int64, PathId

router = APIRouter(prefix="/api/v1", tags=["alarms"], route_class=BoundedRoute)

Limit = Annotated[int, Query(ge=1, le=1_000)]


class StateQuery(StrEnum):
    OPEN = "open"
    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"
    CLOSED = "closed"
    ALL = "all"


STATES: Final[dict[StateQuery, frozenset[AlarmState] | None]] = {
    StateQuery.OPEN: frozenset(s for s in AlarmState if s.open),
    StateQuery.ALL: None,
    **{q: frozenset({AlarmState(q.value)}) for q in StateQuery if q.value in set(AlarmState)},
}


@router.get("/farms/{farm_id}/alarms")
async def list_alarms(
    farm_id: PathId,
    svc: Svc,
    who: Who,
    state: StateQuery = StateQuery.OPEN,
    severity: Severity | None = None,
    device_id: Id | None = None,
    before_seq: Annotated[Int64 | None, Query(description="page: alarms older than this")] = None,
    limit: Limit = 100,
) -> AlarmsOut:
    """A farm's alarms (viewer), newest change first; `open` (the default) is every state
    but `closed`. Pass the last `seq` you got as `before_seq` for the next page."""
    flt = AlarmFilter(
        states=STATES[state], severity=severity, device_id=device_id, before_seq=before_seq,
        limit=limit,
    )  # fmt: skip
    return AlarmsOut(
        alarms=[AlarmOut.of(a) for a in await svc.alarms.list_alarms(who, farm_id, flt)]
    )


@router.post("/farms/{farm_id}/alarms/{alarm_id}/ack")
async def acknowledge(
    farm_id: PathId, alarm_id: PathId, body: AckIn, svc: Svc, who: Who
) -> AlarmOut:
    """Acknowledges an alarm (operator): active -> acknowledged, cleared -> closed; 409 when
    closed already. Every subscriber of the farm sees the change live."""
    return AlarmOut.of(await svc.alarms.acknowledge(who, farm_id, alarm_id, body.comment))


@router.get("/farms/{farm_id}/alarm-rules/audit")
async def audit(farm_id: PathId, svc: Svc, who: Who, limit: Limit = 100) -> AuditOut:
    """Who changed which rule, when, with the rule before and after (farm admin), newest first."""
    entries = await svc.alarms.audit(who, farm_id, limit=limit)
    return AuditOut(entries=[AuditEntryOut.of(e) for e in entries])


@router.get("/farms/{farm_id}/alarm-rules")
async def list_rules(farm_id: PathId, svc: Svc, who: Who) -> list[RuleOut]:
    return [RuleOut.of(r) for r in await svc.alarms.list_rules(who, farm_id)]


@router.post("/farms/{farm_id}/alarm-rules", status_code=201)
async def create_rule(farm_id: PathId, body: RuleIn, svc: Svc, who: Who) -> RuleOut:
    """Creates a rule (farm admin); 422 names the field at fault."""
    return RuleOut.of(await svc.alarms.create_rule(who, farm_id, body.spec()))


@router.get("/farms/{farm_id}/alarm-rules/{rule_id}")
async def get_rule(farm_id: PathId, rule_id: PathId, svc: Svc, who: Who) -> RuleOut:
    return RuleOut.of(await svc.alarms.rule(who, farm_id, rule_id))


@router.put("/farms/{farm_id}/alarm-rules/{rule_id}")
async def replace_rule(
    farm_id: PathId, rule_id: PathId, body: RuleIn, svc: Svc, who: Who
) -> RuleOut:
    """Replaces a rule (farm admin): the alarms it held raised clear, it watches afresh."""
    return RuleOut.of(await svc.alarms.replace_rule(who, farm_id, rule_id, body.spec()))


@router.delete("/farms/{farm_id}/alarm-rules/{rule_id}", status_code=204)
async def delete_rule(farm_id: PathId, rule_id: PathId, svc: Svc, who: Who) -> Response:
    """Deletes a rule (farm admin); the alarms it held raised clear and stay listed."""
    await svc.alarms.delete_rule(who, farm_id, rule_id)
    return Response(status_code=204)
