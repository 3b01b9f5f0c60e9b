"""Composition root: the only place that picks the concrete store and wires the services."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator
from typing import Final

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from farmbridge import __version__, metrics, webui
from farmbridge.api import (
    alarms,
    auth,
    commands,
    connections,
    displays,
    errors,
    farms,
    health,
    lorawan_profiles,
    notifications,
    pending,
    telemetry,
    users,
)
from farmbridge.api.middleware import BodySizeLimit, RequestContext, RequestMetrics
from farmbridge.api.responses import declare_errors
from farmbridge.config import Settings
from farmbridge.domain.clock import SYSTEM_CLOCK, Clock
from farmbridge.domain.liveness import LivenessPolicy
from farmbridge.domain.notifications import RetryPolicy
from farmbridge.domain.retention import RetentionPolicy
from farmbridge.egress.mail import NoSmtp, SmtpOptions, SmtpSender
from farmbridge.egress.webhook import WebhookSender
from farmbridge.hub.hub import Hub
from farmbridge.ingest import http as ingest_http
from farmbridge.ingest import lorawan_http
from farmbridge.ingest.mqtt.bridge import MqttBridge, MqttOptions
from farmbridge.ingest.mqtt.identity import PACKET_ID_PREFIX
from farmbridge.protocol.const import CloseCode
from farmbridge.service.access import AccessService, AccessWatch
from farmbridge.service.alarm_timer import AlarmTimer
from farmbridge.service.alarms import AlarmService
from farmbridge.service.backplane import Backplane
from farmbridge.service.bundle import Services
from farmbridge.service.commands import CommandService
from farmbridge.service.connections import ConnectionRegistry
from farmbridge.service.directory import DeviceDirectory
from farmbridge.service.displays import DisplayService
from farmbridge.service.egress import EgressWorker, MailSender
from farmbridge.service.farms import FarmService
from farmbridge.service.ingest import IngestService
from farmbridge.service.instances import link_instances
from farmbridge.service.live_stats import LiveStats
from farmbridge.service.liveness import LivenessService
from farmbridge.service.lorawan_profiles import LorawanProfileService
from farmbridge.service.named_devices import NamedDeviceService
from farmbridge.service.notifications import NotificationService
from farmbridge.service.probes import Probes, WriteProbe
from farmbridge.service.retention import RetentionService
from farmbridge.service.security import Secrets
from farmbridge.service.stream import StreamService
from farmbridge.service.users import UserService
from farmbridge.store.sql import SqlStore
from farmbridge.ws.endpoint import WsEndpoint
from farmbridge.ws.limits import WsLimits, burst_of

log = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL_S: Final = 1.0
PRUNE_INTERVAL_S: Final = 60.0
WS_PATH: Final = "/ws"
INGEST_PATH: Final = "/api/v1/ingest"
SECRET_FILE: Final = "secret.key"  # noqa: S105 - a file name


def load_secret(settings: Settings) -> str:
    """The configured secret, else one kept in the data dir (made once, readable by owner only)."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / SECRET_FILE
    if path.exists():
        return path.read_text().strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def build_services(settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> Services:
    """The services of one bridge process, every one of them reading `clock`."""
    store = SqlStore(
        settings.resolved_database_url,
        clock=clock,
        commit_window_s=settings.commit_window_ms / 1000,
        commit_max_jobs=settings.commit_max_jobs,
        sqlite_synchronous=settings.sqlite_synchronous,
        sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
    )
    hub = Hub(tick_s=settings.hub_tick_ms / 1000, recent_size=settings.ws_recent_size, clock=clock)
    backplane = Backplane(store, hub.publish, settings.backplane_url, head=hub.head)
    store.add_listener(backplane.local)
    liveness = LivenessPolicy(
        multiple=settings.liveness_multiple, min_silence_s=settings.liveness_min_silence_s
    )
    stream = StreamService(store, hub, max_replay=settings.ws_max_replay, liveness=liveness)
    sec = Secrets(load_secret(settings), token_ttl_s=settings.token_ttl_s, clock=clock)
    directory = DeviceDirectory(store, clock=clock)
    watch = AccessWatch()
    registry = ConnectionRegistry()
    watch.add_listener(registry.access_changed)
    farm_svc = FarmService(store, directory, sec, stream, watch)
    farm_svc.add_drop_handler(registry.farm_dropped)
    live_stats = LiveStats(
        registry=registry,
        hub=hub,
        clock=clock,
        instance=f"{socket.gethostname()}:{os.getpid()}",
        slot_s=settings.ws_stats_interval_s,
        window_s=settings.ws_stats_window_s,
    )
    ingest = IngestService(
        store,
        directory,
        sec,
        rate_per_s=settings.device_rate_per_s,
        burst=settings.device_burst,
        max_items=settings.max_batch_items,
        max_clock_skew_s=settings.max_clock_skew_s,
        max_age_s=settings.max_reading_age_s,
        clock=clock,
    )
    commands_svc = CommandService(store, farm_svc, ttl_s=settings.command_ttl_s, clock=clock)
    named = NamedDeviceService(
        store, directory, farm_svc, ingest, unknown_devices=settings.unknown_devices, clock=clock
    )
    link_instances(
        backplane,
        directory=directory,
        watch=watch,
        registry=registry,
        commands=commands_svc,
        named_devices=named,
        farms=farm_svc,
    )
    farm_svc.add_drop_handler(named.drop_farm)
    access = AccessService(
        store,
        sec,
        watch,
        login_rate_per_min=settings.login_rate_per_min,
        clock=clock,
        trusted_proxies=settings.trusted_proxies,
        device_key_failures_per_min=settings.device_key_failures_per_min,
        device_key_failure_burst=settings.device_key_failure_burst,
    )
    return Services(
        store=store,
        access=access,
        farms=farm_svc,
        users=UserService(store, sec, watch),
        stream=stream,
        connections=registry,
        commands=commands_svc,
        ingest=ingest,
        named_devices=named,
        probes=Probes(write=WriteProbe(store.probe_write, clock=clock)),
        alarms=AlarmService(store),
        alarm_timer=AlarmTimer(store, clock=clock),
        liveness=LivenessService(store, policy=liveness, clock=clock),
        notifications=NotificationService(store, farm_svc),
        egress=egress_worker(settings, store, clock),
        lorawan_profiles=LorawanProfileService(store, farm_svc, clock=clock),
        displays=DisplayService(
            store, store, sec, access, watch, token_ttl_s=settings.display_token_ttl_s, clock=clock
        ),
        live_stats=live_stats,
        clock=clock,
        backplane=backplane,
    )


def mail_sender(settings: Settings) -> MailSender:
    """The SMTP sender of the settings, or one that fails every e-mail saying none is set."""
    if not settings.smtp_host:
        return NoSmtp()
    password = settings.smtp_password
    return SmtpSender(
        SmtpOptions(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            user=settings.smtp_user,
            password=password.get_secret_value() if password is not None else None,
            starttls=settings.smtp_starttls,
            timeout_s=settings.notify_timeout_s,
        )
    )


def egress_worker(settings: Settings, store: SqlStore, clock: Clock) -> EgressWorker:
    return EgressWorker(
        store,
        webhooks=WebhookSender(timeout_s=settings.notify_timeout_s),
        mail=mail_sender(settings),
        policy=RetryPolicy(
            max_attempts=settings.notify_max_attempts,
            base_delay_s=settings.notify_retry_base_s,
            max_delay_s=settings.notify_retry_max_s,
        ),
        clock=clock,
        concurrency=settings.notify_concurrency,
        timeout_s=settings.notify_timeout_s,
    )


def retention_service(settings: Settings, store: SqlStore, clock: Clock) -> RetentionService:
    """The retention sweeper of the settings; a period of 0 days keeps that history."""

    def days(value: float) -> float | None:
        return value or None

    policy = RetentionPolicy(
        readings_days=days(settings.retention_raw_days),
        rollups_5m_days=days(settings.retention_rollup_5m_days),
        rollups_1h_days=days(settings.retention_rollup_1h_days),
        events_days=days(settings.retention_events_days),
        commands_days=days(settings.retention_commands_days),
    )
    return RetentionService(
        store,
        policy=policy,
        clock=clock,
        batch_rows=settings.retention_batch_rows,
        count_every_s=settings.retention_count_s,
    )


async def housekeeping(svc: Services, settings: Settings, store: SqlStore) -> None:
    """Expires overdue commands, forgets old message ids and finished notifications, and
    exports writer figures."""
    last_prune: float | None = None
    while True:
        try:
            for upd in await svc.commands.expire_due():
                metrics.COMMANDS.labels(upd.state.value).inc()
            now = svc.clock.monotonic()
            if last_prune is None or now - last_prune > PRUNE_INTERVAL_S:
                cutoff = svc.clock.wall_ms() - settings.idempotency_ttl_s * 1000
                await svc.store.prune_ingest_messages(cutoff)
                if settings.mqtt_url is not None:
                    # Packet-rule ids serve only within the redelivery window.
                    window_ms = round(settings.mqtt_redelivery_window_s * 1000)
                    await svc.store.prune_ingest_messages(
                        svc.clock.wall_ms() - window_ms, prefix=PACKET_ID_PREFIX
                    )
                kept_ms = round(settings.notify_retention_days * 86_400_000)
                await svc.store.prune_notifications(svc.clock.wall_ms() - kept_ms)
                last_prune = now
            groups, jobs = store.writer_stats
            metrics.STORE_GROUPS.set(groups)
            metrics.STORE_JOBS.set(jobs)
        except Exception:
            log.exception("housekeeping failed; trying again")
        await asyncio.sleep(HOUSEKEEPING_INTERVAL_S)


async def alarm_timer(svc: Services, interval_s: float) -> None:
    """Ticks the alarm timer every `interval_s` (FARMBRIDGE_ALARM_TICK_S)."""
    while True:
        try:
            await svc.alarm_timer.tick()
        except Exception:
            log.exception("alarm timer failed; trying again")
        await asyncio.sleep(interval_s)


def mqtt_options(settings: Settings) -> MqttOptions:
    assert settings.mqtt_url is not None
    return MqttOptions(
        url=settings.mqtt_url,
        bindings=settings.mqtt_bindings,
        client_id=settings.mqtt_client_id,
        keepalive_s=settings.mqtt_keepalive_s,
        ca_file=settings.mqtt_ca_file,
        reconnect_max_s=settings.mqtt_reconnect_max_s,
        max_payload_bytes=settings.mqtt_max_payload_bytes,
        liveness_timeout_s=settings.mqtt_liveness_timeout_s,
        share_group=settings.mqtt_share_group,
        redelivery_window_s=settings.mqtt_redelivery_window_s,
    )


def build_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """The bridge as an ASGI app; the store starts and stops with the app's lifespan."""
    svc = services or build_services(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await svc.store.start()
        store = svc.store
        assert isinstance(store, SqlStore)
        tasks = [
            asyncio.create_task(housekeeping(svc, settings, store), name="farmbridge.housekeeping"),
            asyncio.create_task(
                alarm_timer(svc, settings.alarm_tick_s), name="farmbridge.alarm_timer"
            ),
            asyncio.create_task(
                svc.liveness.run(settings.liveness_sweep_s), name="farmbridge.liveness"
            ),
            asyncio.create_task(svc.live_stats.run(), name="farmbridge.live_stats"),
            asyncio.create_task(
                svc.egress.run(settings.notify_poll_ms / 1000), name="farmbridge.egress"
            ),
            asyncio.create_task(
                retention_service(settings, store, svc.clock).run(settings.retention_sweep_s),
                name="farmbridge.retention",
            ),
        ]
        if settings.mqtt_url:
            bridge = MqttBridge(
                mqtt_options(settings), svc.named_devices, svc.commands, clock=svc.clock
            )
            svc.probes.add("mqtt", bridge.probe)
            tasks.append(asyncio.create_task(bridge.run(), name="farmbridge.mqtt"))
        if svc.backplane is not None and settings.backplane_url:
            tasks.append(asyncio.create_task(svc.backplane.run(), name="farmbridge.backplane"))
        log.info("bridge started", extra={"version": __version__})
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                try:
                    await task
                except asyncio.CancelledError:
                    pass
                except Exception:
                    log.exception("%s failed while stopping", task.get_name())
            await svc.egress.close()
            await svc.store.close()

    app = FastAPI(
        title="Farm Bridge",
        version=__version__,
        description="The Universal Bridge of a smart-farm IoT platform: REST and device ingest.",
        lifespan=lifespan,
        docs_url=None,  # served by webui.mount_docs, with their own CSP
        redoc_url=None,
    )
    app.state.services = svc
    app.state.settings = settings
    app.state.lorawan_integrations = settings.lorawan_integrations
    errors.install(app)
    modules = (
        auth,
        farms,
        pending,
        telemetry,
        commands,
        alarms,
        notifications,
        users,
        connections,
        health,
        lorawan_profiles,
        displays,
    )
    for module in modules:
        app.include_router(declare_errors(module.router))
    app.include_router(declare_errors(ingest_http.router))
    app.include_router(declare_errors(lorawan_http.router))
    webui.mount_docs(app)
    webui.mount(app)  # the dashboard at /, after every API route

    app.add_middleware(RequestMetrics)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContext)  # outermost: even a 413 has an id and the headers
    return app


def ws_limits(settings: Settings) -> WsLimits:
    return WsLimits(
        heartbeat_s=settings.ws_heartbeat_s,
        auth_timeout_s=settings.ws_auth_timeout_s,
        max_subscriptions=settings.ws_max_subscriptions,
        messages_per_s=settings.ws_messages_per_s,
        message_burst=burst_of(settings.ws_messages_per_s),
        max_connections=settings.ws_max_connections,
        max_connections_per_user=settings.ws_max_connections_per_user,
        queue_max_messages=settings.ws_queue_max_messages,
        queue_max_bytes=settings.ws_queue_max_bytes,
        allowed_origins=settings.ws_allowed_origins,
        max_frame_bytes=settings.ws_max_frame_bytes,
        send_timeout_s=settings.ws_send_timeout_s,
    )


class BridgeApp:
    """The root ASGI app: the two hot paths, /ws and device ingest, go straight to their
    handlers; the rest goes to FastAPI.

    FastAPI's middleware and routing would wrap every socket send and cost more than an
    ingest's own work (measured in docs/benchmarks.md).
    """

    def __init__(self, settings: Settings, services: Services | None = None) -> None:
        self.settings = settings
        self.services = services or build_services(settings)
        self.api = build_app(settings, self.services)
        self.ingest = RequestContext(
            BodySizeLimit(
                RequestMetrics(
                    ingest_http.IngestEndpoint(self.services, clock=self.services.clock),
                    route=INGEST_PATH,
                ),
                max_bytes=settings.max_body_bytes,
            )
        )
        self.ws = WsEndpoint(
            access=self.services.access,
            stream=self.services.stream,
            registry=self.services.connections,
            limits=ws_limits(settings),
            clock=self.services.clock,
            stats=self.services.live_stats,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == WS_PATH:
            await self.ws(scope, receive, send)
        elif scope["type"] == "http" and scope["path"] == INGEST_PATH and scope["method"] == "POST":
            await self.ingest(scope, receive, send)
        else:
            await self.api(scope, receive, send)

    def shutting_down(self) -> None:
        """Ends long polls and tells every live client to reconnect at once (1012)."""
        self.services.commands.close()
        self.services.connections.close_all(CloseCode.SERVICE_RESTART, "server restart")
