"""Settings, frozen, read from FARMBRIDGE_* environment variables, then .env, then defaults.

Nothing else in the package reads os.environ.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from farmbridge.hub.hub import HUB_TICK_S, RECENT_SIZE
from farmbridge.ingest.lorawan_integration import LorawanIntegration
from farmbridge.ingest.mqtt.binding import MqttBinding
from farmbridge.protocol import const as ws_default
from farmbridge.store.dialect import SQLITE_BUSY_TIMEOUT_MS
from farmbridge.ws.limits import SEND_TIMEOUT_S

__all__ = ["LorawanIntegration", "MqttBinding", "Settings"]


class Settings(BaseSettings):
    """Every knob of a bridge process; see docs/operations.md for what each does."""

    model_config = SettingsConfigDict(
        env_prefix="FARMBRIDGE_", env_file=".env", extra="ignore", frozen=True
    )

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default is SQLite in data_dir"
    )
    secret_key: str | None = Field(
        default=None, description="signs user tokens and keys device-key hashes; generated once"
    )
    token_ttl_s: int = 12 * 3600
    display_token_ttl_s: int = Field(
        default=15 * 60,
        gt=0,
        description="how long a token exchanged for a display secret lasts (wall screens)",
    )
    log_level: str = "info"
    log_json: bool = False

    # Ingest limits.
    max_body_bytes: int = 1_048_576
    max_batch_items: int = 5_000
    device_rate_per_s: float = 500.0
    device_burst: int = 1_000
    max_clock_skew_s: int = 300
    max_reading_age_s: int = 30 * 86_400
    idempotency_ttl_s: int = 86_400

    # Group commit: how long the writer waits for more work once it has some.
    commit_window_ms: float = 1.0
    commit_max_jobs: int = 512
    sqlite_synchronous: str = "FULL"
    sqlite_busy_timeout_ms: int = Field(default=SQLITE_BUSY_TIMEOUT_MS, ge=0, le=600_000)

    command_ttl_s: int = 300
    # How often the alarm timer raises what held long enough with no new input.
    alarm_tick_s: float = Field(default=1.0, gt=0, le=3600)

    # Liveness for every transport (docs/operations.md): a device is offline after
    # `liveness_multiple` times its expected interval without data, never before
    # `liveness_min_silence_s`; the sweep looks every `liveness_sweep_s`.
    # (The defaults are domain.liveness's DEFAULT_MULTIPLE and DEFAULT_MIN_SILENCE_S.)
    liveness_multiple: float = Field(default=3.0, ge=1.0, le=1_000.0)
    liveness_min_silence_s: float = Field(default=60.0, gt=0, le=7 * 86_400)
    liveness_sweep_s: float = Field(default=5.0, gt=0, le=3_600)

    # Retention (docs/design.md, "Retention and rollups"): days each kind of history is
    # kept, 0 for ever. Raw readings go only once rolled up (5 min and 1 h); the sweep
    # rolls up, deletes in batches of `retention_batch_rows` and counts rows for metrics.
    retention_raw_days: float = Field(default=30.0, ge=0)
    retention_rollup_5m_days: float = Field(default=400.0, ge=0)
    retention_rollup_1h_days: float = Field(default=0.0, ge=0)
    retention_events_days: float = Field(default=365.0, ge=0)
    retention_commands_days: float = Field(default=90.0, ge=0)
    retention_sweep_s: float = Field(default=60.0, gt=0, le=86_400)
    retention_batch_rows: int = Field(default=5_000, ge=1, le=1_000_000)
    retention_count_s: float = Field(default=900.0, gt=0)

    # The live stream (/ws).
    ws_heartbeat_s: float = ws_default.HEARTBEAT_S
    ws_auth_timeout_s: float = ws_default.AUTH_TIMEOUT_S
    ws_max_connections: int = ws_default.MAX_CONNECTIONS
    ws_max_connections_per_user: int = ws_default.MAX_CONNECTIONS_PER_USER
    ws_max_subscriptions: int = ws_default.MAX_SUBSCRIPTIONS
    ws_messages_per_s: float = ws_default.MAX_MESSAGES_PER_S
    ws_max_frame_bytes: int = ws_default.MAX_FRAME_BYTES
    ws_queue_max_messages: int = ws_default.QUEUE_MAX_MESSAGES
    ws_queue_max_bytes: int = ws_default.QUEUE_MAX_BYTES
    ws_max_replay: int = ws_default.MAX_REPLAY_CHANGES
    ws_recent_size: int = RECENT_SIZE
    ws_send_timeout_s: float = SEND_TIMEOUT_S
    ws_per_message_deflate: bool = Field(
        default=False, description="compress frames; off because it costs CPU per client"
    )
    ws_allowed_origins: tuple[str, ...] = ()
    hub_tick_ms: float = HUB_TICK_S * 1000
    ws_stats_interval_s: float = Field(
        default=ws_default.STATS_INTERVAL_S,
        ge=0.1,
        le=3600,
        description="how often live figures go to the admins watching them (one slot)",
    )
    ws_stats_window_s: float = Field(
        default=ws_default.STATS_WINDOW_S,
        gt=0,
        le=86_400,
        description="how far back the live figures reach (at most 720 slots)",
    )

    # Devices heard of over MQTT or LoRaWAN but not registered: held for an admin to
    # approve ("pending"), or their messages dropped ("reject"). Never created silently.
    unknown_devices: Literal["pending", "reject"] = "pending"

    # The MQTT device bridge; off without a URL (HTTP ingest stays the default).
    mqtt_url: str | None = Field(
        default=None, description="mqtt://user:pass@host:port or mqtts://...; off when unset"
    )
    mqtt_ca_file: Path | None = None
    mqtt_client_id: str = "farmbridge"
    mqtt_keepalive_s: int = 30
    mqtt_bindings: tuple[MqttBinding, ...] = (
        MqttBinding(convention="native", prefix="farmbridge/"),
    )
    mqtt_max_payload_bytes: int = 65_536
    mqtt_liveness_timeout_s: float = Field(
        default=600.0, description="a device silent this long is marked offline"
    )
    mqtt_reconnect_max_s: float = 30.0
    mqtt_share_group: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="several instances with one group split device messages between them",
    )
    mqtt_redelivery_window_s: float = Field(
        default=600.0,
        gt=0,
        le=86_400,
        description="how long after its commit a broker's redelivery (DUP) is recognised",
    )

    # The Redis backplane: instances on one database feed each other's WebSocket clients;
    # off without a URL (one instance, in-process fan-out only).
    backplane_url: str | None = Field(
        default=None, description="redis://host:port/db; in-process only when unset"
    )

    # Notifications off the dashboard (webhooks, e-mail): the egress worker's poll, the
    # retry schedule (base * 2^(n-1) after the n-th failure, capped) and its time-out.
    notify_poll_ms: float = Field(default=1000.0, gt=0, le=60_000)
    notify_max_attempts: int = Field(default=10, ge=1, le=100)
    notify_retry_base_s: float = Field(default=10.0, gt=0, le=86_400)
    notify_retry_max_s: float = Field(default=3600.0, gt=0, le=7 * 86_400)
    notify_timeout_s: float = Field(default=5.0, gt=0, le=120)
    notify_concurrency: int = Field(default=8, ge=1, le=256)
    notify_retention_days: float = Field(default=30.0, gt=0)
    # The SMTP server e-mail notifications leave through; e-mail is off without a host.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65_535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "farmbridge@localhost"
    smtp_starttls: bool = True

    lorawan_integrations: tuple[LorawanIntegration, ...] = ()
    login_rate_per_min: int = 30
    # Wrong device keys and integration secrets, per client address (see operations.md).
    device_key_failures_per_min: float = 30.0
    device_key_failure_burst: int = 20
    # Proxies whose X-Forwarded-For is believed (addresses or CIDRs); none by default.
    trusted_proxies: tuple[str, ...] = ()

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            ipaddress.ip_network(entry.strip(), strict=False)  # ValueError names a bad one
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'farmbridge.db').resolve()}"
