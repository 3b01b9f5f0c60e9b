"""The bounds of what the store can hold, and the cached write probe of readiness."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from farmbridge.domain.bounds import ID_MAX, INT64_MIN, JSON_MAX_DEPTH, Id, PathId, check_json
from farmbridge.domain.clock import FakeClock
from farmbridge.domain.errors import NotFound, StoreUnavailable, ValidationFailed
from farmbridge.service.probes import WRITE_PROBE_INTERVAL_S, WriteProbe


def _nested(levels: int) -> Any:
    value: Any = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize("raw", ["9223372036854775808", "0", "-1", "9" * 5000])
def test_path_id_out_of_range_is_not_found(raw: str) -> None:
    """An id in a path that no row can have raises NotFound, whatever its size."""
    with pytest.raises(NotFound):
        TypeAdapter(PathId).validate_python(raw)


def test_path_id_in_range_parses_and_junk_stays_invalid() -> None:
    """1..2**63-1 parse as ints; a non-number is still a validation error (422)."""
    assert TypeAdapter(PathId).validate_python(str(ID_MAX)) == ID_MAX
    with pytest.raises(ValidationError):
        TypeAdapter(PathId).validate_python("abc")


def test_id_in_a_body_beyond_64_bits_is_a_validation_error() -> None:
    """Outside a path an id out of range is a plain validation error."""
    with pytest.raises(ValidationError):
        TypeAdapter(Id).validate_python(ID_MAX + 1)


def test_check_json_accepts_what_the_store_holds() -> None:
    """The depth limit itself, 64-bit extremes and finite floats pass."""
    check_json({"d": _nested(JSON_MAX_DEPTH - 1), "i": INT64_MIN, "f": 1e308}, field="params")


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (_nested(JSON_MAX_DEPTH + 1), "params" + ".a" * JSON_MAX_DEPTH),
        ({"n": [1, 2**64]}, "params.n[1]"),
        ({"n": float("nan")}, "params.n"),
        ({"n": {"m": float("-inf")}}, "params.n.m"),
    ],
)
def test_check_json_refuses_and_names_the_value(value: Any, field: str) -> None:
    """Too deep, beyond 64 bits or not finite: ValidationFailed naming the path."""
    with pytest.raises(ValidationFailed) as refused:
        check_json(value, field="params")
    assert refused.value.field == field


async def test_write_probe_answer_is_cached_for_its_interval() -> None:
    """Within the interval the store is asked once; after it, again, with the new answer."""
    clock = FakeClock()
    calls: list[int] = []
    failing = False

    async def probe() -> None:
        calls.append(1)
        if failing:
            raise StoreUnavailable("full", reason="disk_full")

    write = WriteProbe(probe, clock=clock)
    assert (await write.check()).ok
    assert (await write.check()).ok
    assert len(calls) == 1
    failing = True
    clock.advance(WRITE_PROBE_INTERVAL_S)
    result = await write.check()
    assert (result.ok, result.detail, len(calls)) == (False, "disk_full", 2)


async def test_write_probe_still_pending_is_stalled() -> None:
    """A probe that does not answer within its wait reports `stalled`, not ready."""
    release = asyncio.Event()

    async def probe() -> None:
        await release.wait()

    write = WriteProbe(probe, clock=FakeClock(), wait_s=0)
    result = await write.check()
    assert (result.ok, result.detail) == (False, "stalled")
    release.set()
    await asyncio.sleep(0)  # let the probe finish before the loop closes
    assert (await write.check()).ok
