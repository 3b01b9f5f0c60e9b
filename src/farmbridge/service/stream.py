"""Subscribing to a farm's live stream: authorize, then snapshot or gapless resume.

Resume rules: a subscription `since` N gets exactly the changes after N, in order, from
memory when the channel still holds them, else from the store; changes committed while
the store is read wait in the subscription and follow without a gap or a duplicate.
When retention has deleted some of the changes after N, the client is told to reload.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from farmbridge.domain import Change, Device, Role, Sensor
from farmbridge.domain.liveness import LivenessPolicy
from farmbridge.hub.channel import Channel, Sink, Subscription
from farmbridge.hub.hub import Hub
from farmbridge.hub.state import FarmState
from farmbridge.protocol.const import Mode, ResyncReason, Topic
from farmbridge.service.access import Principal
from farmbridge.store import Store


@dataclass(frozen=True, slots=True)
class Resync:
    """The client must reload: its position is unknown here or too old to replay."""

    reason: ResyncReason
    seq: int
    epoch: str


@dataclass(slots=True)
class Subscribed:
    sub: Subscription
    channel: Channel
    seq: int
    snapshot_json: str | None = None
    resume_from: int | None = None
    replay: list[Change] = field(default_factory=list)


class StreamService:
    def __init__(
        self, store: Store, hub: Hub, *, max_replay: int, liveness: LivenessPolicy | None = None
    ) -> None:
        """`liveness` gives the snapshot's `offline_after_s` (the default policy if None)."""
        self._liveness = liveness or LivenessPolicy()
        self._store = store
        self._hub = hub
        self._max_replay = max_replay
        self._opening: dict[int, asyncio.Future[Channel]] = {}

    async def channel(self, farm_id: int) -> Channel:
        """The farm's channel, opened from the store once however many ask at once."""
        channel = self._hub.channels.get(farm_id)
        if channel is not None:
            return channel
        if farm_id in self._opening:
            return await asyncio.shield(self._opening[farm_id])
        fut: asyncio.Future[Channel] = asyncio.get_running_loop().create_future()
        self._opening[farm_id] = fut
        self._hub.begin_open(farm_id)
        try:
            farm = await self._store.get_farm(farm_id)
            devices = await self._store.list_devices(farm_id)
            sensors = await self._store.list_sensors(farm_id=farm_id)
            alarms = await self._store.open_alarms(farm_id)
            state = FarmState(farm.last_seq, devices, sensors, alarms, liveness=self._liveness)
            stored: list[Change] = []
            if self._hub.opening_gap(farm_id, state.seq):
                stored = await self._store.changes_since(farm_id, state.seq, self._max_replay)
            channel = self._hub.finish_open(farm_id, farm.epoch, state, stored)
            fut.set_result(channel)
            return channel
        except BaseException as exc:
            self._hub.abandon_open(farm_id)
            fut.set_exception(exc)
            fut.exception()  # retrieved: waiters get it, nobody else must
            raise
        finally:
            del self._opening[farm_id]

    def device_changed(self, device: Device, sensors: list[Sensor]) -> None:
        """Keeps an open channel's snapshot in step with a new or changed device."""
        channel = self._hub.channels.get(device.farm_id)
        if channel is not None:
            channel.state.put_device(device, sensors)

    def farm_removed(self, farm_id: int) -> None:
        """Forgets a deleted farm's channel: a later subscribe reads the store (NotFound)."""
        self._hub.close_channel(farm_id)

    async def subscribe(
        self,
        who: Principal,
        sink: Sink,
        farm_id: int,
        *,
        topics: frozenset[Topic],
        mode: Mode,
        since: int | None,
        epoch: str | None,
    ) -> Subscribed | Resync:
        """Raises Forbidden or NotFound; the answer says what to send the client."""
        who.require(farm_id, Role.VIEWER)
        channel = await self.channel(farm_id)
        # Deliver what is pending first, so a new subscriber starts exactly at last_seq.
        self._hub.flush_farm(farm_id)
        head = channel.last_seq
        if since is None:
            sub = Subscription(sink, farm_id, topics, mode, last_seq=head)
            self._hub.attach(sub)
            snapshot = channel.state.encoded(with_alarms=Topic.ALARMS in topics)
            return Subscribed(sub, channel, head, snapshot_json=snapshot)
        if (epoch is not None and epoch != channel.epoch) or since > head:
            return Resync(ResyncReason.EPOCH_CHANGED, head, channel.epoch)
        if head - since > self._max_replay:
            return Resync(ResyncReason.TOO_FAR_BEHIND, head, channel.epoch)
        recent = channel.recent_after(since)
        if recent is not None:
            sub = Subscription(sink, farm_id, topics, mode, last_seq=head)
            self._hub.attach(sub)
            return Subscribed(sub, channel, head, resume_from=since + 1, replay=recent)
        return await self._resume_from_store(sink, channel, topics, mode, since)

    async def _resume_from_store(
        self,
        sink: Sink,
        channel: Channel,
        topics: frozenset[Topic],
        mode: Mode,
        since: int,
    ) -> Subscribed | Resync:
        """The hand-over: attached first, holding what flushes bring, so every change the
        store commits after the read's bound reaches the subscription; the replay is the
        store's changes up to that bound, then the held ones above it; live delivery goes
        on strictly above the last of them (Channel.flush), so nothing comes twice.

        The bound is the farm's seq read before the changes: every change at or below it
        was committed when the changes are read, even though the store reads its tables
        one after another (no snapshot across them), so the replay up to it has no hole.
        """
        farm_id = channel.farm_id
        sub = Subscription(sink, farm_id, topics, mode, held=[], last_seq=since)
        self._hub.attach(sub)
        try:
            bound = (await self._store.get_farm(farm_id)).last_seq
            if bound - since > self._max_replay:
                self._hub.detach(sub)
                return Resync(ResyncReason.TOO_FAR_BEHIND, channel.last_seq, channel.epoch)
            stored = await self._store.changes_since(farm_id, since, self._max_replay + 1)
            # Read after the changes: a retention delete that took any of them committed
            # before this read, so its horizon shows here (store/sql_retention.py).
            horizon = await self._store.history_horizon(farm_id)
        except BaseException:
            self._hub.detach(sub)
            raise
        if since < horizon:  # retention deleted changes after `since`: a replay has holes
            self._hub.detach(sub)
            return Resync(ResyncReason.TOO_FAR_BEHIND, channel.last_seq, channel.epoch)
        replay = [c for c in stored if c.seq <= bound]
        end = replay[-1].seq if replay else since
        held, sub.held = sub.held or [], None
        replay.extend(c for c in held if c.seq > end)
        sub.last_seq = max(sub.last_seq, replay[-1].seq if replay else since)
        return Subscribed(sub, channel, sub.last_seq, resume_from=since + 1, replay=replay)

    def head(self, farm_id: int) -> tuple[int, str]:
        """(last seq, epoch) of an open farm channel, or (0, "") when none is open."""
        channel = self._hub.channels.get(farm_id)
        return (channel.last_seq, channel.epoch) if channel else (0, "")

    def unsubscribe(self, sub: Subscription) -> None:
        self._hub.detach(sub)
