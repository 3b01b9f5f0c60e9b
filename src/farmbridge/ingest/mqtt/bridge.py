"""The MQTT device bridge: broker messages in, through each binding's convention, to the store.

Order and durability: messages are read one at a time, in the order the broker delivered
them, up to the point where their batch is queued for the durable commit; commits then
overlap (many messages share a group commit) and acknowledgements go out in delivery order,
each after its own commit. A message that cannot be read is logged with its topic,
counted and acknowledged (redelivering it would not help); a store that fails drops the
broker connection instead, so the broker delivers the unacknowledged messages again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final

from paho.mqtt.client import topic_matches_sub

from farmbridge import metrics
from farmbridge.domain import CommandState, DeviceState, IngestBatch, IngestResult
from farmbridge.domain.clock import Clock
from farmbridge.domain.errors import (
    BadPayload,
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    RateLimited,
    StoreUnavailable,
    Unauthenticated,
    ValidationFailed,
)
from farmbridge.domain.mqtt import BrokerUrl
from farmbridge.domain.reports import (
    CommandReply,
    Data,
    DeviceRef,
    DeviceReport,
    Discovered,
    Liveness,
)
from farmbridge.ingest.mqtt.binding import MqttBinding
from farmbridge.ingest.mqtt.conventions import make_convention
from farmbridge.ingest.mqtt.conventions.base import (
    Convention,
    Mapped,
    OutgoingCommand,
    ReadsDiscovery,
    Refused,
    Watch,
)
from farmbridge.ingest.mqtt.identity import REDELIVERY_WINDOW_S, identify, record_key
from farmbridge.ingest.mqtt.link import Delivery, LinkState, MqttLink
from farmbridge.service.commands import CommandService
from farmbridge.service.directory import DeviceEntry
from farmbridge.service.named_devices import NamedDeviceService
from farmbridge.service.probes import ProbeResult

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S: Final = 5.0
INBOX_LIMIT: Final = 50_000
LEARN_GRACE_S: Final = 10.0
"""How long after a connect a QoS 1 message on a topic no binding knows waits for the
discovery configs the broker re-sends to teach it: the persistent session keeps the learned
state topics' subscriptions, so their messages (in flight or queued while the bridge was
away) arrive before the retained configs a restarted bridge learns them from."""


@dataclass(frozen=True, slots=True)
class MqttOptions:
    """What the bridge needs of the settings (the app builds it from FARMBRIDGE_MQTT_*)."""

    url: str
    bindings: tuple[MqttBinding, ...]
    client_id: str = "farmbridge"
    keepalive_s: int = 30
    ca_file: Path | None = None
    reconnect_max_s: float = 30.0
    max_payload_bytes: int = 65_536
    liveness_timeout_s: float = 600.0
    share_group: str | None = None
    redelivery_window_s: float = REDELIVERY_WINDOW_S


LEARNED_SUFFIXES: Final = ("/config", "/$description", "/bridge/devices", "/discovery/+/sensors")
"""Discovery topics (Home Assistant's and Tasmota's `.../config`, Homie's `$description`,
Zigbee2MQTT's `bridge/devices`, Tasmota's `discovery/+/sensors`) teach a
convention what a device's later topics mean; every instance must learn them, so they
are never shared."""


def broker_filter(topic_filter: str, share_group: str | None) -> str:
    """The filter as subscribed at the broker: in a shared subscription
    (`$share/<group>/...`, MQTT 5 and Mosquitto/EMQX on 3.1.1) when the instances of a
    group split the messages, so each is handled by exactly one of them; the broker still
    delivers the plain topic, which the bindings match."""
    if share_group is None or topic_filter.endswith(LEARNED_SUFFIXES):
        return topic_filter
    return f"$share/{share_group}/{topic_filter}"


@dataclass(slots=True)
class Bound:
    """A binding with its convention instance and the filters it subscribed to."""

    spec: MqttBinding
    convention: Convention
    filters: list[str] = field(default_factory=list)
    discovery: list[str] = field(default_factory=list)  # from the root (ReadsDiscovery)
    key: str = ""  # the metrics label, computed once rather than per message

    def __post_init__(self) -> None:
        self.key = self.spec.key

    def full(self, topic: str) -> str:
        return self.spec.prefix + topic

    def wants(self, topic: str) -> bool:
        return topic.startswith(self.spec.prefix) and any(
            topic_matches_sub(f, topic) for f in self.filters
        )

    def hears(self, topic: str) -> bool:
        """Whether `topic` is a discovery config this binding reads from outside its prefix."""
        return any(topic_matches_sub(f, topic) for f in self.discovery)


@dataclass(slots=True)
class Parked:
    """A message waiting for discovery to teach its topic; `done` gets its commits."""

    delivery: Delivery
    done: asyncio.Future[list[Awaitable[IngestResult]]]


@dataclass(slots=True)
class Route:
    """How to reach a device: the binding it spoke through and how it named itself."""

    bound: Bound
    ref: DeviceRef
    entry: DeviceEntry
    last_seen: float = 0.0  # monotonic seconds
    online: bool | None = None
    sent: list[OutgoingCommand] = field(default_factory=list)

    def silent_too_long(self, now_s: float, timeout_s: float) -> bool:
        """Whether a device taken as online has said nothing for more than `timeout_s`
        (monotonic seconds), so the liveness sweep marks it offline."""
        return self.online is True and now_s - self.last_seen > timeout_s

    def drop_expired(self, now_ms: int) -> None:
        """Forgets sent commands past their expiry (epoch ms): a reply can no longer
        complete them, the store times them out."""
        self.sent = [c for c in self.sent if c.expires_ms > now_ms]


class MqttBridge:
    def __init__(
        self,
        options: MqttOptions,
        named_devices: NamedDeviceService,
        commands: CommandService,
        *,
        clock: Clock,
    ) -> None:
        """`clock` tells message receive times, device liveness and command expiry."""
        self._named_devices = named_devices
        self._clock = clock
        self._commands = commands
        self._max_payload = options.max_payload_bytes
        self._liveness_timeout_s = options.liveness_timeout_s
        self._share_group = options.share_group
        self._redelivery_window_ms = round(options.redelivery_window_s * 1000)
        # Longest prefix first: a topic belongs to the most specific binding.
        self._bindings = sorted(
            (
                Bound(b, make_convention(b.convention, client_id=options.client_id))
                for b in options.bindings
            ),
            key=lambda b: -len(b.spec.prefix),
        )
        self.link = MqttLink(
            BrokerUrl.parse(options.url),
            client_id=options.client_id,
            keepalive_s=options.keepalive_s,
            ca_file=options.ca_file,
            reconnect_max_s=options.reconnect_max_s,
            on_message=self._received,
            on_connected=self._connected,
        )
        for b in self._bindings:
            # Discovery first: the broker sends retained messages per subscription, in
            # order, so what a config teaches (units) is known before the states.
            if isinstance(b.convention, ReadsDiscovery):
                b.discovery = b.convention.discovery_filters()
                for f in b.discovery:
                    self.link.subscribe(broker_filter(f, self._share_group))
            for f in b.convention.filters():
                self._watch(b, f)
        self._inbox: asyncio.Queue[Delivery] = asyncio.Queue()
        self._acks: asyncio.Queue[tuple[Delivery, list[Awaitable[IngestResult]]]] = asyncio.Queue()
        self._routes: dict[int, Route] = {}
        self._farm_names: dict[int, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._parked: list[Parked] = []
        self._connected_at = float("-inf")  # monotonic seconds
        commands.add_listener(self._command_created)

    # Lifecycle.

    async def run(self) -> None:
        """Runs the link, the reader, the acknowledger and the liveness sweep until cancelled."""
        parts = [
            asyncio.create_task(self.link.run(), name="farmbridge.mqtt.link"),
            asyncio.create_task(self._read_loop(), name="farmbridge.mqtt.read"),
            asyncio.create_task(self._ack_loop(), name="farmbridge.mqtt.ack"),
            asyncio.create_task(self._sweep_loop(), name="farmbridge.mqtt.sweep"),
        ]
        try:
            done, _ = await asyncio.wait(parts, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in (*parts, *self._tasks):
                task.cancel()
            for task in parts:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def probe(self) -> ProbeResult:
        state = self.link.state
        return ProbeResult(state is LinkState.CONNECTED, f"{state.value} {self.link.url.safe()}")

    # From the link.

    def _received(self, delivery: Delivery) -> None:
        metrics.MQTT_INFLIGHT.inc()
        if self._inbox.qsize() >= INBOX_LIMIT and not delivery.qos:
            # QoS 0 is best effort by the publisher's own choice; QoS 1 is bounded by the
            # broker's in-flight window and never dropped here.
            metrics.MQTT_MESSAGES.labels("-", "dropped").inc()
            metrics.MQTT_INFLIGHT.dec()
            return
        self._inbox.put_nowait(delivery)

    def _connected(self, session_present: bool) -> None:
        self._connected_at = self._clock.monotonic()
        # Commands created while the broker was away go out now (they were left pending).
        for route in list(self._routes.values()):
            self._spawn(self._send_pending(route), "commands")

    # Reading, in delivery order.

    async def _read_loop(self) -> None:
        while True:
            delivery = await self._inbox.get()
            commits: list[Awaitable[IngestResult]] = []
            try:
                await self._handle(delivery, commits)
                if self._parked:
                    await self._unpark()
            except StoreUnavailable as exc:
                log.warning("store unavailable while handling %s: %s", delivery.topic, exc.message)
                # Not acknowledged: the broker delivers it again after a reconnect.
                self.link.drop()
                metrics.MQTT_INFLIGHT.dec()
                continue
            except Exception:
                log.exception("MQTT message on %s could not be handled", delivery.topic)
                metrics.MQTT_MESSAGES.labels("-", "error").inc()
            self._acks.put_nowait((delivery, commits))

    async def _ack_loop(self) -> None:
        while True:
            delivery, commits = await self._acks.get()
            ok = True
            for commit in commits:
                try:
                    if (await commit).duplicate:
                        metrics.MQTT_DUPLICATES.inc()
                except StoreUnavailable as exc:
                    log.warning("commit failed for %s: %s", delivery.topic, exc.message)
                    ok = False
                except DomainError as exc:
                    # Refused by the store for what it is (a conflict): acknowledging is
                    # right, redelivery would be refused again.
                    log.warning("MQTT message on %s refused: %s", delivery.topic, exc.message)
                except Exception:
                    log.exception("commit failed for %s", delivery.topic)
                    ok = False
            metrics.MQTT_INFLIGHT.dec()
            if ok:
                self.link.ack(delivery)
            else:
                self.link.drop()

    async def _handle(self, delivery: Delivery, commits: list[Awaitable[IngestResult]]) -> None:
        bound = self._binding_of(delivery.topic)
        # Discovery configs other bindings' devices publish outside their prefix (ESPHome's
        # units) go to each binding that reads them, beside the one the topic belongs to.
        listeners = [b for b in self._bindings if b is not bound and b.hears(delivery.topic)]
        if bound is None and not listeners:
            if delivery.qos and self._clock.monotonic() - self._connected_at < LEARN_GRACE_S:
                commits.append(self._park(delivery))
                return
            metrics.MQTT_MESSAGES.labels("-", "unbound").inc()
            return
        if bound is not None:
            topic = delivery.topic[len(bound.spec.prefix) :]
            await self._read(
                bound,
                delivery,
                commits,
                partial(bound.convention.map, topic, delivery.payload),
                topic=topic,
            )
        for b in listeners:
            if isinstance(b.convention, ReadsDiscovery):
                reads = partial(
                    b.convention.discovery, delivery.topic, delivery.payload, prefix=b.spec.prefix
                )
                await self._read(b, delivery, commits, reads)

    async def _read(
        self,
        bound: Bound,
        delivery: Delivery,
        commits: list[Awaitable[IngestResult]],
        mapper: Callable[[int], list[Mapped]],
        *,
        topic: str | None = None,
    ) -> None:
        """Maps one message for one binding and applies what comes out; `topic` (relative
        to the binding's prefix) when the message is the binding's own, not a discovery
        config it hears from outside."""
        label = bound.key
        if len(delivery.payload) > self._max_payload:
            self._bad(bound, delivery, f"payload of {len(delivery.payload)} bytes is too large")
            return
        now_ms = self._clock.wall_ms()
        try:
            mapped = mapper(now_ms)
        except BadPayload as exc:
            self._bad(bound, delivery, exc.message)
            return
        if not mapped:
            metrics.MQTT_MESSAGES.labels(label, "ignored").inc()
            return
        for part, item in zip(_record_keys(mapped), mapped, strict=True):
            try:
                await self._apply(bound, delivery, item, now_ms, commits, (topic, part))
            except (ValidationFailed, Unauthenticated, RateLimited) as exc:
                self._bad(bound, delivery, exc.message)
        metrics.MQTT_MESSAGES.labels(label, "ok").inc()

    async def _park(self, delivery: Delivery) -> IngestResult:
        """Holds a message on a topic no binding knows yet until discovery teaches it
        (then it is read, and acknowledged after its commit) or LEARN_GRACE_S passes
        (then it is counted unbound and acknowledged, as before)."""
        parked = Parked(delivery, asyncio.get_running_loop().create_future())
        self._parked.append(parked)
        try:
            commits = await asyncio.wait_for(asyncio.shield(parked.done), LEARN_GRACE_S)
        except TimeoutError:
            if parked in self._parked:
                self._parked.remove(parked)
            metrics.MQTT_MESSAGES.labels("-", "unbound").inc()
            return IngestResult(0, None, None)
        results = [await c for c in commits]
        return IngestResult(0, None, None, duplicate=any(r.duplicate for r in results))

    async def _unpark(self) -> None:
        """Reads the parked messages whose topics a binding has learned since."""
        for parked in list(self._parked):
            if parked.done.done():
                self._parked.remove(parked)
                continue
            topic = parked.delivery.topic
            if self._binding_of(topic) is None and not any(b.hears(topic) for b in self._bindings):
                continue
            self._parked.remove(parked)
            commits: list[Awaitable[IngestResult]] = []
            try:
                await self._handle(parked.delivery, commits)
            except Exception as exc:
                parked.done.set_exception(exc)
                raise
            parked.done.set_result(commits)

    def _bad(self, bound: Bound, delivery: Delivery, message: str) -> None:
        metrics.MQTT_BAD_PAYLOADS.labels(bound.key).inc()
        log.warning(
            "bad MQTT payload on %s (%s): %s", delivery.topic, bound.convention.name, message
        )

    def _binding_of(self, topic: str) -> Bound | None:
        # By filter, not prefix alone: two conventions may share a prefix (Tasmota's
        # tele/ and Home Assistant's homeassistant/ both sit at the root).
        for b in self._bindings:
            if b.wants(topic):
                return b
        return None

    def _watch(self, bound: Bound, topic_filter: str) -> None:
        full = bound.full(topic_filter)
        if full not in bound.filters:
            bound.filters.append(full)
        self.link.subscribe(broker_filter(full, self._share_group))

    async def _apply(
        self,
        bound: Bound,
        delivery: Delivery,
        item: Mapped,
        now_ms: int,
        commits: list[Awaitable[IngestResult]],
        place: tuple[str | None, str],
    ) -> None:
        """Applies one record; `place` is the message's relative topic (None for a
        discovery config heard from outside the prefix) and the record's key in it."""
        if isinstance(item, Watch):
            self._watch(bound, item.filter)
            return
        if isinstance(item, Refused):
            self._bad(bound, delivery, item.reason)
            return
        route = await self._route(bound, item.device, delivery)
        if route is None:
            return
        entry = route.entry
        if isinstance(item, Data):
            report = item.report
            if delivery.retained:
                # Re-sent by the broker on subscribing: store only what is new, and take
                # it as no sign of life (the device may have died since).
                news = await self._named_devices.news_in(entry, item.report)
                if news is None:
                    return
                report = news
            elif report.status is None and route.online is not True:
                # A device that reports is alive: say so once, stored like any status.
                status = (await self._named_devices.liveness(entry, True, now_ms)).status
                report = DeviceReport(report.readings, status, report.events, report.message_id)
            batch = await self._named_devices.prepare(
                entry, report, units=item.units, received_ms=now_ms
            )
            if delivery.retained:
                batch = dataclasses.replace(batch, sign_of_life=False)
            batch = self._identified(bound, delivery, batch, place, now_ms)
            commits.append(self._named_devices.submit(batch))
            if report.status is not None:
                route.online = report.status.state != DeviceState.OFFLINE
        elif isinstance(item, Liveness):
            if route.online is item.online and route.online is not None:
                return
            report = await self._named_devices.liveness(entry, item.online, item.ts_ms)
            batch = await self._named_devices.prepare(entry, report, received_ms=now_ms)
            commits.append(self._named_devices.submit(batch))
            route.online = item.online
        elif isinstance(item, Discovered):
            route.entry = await self._named_devices.add_sensors(
                entry, sorted(item.sensors), dict(item.sensors)
            )
        elif isinstance(item, CommandReply):
            await self._reply(route, item)

    def _identified(
        self,
        bound: Bound,
        delivery: Delivery,
        batch: IngestBatch,
        place: tuple[str | None, str],
        now_ms: int,
    ) -> IngestBatch:
        """The batch with a message identity (ingest/mqtt/identity.py) when the payload
        named none, so that a broker's redelivery after a commit is stored once."""
        topic, part = place
        if batch.message_id is not None or topic is None:
            return batch
        found = identify(
            bound.convention.name,
            topic,
            delivery,
            part=part,
            received_ms=now_ms,
            window_ms=self._redelivery_window_ms,
        )
        if found is None:
            return batch
        return dataclasses.replace(
            batch, message_id=found.message_id, dedup_since_ms=found.dedup_since_ms
        )

    async def _route(self, bound: Bound, ref: DeviceRef, delivery: Delivery) -> Route | None:
        """The device a message is about, or None (unknown: held as pending or dropped)."""
        if ref.key is not None:
            entry = await self._named_devices.device_by_key(ref.key)
        else:
            farm_name = ref.farm or bound.spec.farm
            if farm_name is None or ref.name is None:
                raise BadPayload("the binding names no farm and the topic carries none")
            farm_id = await self._named_devices.farm_id(farm_name)
            if farm_id is None:
                metrics.MQTT_MESSAGES.labels(bound.key, "unknown_farm").inc()
                return None
            found = await self._named_devices.device(
                farm_id, ref.name, source=f"mqtt:{bound.key}", sample=delivery.payload
            )
            if found is None:
                return None
            entry = found
        device_id = entry.device.id
        route = self._routes.get(device_id)
        first = route is None or route.bound is not bound or route.ref != ref
        if route is None:
            state = entry.device.status.state.value
            online = True if state == "online" else False if state == "offline" else None
            route = Route(bound, ref, entry, online=online)
            self._routes[device_id] = route
        else:
            route.bound, route.ref, route.entry = bound, ref, entry
        route.last_seen = self._clock.monotonic()
        if first and self.link.connected:
            self._spawn(self._send_pending(route), "commands")
        return route

    # Commands.

    def _command_created(self, device_id: int) -> None:
        route = self._routes.get(device_id)
        if route is not None and self.link.connected:
            self._spawn(self._send_pending(route), "commands")

    async def _send_pending(self, route: Route) -> None:
        """Publishes the device's pending commands once each: take_pending marks them sent
        durably before they are published, so no reconnect or restart sends one twice
        (one lost in between times out instead, and says so)."""
        try:
            taken = await self._commands.take_pending(route.entry, 0)
        except DomainError as exc:
            log.warning("could not take commands for %s: %s", route.entry.device.name, exc.message)
            return
        for cmd in taken:
            out = OutgoingCommand(cmd.id, cmd.action, dict(cmd.params), cmd.expires_ms)
            try:
                publishes = route.bound.convention.command(route.ref, out)
            except BadPayload as exc:
                await self._finish(route, cmd.id, CommandState.FAILED, exc.message)
                continue
            for p in publishes:
                self.link.publish(route.bound.full(p.topic), p.payload, qos=1, retain=p.retain)
            metrics.MQTT_COMMANDS_PUBLISHED.labels(route.bound.key).inc()
            route.sent.append(out)

    async def _reply(self, route: Route, reply: CommandReply) -> None:
        route.drop_expired(self._clock.wall_ms())
        if reply.command_id is not None:
            state = CommandState.ACKNOWLEDGED if reply.ok else CommandState.FAILED
            await self._finish(route, reply.command_id, state, reply.detail)
            route.sent = [c for c in route.sent if c.id != reply.command_id]
            return
        for cmd in list(route.sent):
            if route.bound.convention.completes(cmd, reply):
                await self._finish(route, cmd.id, CommandState.ACKNOWLEDGED, reply.detail)
                route.sent.remove(cmd)

    async def _finish(
        self, route: Route, command_id: int, state: CommandState, detail: str
    ) -> None:
        try:
            await self._commands.complete(route.entry, command_id, state, detail)
            metrics.COMMANDS.labels(state.value).inc()
        except (NotFound, Forbidden, Conflict, ValidationFailed) as exc:
            # Unknown id, another device's command, or already final (timed out, cancelled).
            log.info("command %s reply not applied: %s", command_id, exc.message)

    # Liveness.

    async def _sweep_loop(self) -> None:
        interval = min(SWEEP_INTERVAL_S, self._liveness_timeout_s / 2)
        while True:
            await asyncio.sleep(interval)
            now_s = self._clock.monotonic()
            for route in list(self._routes.values()):
                if route.silent_too_long(now_s, self._liveness_timeout_s):
                    try:
                        # Conditional, like the liveness sweep's: never a second offline.
                        await self._named_devices.mark_silent(route.entry, self._clock.wall_ms())
                        route.online = False
                    except DomainError as exc:
                        log.warning("could not mark %s offline: %s", route.entry.device.name, exc)

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.create_task(coro, name=f"farmbridge.mqtt.{what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def pending_acks(self) -> int:
        return self._acks.qsize() + self._inbox.qsize()


def _record_keys(mapped: list[Mapped]) -> list[str]:
    """A key per record of one message, from what it is (ingest/mqtt/identity.py); two
    alike get their rank among the alike, in the convention's order."""
    keys: list[str] = []
    seen: dict[str, int] = {}
    for item in mapped:
        if isinstance(item, Data):
            ref = item.device
            device = f"{ref.farm or ''}/{ref.name or ''}/{ref.key or ''}"
            readings = [r.sensor for r in item.report.readings]
            key = record_key(device, readings, item.report.status is not None)
        else:
            key = type(item).__name__
        n = seen.get(key, 0)
        seen[key] = n + 1
        keys.append(f"{key}#{n}" if n else key)
    return keys
