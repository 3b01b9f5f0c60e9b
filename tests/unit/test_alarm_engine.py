"""The pure alarm rule engine over random signals: duration, hysteresis, one raise per excursion."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

import tests.unit.fuzz_inputs  # noqa: F401 - loads the ci/long profiles
from farmbridge.domain import AlarmRule, CommandState, DeviceState, RuleKind, Severity
from farmbridge.domain.alarm_engine import (
    IDLE,
    Transition,
    Watch,
    clears,
    holds,
    on_command,
    on_data,
    on_reading,
    on_status,
    on_tick,
)
from farmbridge.store.alarm_cache import SensorIndex

T0 = 1_700_000_000_000


def threshold_rule(kind: RuleKind, threshold: float, band: float, for_ms: int) -> AlarmRule:
    clear = threshold - band if kind is RuleKind.ABOVE else threshold + band
    return AlarmRule(
        1, 1, "r", "r", kind, Severity.WARNING, for_ms=for_ms, sensor_id=1,
        threshold=threshold, clear_threshold=clear,
    )  # fmt: skip


@st.composite
def threshold_rules(draw: st.DrawFn) -> AlarmRule:
    return threshold_rule(
        draw(st.sampled_from([RuleKind.ABOVE, RuleKind.BELOW])),
        draw(st.integers(-5, 5)) * 1.0,
        draw(st.sampled_from([0.0, 1.0, 2.5])),
        draw(st.sampled_from([0, 1_000, 5_000, 30_000])),
    )


# A signal: (milliseconds since the previous step, value or None for a tick).
signals = st.lists(
    st.tuples(st.integers(0, 10_000), st.integers(-10, 10).map(float) | st.none()),
    min_size=1,
    max_size=60,
)


def run(
    rule: AlarmRule, signal: Sequence[tuple[int, float | None]]
) -> list[tuple[int, int, Transition]]:
    """Steps the engine through `signal`; returns (step index, time, transition) of each."""
    watch, at, out = IDLE, T0, []
    for i, (dt, value) in enumerate(signal):
        at += dt
        if value is None:
            watch, tr = on_tick(rule, watch, at)
        else:
            watch, tr = on_reading(rule, watch, value, at)
        if tr is not None:
            out.append((i, at, tr))
    return out


@given(threshold_rules(), signals)
def test_threshold_transitions_alternate_starting_with_a_raise(rule: AlarmRule, signal) -> None:
    """Never two raises without a clear between, never a clear without a raise before it."""
    kinds = [tr for _, _, tr in run(rule, signal)]
    assert kinds == [Transition.RAISE, Transition.CLEAR] * (len(kinds) // 2) + (
        [Transition.RAISE] if len(kinds) % 2 else []
    )


@given(threshold_rules(), signals)
def test_threshold_clears_only_past_the_clear_threshold(rule: AlarmRule, signal) -> None:
    """A clear happens at a reading past the clear threshold, and only there: values inside
    the hysteresis band keep a raised alarm."""
    steps = run(rule, signal)
    for i, _, tr in steps:
        value = signal[i][1]
        if tr is Transition.CLEAR:
            assert value is not None
            assert clears(rule, value)
    raised = False
    by_index = {i: tr for i, _, tr in steps}
    for i, (_, value) in enumerate(signal):
        tr = by_index.get(i)
        if raised and value is not None and clears(rule, value):
            assert tr is Transition.CLEAR
        if tr is Transition.RAISE:
            raised = True
        elif tr is Transition.CLEAR:
            raised = False


@given(threshold_rules(), signals)
def test_threshold_raises_only_after_holding_for_the_duration(rule: AlarmRule, signal) -> None:
    """A raise comes after the condition held on every reading for at least for_ms, counted
    from the first reading of that run; a reading outside the condition resets the count."""
    times, at = [], T0
    for dt, _ in signal:
        at += dt
        times.append(at)
    for i, t, tr in run(rule, signal):
        if tr is not Transition.RAISE:
            continue
        start = None
        for j in range(i, -1, -1):
            v = signal[j][1]
            if v is None:
                continue
            if not holds(rule, v):
                break
            start = times[j]
        assert start is not None
        assert t - start >= rule.for_ms


@given(threshold_rules(), signals)
def test_threshold_raises_once_per_excursion(rule: AlarmRule, signal) -> None:
    """Every run of holding readings that lasts for_ms raises (once) unless already raised;
    and a raised alarm raises no second time before it clears (flapping inside the band)."""
    steps = run(rule, signal)
    by_index = {i: tr for i, _, tr in steps}
    raised, since, at = False, None, T0
    for i, (dt, value) in enumerate(signal):
        at += dt
        tr = by_index.get(i)
        if value is None:
            if not raised and since is not None and at - since >= rule.for_ms:
                assert tr is Transition.RAISE
        elif not raised:
            if holds(rule, value):
                since = at if since is None else since
                assert (tr is Transition.RAISE) == (at - since >= rule.for_ms)
            else:
                since = None
                assert tr is None
        if tr is Transition.RAISE:
            assert not raised
            raised, since = True, None
        elif tr is Transition.CLEAR:
            raised = False


@given(threshold_rules(), signals, st.integers(0, 60_000))
def test_tick_agrees_with_the_reading_path(rule: AlarmRule, signal, wait: int) -> None:
    """From any reachable watch, a tick at T raises exactly when a reading of the last value
    at T would, and leaves the watch as that reading would (but for its time)."""
    watch, at = IDLE, T0
    for dt, value in signal:
        at += dt
        watch = on_reading(rule, watch, value, at)[0] if value is not None else watch
    if watch.value is None:
        return
    now = at + wait
    by_tick = on_tick(rule, watch, now)
    by_reading = on_reading(rule, watch, watch.value, now)
    if watch.pending_since_ms is not None or watch.active:
        assert by_tick[1] == (by_reading[1] if by_reading[1] is Transition.RAISE else None)
        assert by_tick[0].active == by_reading[0].active


def test_threshold_in_the_band_keeps_the_alarm_until_past_the_clear_threshold() -> None:
    """Above 30 clearing at 28: 31 raises, 29 and 30 keep it, 31 again raises nothing, 28 clears."""
    rule = threshold_rule(RuleKind.ABOVE, 30.0, 2.0, 0)
    got = run(rule, [(0, 31.0), (1, 29.0), (1, 30.0), (1, 31.0), (1, 28.0), (1, 31.0)])
    assert [(i, tr) for i, _, tr in got] == [
        (0, Transition.RAISE), (4, Transition.CLEAR), (5, Transition.RAISE),
    ]  # fmt: skip


def test_threshold_with_a_duration_is_raised_by_the_tick_without_a_new_reading() -> None:
    """below 2 for 5 min: one reading of 1.4, then only ticks: the tick at 5 min raises."""
    rule = threshold_rule(RuleKind.BELOW, 2.0, 0.0, 300_000)
    watch, tr = on_reading(rule, IDLE, 1.4, T0)
    assert tr is None
    assert on_tick(rule, watch, T0 + 299_999)[1] is None
    watch, tr = on_tick(rule, watch, T0 + 300_000)
    assert tr is Transition.RAISE
    assert watch.value == 1.4
    assert on_tick(rule, watch, T0 + 900_000)[1] is None


def device_rule(kind: RuleKind, for_ms: int) -> AlarmRule:
    return AlarmRule(2, 1, "d", "d", kind, Severity.CRITICAL, for_ms=for_ms)


# Device inputs: (ms since the previous step, True = data arrived / False = a tick).
device_signals = st.lists(st.tuples(st.integers(0, 20_000), st.booleans()), max_size=60)


@given(st.sampled_from([1_000, 10_000, 60_000]), device_signals)
def test_no_data_raises_on_silence_and_clears_on_data(for_ms: int, signal) -> None:
    """no_data: a tick raises exactly when the silence reached for_ms and nothing is raised;
    the next data clears it; raises and clears alternate."""
    rule = device_rule(RuleKind.NO_DATA, for_ms)
    watch, at, raised, last = Watch(last_ms=T0), T0, False, T0
    for dt, data in signal:
        at += dt
        if data:
            watch, tr = on_data(rule, watch, at)
            assert (tr is Transition.CLEAR) == raised
            raised, last = False, at
        else:
            watch, tr = on_tick(rule, watch, at)
            assert (tr is Transition.RAISE) == (not raised and at - last >= for_ms)
            raised = raised or tr is Transition.RAISE


@given(
    st.sampled_from([1_000, 30_000]),
    st.lists(
        st.tuples(st.integers(0, 20_000), st.sampled_from(list(DeviceState)) | st.none()),
        max_size=60,
    ),
)
def test_offline_raises_after_the_duration_and_clears_when_back(for_ms: int, signal) -> None:
    """offline: raised once the device stayed offline for for_ms (by a status or a tick);
    any other state clears it; never two raises without a clear."""
    rule = device_rule(RuleKind.OFFLINE, for_ms)
    watch, at, raised, since = IDLE, T0, False, None
    for dt, state in signal:
        at += dt
        if state is None:
            watch, tr = on_tick(rule, watch, at)
        else:
            watch, tr = on_status(rule, watch, state, at)
            if state is DeviceState.OFFLINE:
                since = at if since is None and not raised else since
            else:
                assert (tr is Transition.CLEAR) == raised
                raised, since = False, None
                continue
        expected = not raised and since is not None and at - since >= for_ms
        assert (tr is Transition.RAISE) == expected
        if tr is Transition.RAISE:
            raised, since = True, None


@given(st.lists(st.sampled_from(list(CommandState)), max_size=40))
def test_command_failed_raises_once_and_the_next_acknowledged_command_clears(states) -> None:
    """A failed or timed-out command raises unless raised; an acknowledged one clears."""
    rule = device_rule(RuleKind.COMMAND_FAILED, 0)
    watch, raised = IDLE, False
    for i, state in enumerate(states):
        watch, tr = on_command(rule, watch, state, T0 + i)
        if state in (CommandState.FAILED, CommandState.TIMED_OUT):
            assert (tr is Transition.RAISE) == (not raised)
            raised = True
        elif state is CommandState.ACKNOWLEDGED:
            assert (tr is Transition.CLEAR) == raised
            raised = False
        else:
            assert tr is None


@given(
    st.lists(
        st.tuples(st.sampled_from([RuleKind.ABOVE, RuleKind.BELOW]), st.integers(-5, 5)),
        max_size=30,
    ),
    st.integers(-7, 7).map(float),
)
def test_sensor_index_finds_exactly_the_rules_a_value_starts(kinds, value: float) -> None:
    """The store's bisection over thresholds picks the same rules as the engine's condition."""
    rules = [
        AlarmRule(i, 1, "r", "r", kind, Severity.WARNING, sensor_id=1, threshold=float(t))
        for i, (kind, t) in enumerate(kinds)
    ]
    picked = {r.id for r in SensorIndex.of(rules).starting(value)}
    assert picked == {r.id for r in rules if holds(r, value)}
