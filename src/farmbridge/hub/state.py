"""A farm's live state in memory: latest value per sensor, every device's status, open alarms.

It answers subscriptions with a snapshot without touching the store, and is kept
current by applying each published change. Applying is idempotent and order-tolerant:
a value replaces another only when its device timestamp is not older, as in the store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import orjson

from farmbridge.domain import Alarm, AlarmUpdate, Change, Device, Reading, Sensor, StatusRecord
from farmbridge.protocol.server_messages import snapshot_body


class FarmState:
    def __init__(
        self,
        seq: int,
        devices: Iterable[Device],
        sensors: Iterable[Sensor],
        alarms: Iterable[Alarm] = (),
    ) -> None:
        self.seq = seq
        self.devices: dict[int, Device] = {d.id: d for d in devices}
        self.sensors: dict[int, Sensor] = {s.id: s for s in sensors}
        # Open alarms by id: every alarm change carries the whole alarm, so the newest wins.
        self.alarms: dict[int, Alarm] = {a.id: a for a in alarms if a.state.open}
        self._encoded: dict[bool, str] = {}

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
                self._seen(ch.device_id, ch.received_ms)
            elif isinstance(ch, AlarmUpdate):
                known = self.alarms.get(ch.alarm.id)
                if known is not None and known.seq > ch.alarm.seq:
                    continue
                if ch.alarm.state.open:
                    self.alarms[ch.alarm.id] = ch.alarm
                else:
                    self.alarms.pop(ch.alarm.id, None)
        self._encoded = {}

    def put_device(self, device: Device, sensors: Iterable[Sensor]) -> None:
        """A device (and its sensors) was added or re-described; values already known stay."""
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
        self._encoded = {}

    def remove_device(self, device_id: int) -> None:
        self.devices.pop(device_id, None)
        for sid in [sid for sid, s in self.sensors.items() if s.device_id == device_id]:
            del self.sensors[sid]
        self._encoded = {}

    def _seen(self, device_id: int, at_ms: int) -> None:
        d = self.devices.get(device_id)
        if d is not None and (d.last_seen_ms is None or at_ms > d.last_seen_ms):
            self.devices[device_id] = dataclasses.replace(d, last_seen_ms=at_ms)

    def encoded(self, with_alarms: bool = False) -> str:
        """The snapshot as JSON, encoded once per state version however many ask; with the
        open alarms (oldest first) for subscribers of the `alarms` topic."""
        text = self._encoded.get(with_alarms)
        if text is None:
            alarms = sorted(self.alarms.values(), key=lambda a: a.id) if with_alarms else None
            body = snapshot_body(self.seq, self.devices.values(), self.sensors.values(), alarms)
            text = self._encoded[with_alarms] = orjson.dumps(body).decode()
        return text
