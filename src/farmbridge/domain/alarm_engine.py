"""The pure alarm rule engine: one rule's watch of one subject, stepped by what happened.

Each function takes a rule, the durable `Watch` of one subject (a sensor for threshold
rules, a device for the others) and one input, and returns the new watch and the
transition it caused, if any. No I/O and no clock: time comes in as `at_ms`/`now_ms`,
so the store runs it inside the transaction of the cause and the timer's job alike, and
the property tests drive it over random signals (tests/unit/test_alarm_engine.py).

Semantics (docs/design.md, Alarms):
- above/below: the condition (value > threshold, value < threshold) must hold on every
  reading for at least `for_ms`; a reading outside it resets the pending start. Once
  raised, the alarm clears only when a value crosses back past the clear threshold
  (value <= clear_threshold for above, >= for below); values inside the band keep it.
  While raised it never raises again, so flapping inside the band raises once.
- no_data: raises when `now - last data >= for_ms`; the next data clears it.
- offline: raises when the device has been offline for `for_ms`; back (any other state)
  clears it.
- command_failed: a failed or timed-out command raises; the next acknowledged one clears.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from farmbridge.domain.alarms import AlarmRule, RuleKind
from farmbridge.domain.commands import CommandState
from farmbridge.domain.devices import DeviceState


class Transition(StrEnum):
    RAISE = "raise"
    CLEAR = "clear"


@dataclass(frozen=True, slots=True)
class Watch:
    """What a rule remembers of one subject between inputs (table `alarm_watches`).

    `pending_since_ms`: when the condition began and has held since (not raised yet);
    `active`: raised and not cleared; `last_ms`: the last input's time (no_data: the
    last data); `value`: the last value seen (the value a tick-raised alarm reports).
    """

    pending_since_ms: int | None = None
    active: bool = False
    last_ms: int | None = None
    value: float | None = None


IDLE = Watch()

Step = tuple[Watch, Transition | None]


def holds(rule: AlarmRule, value: float) -> bool:
    """The raise condition of a threshold rule."""
    assert rule.threshold is not None
    if rule.kind is RuleKind.ABOVE:
        return value > rule.threshold
    return value < rule.threshold


def clears(rule: AlarmRule, value: float) -> bool:
    """The clear condition of a raised threshold rule: past the clear threshold."""
    edge = rule.clear_at
    assert edge is not None
    if rule.kind is RuleKind.ABOVE:
        return value <= edge
    return value >= edge


def on_reading(rule: AlarmRule, watch: Watch, value: float, at_ms: int) -> Step:
    """A threshold rule's sensor has a new latest value, stored at `at_ms`."""
    if not rule.kind.on_sensor:
        return watch, None
    if watch.active:
        if clears(rule, value):
            return Watch(last_ms=at_ms, value=value), Transition.CLEAR
        return replace(watch, last_ms=at_ms, value=value), None
    if not holds(rule, value):
        return Watch(last_ms=at_ms, value=value), None
    since = watch.pending_since_ms if watch.pending_since_ms is not None else at_ms
    if at_ms - since >= rule.for_ms:
        return Watch(active=True, last_ms=at_ms, value=value), Transition.RAISE
    return Watch(pending_since_ms=since, last_ms=at_ms, value=value), None


def on_data(rule: AlarmRule, watch: Watch, at_ms: int) -> Step:
    """The device of a no_data rule sent something at `at_ms`."""
    if rule.kind is not RuleKind.NO_DATA:
        return watch, None
    return Watch(last_ms=at_ms), Transition.CLEAR if watch.active else None


def on_status(rule: AlarmRule, watch: Watch, state: DeviceState, at_ms: int) -> Step:
    """The device of an offline rule changed state at `at_ms`."""
    if rule.kind is not RuleKind.OFFLINE:
        return watch, None
    if state is not DeviceState.OFFLINE:
        return Watch(last_ms=at_ms), Transition.CLEAR if watch.active else None
    if watch.active:
        return replace(watch, last_ms=at_ms), None
    since = watch.pending_since_ms if watch.pending_since_ms is not None else at_ms
    if at_ms - since >= rule.for_ms:
        return Watch(active=True, last_ms=at_ms), Transition.RAISE
    return Watch(pending_since_ms=since, last_ms=at_ms), None


def on_command(rule: AlarmRule, watch: Watch, state: CommandState, at_ms: int) -> Step:
    """A command of the device of a command_failed rule reached `state` at `at_ms`."""
    if rule.kind is not RuleKind.COMMAND_FAILED:
        return watch, None
    if state in (CommandState.FAILED, CommandState.TIMED_OUT):
        if watch.active:
            return replace(watch, last_ms=at_ms), None
        return Watch(active=True, last_ms=at_ms), Transition.RAISE
    if state is CommandState.ACKNOWLEDGED and watch.active:
        return Watch(last_ms=at_ms), Transition.CLEAR
    return watch, None


def on_tick(rule: AlarmRule, watch: Watch, now_ms: int) -> Step:
    """Time passed to `now_ms` with no new input: raises what has held long enough.

    For no_data, `watch.last_ms` must be the subject's last data (the store fills it in
    from the device's last-seen time, which every ingest keeps current).
    """
    if watch.active:
        return watch, None
    if rule.kind is RuleKind.NO_DATA:
        if watch.last_ms is not None and now_ms - watch.last_ms >= rule.for_ms:
            return replace(watch, active=True), Transition.RAISE
        return watch, None
    if rule.kind in (RuleKind.ABOVE, RuleKind.BELOW, RuleKind.OFFLINE) and (
        watch.pending_since_ms is not None and now_ms - watch.pending_since_ms >= rule.for_ms
    ):
        return replace(watch, active=True, pending_since_ms=None), Transition.RAISE
    return watch, None


def is_time_based(rule: AlarmRule) -> bool:
    """Whether the timer must look at this rule: only durations can elapse unobserved."""
    if rule.kind in (RuleKind.NO_DATA, RuleKind.OFFLINE):
        return True
    return rule.kind.on_sensor and rule.for_ms > 0
