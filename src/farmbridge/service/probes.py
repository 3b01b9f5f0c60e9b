"""Readiness probes of the parts a bridge process runs besides its store (an MQTT link)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    detail: str


Probe = Callable[[], ProbeResult]


class Probes:
    def __init__(self) -> None:
        self._probes: dict[str, Probe] = {}

    def add(self, name: str, probe: Probe) -> None:
        self._probes[name] = probe

    def check(self) -> dict[str, ProbeResult]:
        return {name: probe() for name, probe in self._probes.items()}
