"""A farm's live state in memory: latest value per sensor and every device's status.

It answers subscriptions with a snapshot without touching the store, and is kept
current by applying each published change. Applying is idempotent and order-tolerant:
a value replaces another only when its device timestamp is not older, as in the store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import orjson

from farmbridge.domain import (
    Change,
    Device,
    DeviceRemoved,
    DeviceState,
    Reading,
    Sensor,
    StatusRecord,
)
from farmbridge.domain.liveness import LivenessPolicy, learn
from farmbridge.protocol.server_messages import snapshot_body


class FarmState:
    def __init__(
        self,
        seq: int,
        devices: Iterable[Device],
        sensors: Iterable[Sensor],
        *,
        liveness: LivenessPolicy | None = None,
    ) -> None:
        """`liveness` says when silence turns a device offline (the snapshot's
        `offline_after_s`); the default policy when not given."""
        self.seq = seq
        self.liveness = liveness or LivenessPolicy()
        self.devices: dict[int, Device] = {d.id: d for d in devices}
        self.sensors: dict[int, Sensor] = {s.id: s for s in sensors}
        self._encoded: str | None = None

    def apply(self, changes: Iterable[Change]) -> None:
        for ch in changes:
            self.seq = max(self.seq, ch.seq)
            if isinstance(ch, Reading):
                s = self.sensors.get(ch.sensor_id)
                if s is not None and (s.last_ts_ms is None or ch.ts_ms >= s.last_ts_ms):
                    self.sensors[s.id] = dataclasses.replace(
                        s, last_value=ch.value, last_ts_ms=ch.ts_ms, last_seq=ch.seq
                    )
                self._seen(ch.device_id, ch.received_ms)
            elif isinstance(ch, StatusRecord):
                d = self.devices.get(ch.device_id)
                if d is not None and ch.status.ts_ms >= d.status.ts_ms:
                    self.devices[d.id] = dataclasses.replace(d, status=ch.status)
                if ch.status.state is not DeviceState.OFFLINE:
                    # Offline (a sweep, a last will) is no sign of life, as in the store.
                    self._seen(ch.device_id, ch.received_ms)
            elif isinstance(ch, DeviceRemoved):
                self.remove_device(ch.device_id)
        self._encoded = None

    def put_device(self, device: Device, sensors: Iterable[Sensor]) -> None:
        """A device (and its sensors) was added or re-described (its expected interval
        set); status and values already known stay."""
        known = self.devices.get(device.id)
        self.devices[device.id] = (
            dataclasses.replace(device, status=known.status, last_seen_ms=known.last_seen_ms)
            if known
            else device
        )
        for s in sensors:
            old = self.sensors.get(s.id)
            self.sensors[s.id] = (
                dataclasses.replace(
                    s, last_value=old.last_value, last_ts_ms=old.last_ts_ms, last_seq=old.last_seq
                )
                if old
                else s
            )
        self._encoded = None

    def remove_device(self, device_id: int) -> None:
        self.devices.pop(device_id, None)
        for sid in [sid for sid, s in self.sensors.items() if s.device_id == device_id]:
            del self.sensors[sid]
        self._encoded = None

    def _seen(self, device_id: int, at_ms: int) -> None:
        d = self.devices.get(device_id)
        if d is not None and (d.last_seen_ms is None or at_ms > d.last_seen_ms):
            # The same estimate the store learns (domain.liveness), over the stream's
            # receive times, so a snapshot's learned interval stays current.
            est, anchor = learn(d.learned_interval_s, d.interval_anchor_ms, at_ms)
            self.devices[device_id] = dataclasses.replace(
                d, last_seen_ms=at_ms, learned_interval_s=est, interval_anchor_ms=anchor
            )

    def encoded(self) -> str:
        """The snapshot as JSON, encoded once per state version however many ask."""
        if self._encoded is None:
            body = snapshot_body(
                self.seq, self.devices.values(), self.sensors.values(), liveness=self.liveness
            )
            self._encoded = orjson.dumps(body).decode()
        return self._encoded
