"""Prometheus metrics of the bridge, declared once for every layer that counts."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

INGEST_ITEMS: Final = Counter(
    "farmbridge_ingest_items_total", "Items stored from device reports", ["transport", "kind"]
)
INGEST_REJECTED: Final = Counter(
    "farmbridge_ingest_rejected_total", "Device reports refused", ["transport", "reason"]
)
INGEST_DUPLICATES: Final = Counter(
    "farmbridge_ingest_duplicates_total", "Retried reports recognised by message id", ["transport"]
)
INGEST_COMMIT_SECONDS: Final = Histogram(
    "farmbridge_ingest_commit_seconds",
    "Time from a report's arrival to its durable commit",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
)
HTTP_REQUESTS: Final = Counter(
    "farmbridge_http_requests_total", "HTTP requests served", ["method", "route", "status"]
)
STORE_GROUPS: Final = Gauge(
    "farmbridge_store_commit_groups", "Write transactions committed by the group-commit writer"
)
STORE_JOBS: Final = Gauge(
    "farmbridge_store_commit_jobs", "Write jobs committed by the group-commit writer"
)
COMMANDS: Final = Counter("farmbridge_commands_total", "Command state changes", ["state"])
NOTIFICATIONS: Final = Counter(
    "farmbridge_notification_attempts_total",
    "Attempts to deliver a notification, by target kind and result (delivered, retry, failed)",
    ["kind", "result"],
)

WS_CONNECTIONS: Final = Gauge("farmbridge_ws_connections", "Open WebSocket connections")
WS_ERRORS: Final = Counter(
    "farmbridge_ws_errors_total", "Error messages sent to WebSocket clients", ["code"]
)
WS_SLOW_CONSUMERS: Final = Counter(
    "farmbridge_ws_slow_consumers_total", "Times a connection's queue overflowed"
)
WS_HEARTBEAT_TIMEOUTS: Final = Counter(
    "farmbridge_ws_heartbeat_timeouts_total", "Connections closed for not answering heartbeats"
)
WS_DELIVERY_SECONDS: Final = Histogram(
    "farmbridge_ws_delivery_seconds",
    "From a change's durable commit to the frame carrying it being written to a socket",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
# Updated once per live-stats slot (service/live_stats.py), not per event.
WS_CONNECTS: Final = Counter("farmbridge_ws_connects_total", "WebSocket connections opened")
WS_DISCONNECTS: Final = Counter("farmbridge_ws_disconnects_total", "WebSocket connections closed")
WS_RESUMES: Final = Counter(
    "farmbridge_ws_resumes_total", "Subscriptions resumed with `since` (clients back after a drop)"
)
WS_DELIVERY_RECENT: Final = Gauge(
    "farmbridge_ws_delivery_recent_seconds",
    "Delivery latency quantiles over the last live-stats slot (NaN: no frame in it)",
    ["quantile"],
)
WS_FARM_SUBSCRIBERS: Final = Gauge(
    "farmbridge_ws_farm_subscribers",
    "Connections subscribed to a farm (the 100 farms with the most)",
    ["farm"],
)

UNKNOWN_DEVICE_MESSAGES: Final = Counter(
    "farmbridge_unknown_device_messages_total",
    "Messages from devices not registered (held as pending or dropped)",
    ["source"],
)
MQTT_CONNECTED: Final = Gauge("farmbridge_mqtt_connected", "1 while connected to the broker")
MQTT_CONNECTS: Final = Counter(
    "farmbridge_mqtt_connects_total", "Broker connection attempts", ["result"]
)
MQTT_MESSAGES: Final = Counter(
    "farmbridge_mqtt_messages_total", "MQTT messages handled", ["binding", "result"]
)
MQTT_BAD_PAYLOADS: Final = Counter(
    "farmbridge_mqtt_bad_payloads_total", "MQTT messages that could not be read", ["binding"]
)
MQTT_INFLIGHT: Final = Gauge(
    "farmbridge_mqtt_inflight", "MQTT messages received and not yet acknowledged"
)
MQTT_DUPLICATES: Final = Counter(
    "farmbridge_mqtt_duplicates_total",
    "MQTT messages the store already had (a broker's redelivery after a commit)",
)
MQTT_COMMANDS_PUBLISHED: Final = Counter(
    "farmbridge_mqtt_commands_published_total", "Commands published to devices", ["binding"]
)
LORAWAN_UPLINKS: Final = Counter(
    "farmbridge_lorawan_uplinks_total", "LoRaWAN integration posts", ["integration", "result"]
)
DEVICES_MARKED_OFFLINE: Final = Counter(
    "farmbridge_devices_marked_offline_total",
    "Devices the liveness sweep marked offline after a silence",
)
BACKPLANE_CONNECTED: Final = Gauge(
    "farmbridge_backplane_connected", "1 while the Redis backplane is connected, else 0"
)
STORE_ROWS: Final = Gauge(
    "farmbridge_store_rows",
    "Rows a farm holds per history table, counted by the retention sweep (not per request)",
    ["farm", "table"],
)
RETENTION_DELETED: Final = Counter(
    "farmbridge_retention_deleted_total",
    "Rows the retention sweep deleted, by kind of history",
    ["kind"],
)
COMMAND_POLLS_WAITING: Final = Gauge(
    "farmbridge_command_polls_waiting", "Device long polls waiting for a command"
)
