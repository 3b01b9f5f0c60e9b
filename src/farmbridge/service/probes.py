"""Readiness probes: the store's write probe, and the parts a bridge process runs besides
its store (an MQTT link)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from farmbridge.domain.clock import Clock
from farmbridge.domain.errors import StoreUnavailable

WRITE_PROBE_INTERVAL_S: Final = 1.0
"""A write probe's answer is reused this long: readiness polls never load the writer."""
WRITE_PROBE_WAIT_S: Final = 1.0
"""A probe still unanswered after this long means writes are stalled: not ready."""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    detail: str


Probe = Callable[[], ProbeResult]


class WriteProbe:
    """Asks the store to commit a write that changes nothing, at most once per
    `interval_s` (the answer is cached), so /readyz tells whether a write would succeed."""

    def __init__(
        self,
        probe: Callable[[], Awaitable[None]],
        *,
        clock: Clock,
        interval_s: float = WRITE_PROBE_INTERVAL_S,
        wait_s: float = WRITE_PROBE_WAIT_S,
    ) -> None:
        self._probe = probe
        self._clock = clock
        self._interval_s = interval_s
        self._wait_s = wait_s
        self._result: ProbeResult | None = None
        self._at = 0.0
        self._task: asyncio.Task[None] | None = None

    async def check(self) -> ProbeResult:
        """The last answer if it is fresh, else a new probe's (`detail` is `ok` or the
        reason a write fails: disk_full, read_only, locked, io_error, unreachable, other,
        stalled)."""
        if self._result is not None and self._clock.monotonic() - self._at < self._interval_s:
            return self._result
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="farmbridge.readyz.write_probe")
        done, _ = await asyncio.wait({self._task}, timeout=self._wait_s)
        if not done or self._result is None:
            return ProbeResult(ok=False, detail="stalled")
        return self._result

    async def _run(self) -> None:
        try:
            await self._probe()
            result = ProbeResult(ok=True, detail="ok")
        except StoreUnavailable as exc:
            result = ProbeResult(ok=False, detail=exc.reason)
        except Exception:  # a probe that cannot even be asked: not ready, never a crash
            result = ProbeResult(ok=False, detail="other")
        self._result = result
        self._at = self._clock.monotonic()


class Probes:
    """The probes readiness asks: `write` (the store's, if any) and named sync probes."""

    def __init__(self, *, write: WriteProbe | None = None) -> None:
        self._probes: dict[str, Probe] = {}
        self.write = write

    def add(self, name: str, probe: Probe) -> None:
        self._probes[name] = probe

    def check(self) -> dict[str, ProbeResult]:
        return {name: probe() for name, probe in self._probes.items()}
