"""The Store protocol: everything the service layer asks of persistence, by aggregate.

`Store` is the union of one protocol per aggregate (users, farms, history, commands) plus
the lifecycle; a service that needs only one aggregate may ask for that protocol alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from farmbridge.domain import (
    Alarm,
    AlarmFilter,
    AlarmRule,
    Change,
    Command,
    CommandState,
    Device,
    DeviceKind,
    DeviceProfile,
    Event,
    Farm,
    IngestBatch,
    IngestResult,
    Membership,
    PendingDevice,
    PendingState,
    Reading,
    ReadingBucket,
    Role,
    RuleAudit,
    RuleSpec,
    Sensor,
    User,
)
from farmbridge.domain.displays import Display
from farmbridge.domain.lorawan_profiles import LorawanProfile
from farmbridge.domain.notifications import (
    Attempted,
    Delivery,
    DeliveryState,
    DueDelivery,
    Webhook,
)
from farmbridge.domain.queries import EventFilter, ExportRow
from farmbridge.domain.retention import History
from farmbridge.domain.telemetry import SensorSpec
from farmbridge.store.results import (
    AlarmAcked,
    AlarmsChanged,
    CommandChanged,
    CommandsExpired,
    DeviceDeleted,
    FarmDeleted,
    MarkedOffline,
    OfflineCandidate,
    RuleChanged,
)

__all__ = [
    "AlarmStore",
    "ChangeListener",
    "CommandStore",
    "DisplayStore",
    "EventFilter",
    "ExportRow",
    "FarmStore",
    "HistoryStore",
    "LivenessStore",
    "NotificationStore",
    "SensorSpec",
    "Store",
    "UserStore",
]

ChangeListener = Callable[[list[Change]], None]


class UserStore(Protocol):
    """Users, their token versions (revocation) and their roles on farms."""

    async def create_user(self, username: str, password_hash: str, *, is_admin: bool) -> User: ...
    async def get_user(self, user_id: int) -> User: ...
    async def get_user_by_name(self, username: str) -> User: ...
    async def list_users(self) -> list[User]: ...
    async def set_password(self, user_id: int, password_hash: str) -> None: ...
    async def bump_token_version(self, user_id: int) -> None: ...
    async def delete_user(self, user_id: int) -> None: ...
    async def set_membership(self, user_id: int, farm_id: int, role: Role) -> None: ...
    async def remove_membership(self, user_id: int, farm_id: int) -> None: ...
    async def memberships_of_user(self, user_id: int) -> list[Membership]: ...
    async def memberships_of_farm(self, farm_id: int) -> list[Membership]: ...


class FarmStore(Protocol):
    """Farms, their devices and sensors, and devices heard of but not registered."""

    async def create_farm(self, name: str, title: str) -> Farm: ...
    async def get_farm(self, farm_id: int) -> Farm: ...
    async def get_farm_by_name(self, name: str) -> Farm: ...
    async def rename_farm(self, farm_id: int, name: str, title: str) -> Farm:
        """Sets the farm's name and title; Conflict when another farm has that name."""
        ...

    async def delete_farm(self, farm_id: int) -> FarmDeleted:
        """Deletes the farm and everything of it (devices, sensors, history, commands,
        alarms, rules, members, displays, notifications) in one transaction; returns what
        went that others may have cached. NotFound for no such farm."""
        ...

    async def list_farms(self, farm_ids: Iterable[int] | None = None) -> list[Farm]: ...
    async def create_device(
        self,
        farm_id: int,
        name: str,
        kind: DeviceKind,
        title: str,
        key_hash: str,
        sensor_specs: Iterable[SensorSpec] = (),
    ) -> Device: ...
    async def get_device(self, device_id: int) -> Device: ...
    async def get_device_by_key_hash(self, key_hash: str) -> Device: ...
    async def get_device_by_name(self, farm_id: int, name: str) -> Device: ...
    async def list_devices(self, farm_id: int) -> list[Device]: ...
    async def set_device_key_hash(self, device_id: int, key_hash: str) -> None: ...
    async def set_expected_interval(self, device_id: int, interval_s: float | None) -> Device:
        """Sets (or, with None, unsets: learn it) the device's expected reporting interval."""
        ...

    async def set_device_profile(self, device_id: int, profile: DeviceProfile) -> Device:
        """Sets the device's name, title, zone and confirm_commands; Conflict when another
        device of its farm has that name."""
        ...

    async def delete_device(self, device_id: int) -> DeviceDeleted:
        """Deletes the device and its sensors, storing its removal with the farm's next seq
        in the same transaction (it streams, and a resuming client learns of it)."""
        ...

    async def create_sensor(self, device_id: int, spec: SensorSpec) -> Sensor: ...
    async def list_sensors(
        self, *, farm_id: int | None = None, device_id: int | None = None
    ) -> list[Sensor]: ...
    async def get_sensor(self, sensor_id: int) -> Sensor: ...
    async def set_sensor_range(
        self, sensor_id: int, unit: str, min_value: float | None, max_value: float | None
    ) -> Sensor:
        """Sets the sensor's unit and the bounds of its readings (None: unbounded)."""
        ...

    async def note_pending_device(
        self, farm_id: int, name: str, source: str, sample: str, now_ms: int
    ) -> PendingDevice: ...
    async def list_pending_devices(self, farm_id: int) -> list[PendingDevice]: ...
    async def get_pending_device(self, pending_id: int) -> PendingDevice: ...
    async def set_pending_state(self, pending_id: int, state: PendingState) -> None: ...
    async def delete_pending_device(self, pending_id: int) -> None: ...


class HistoryStore(Protocol):
    """What devices reported, sequenced per farm: the ingest hot path and its queries."""

    async def ingest(self, batch: IngestBatch) -> IngestResult:
        """Stores a batch all-or-nothing, group-committed; its `stored` are its changes."""
        ...

    async def readings(
        self, sensor_id: int, start_ms: int, end_ms: int, *, limit: int = 10_000
    ) -> list[Reading]: ...
    async def reading_buckets(
        self, sensor_id: int, start_ms: int, end_ms: int, bucket_ms: int
    ) -> list[ReadingBucket]:
        """Count, min, avg and max per bucket of `bucket_ms` from `start_ms`, empty ones
        left out; from the rollups when start and width are whole rollup periods (so
        also for readings retention deleted), else from the raw readings kept."""
        ...

    async def events(self, farm_id: int, flt: EventFilter) -> list[Event]: ...
    async def export_readings(
        self,
        farm_id: int,
        start_ms: int,
        end_ms: int,
        *,
        chunk: int = 5_000,
        after_seq: int = 0,
        sensor_ids: Sequence[int] | None = None,
    ) -> list[ExportRow]:
        """The farm's readings with ts in [start_ms, end_ms) and seq above `after_seq`, in
        seq order, at most `chunk`; only those of `sensor_ids` when given."""
        ...

    async def changes_since(self, farm_id: int, after_seq: int, limit: int) -> list[Change]:
        """A farm's changes with seq > after_seq, in order, at most `limit` of them."""
        ...

    async def prune_ingest_messages(self, older_than_ms: int, *, prefix: str = "") -> int:
        """Forgets message ids received before `older_than_ms` (only those starting with
        `prefix`, when given); returns how many."""
        ...


class CommandStore(Protocol):
    """Operator commands and their lifecycle; every state change is a streamed change."""

    async def create_command(
        self,
        device_id: int,
        action: str,
        params: dict[str, Any],
        *,
        created_by: int | None,
        expires_ms: int,
    ) -> CommandChanged: ...
    async def get_command(self, command_id: int) -> Command: ...
    async def list_commands(
        self,
        *,
        device_id: int | None = None,
        farm_id: int | None = None,
        states: Iterable[CommandState] | None = None,
        limit: int = 100,
    ) -> list[Command]: ...
    async def update_command(
        self, command_id: int, state: CommandState, detail: str = ""
    ) -> CommandChanged:
        """Raises Conflict when the command's state cannot become `state`."""
        ...

    async def expire_commands(self, now_ms: int) -> CommandsExpired:
        """Times out the open commands whose expiry is at or before `now_ms`."""
        ...


class AlarmStore(Protocol):
    """Alarm rules (audited), alarms and their lifecycle; every alarm step is a streamed
    change with the farm's seq, written in the transaction of its cause."""

    async def create_alarm_rule(
        self, farm_id: int, spec: RuleSpec, *, by: int | None, username: str
    ) -> RuleChanged: ...
    async def update_alarm_rule(
        self, rule_id: int, spec: RuleSpec, *, by: int | None, username: str
    ) -> RuleChanged:
        """Replaces a rule; the alarms it held raised clear, and it watches afresh."""
        ...

    async def delete_alarm_rule(
        self, rule_id: int, *, by: int | None, username: str
    ) -> RuleChanged:
        """Deletes a rule; the alarms it held raised clear (they stay listed until acked)."""
        ...

    async def get_alarm_rule(self, rule_id: int) -> AlarmRule: ...
    async def list_alarm_rules(self, farm_id: int) -> list[AlarmRule]: ...
    async def alarm_rule_audit(self, farm_id: int, *, limit: int = 100) -> list[RuleAudit]:
        """The farm's rule changes, newest first."""
        ...

    async def list_alarms(self, farm_id: int, flt: AlarmFilter) -> list[Alarm]:
        """Newest (highest seq) first."""
        ...

    async def open_alarms(self, farm_id: int) -> list[Alarm]:
        """Every alarm of the farm not closed, oldest first (the snapshot's `alarms`)."""
        ...

    async def get_alarm(self, alarm_id: int) -> Alarm: ...
    async def acknowledge_alarm(
        self, alarm_id: int, *, by: int, username: str, comment: str
    ) -> AlarmAcked:
        """active -> acknowledged, cleared -> closed; Conflict when closed already."""
        ...

    async def evaluate_alarm_timers(self, now_ms: int) -> AlarmsChanged:
        """Raises what held long enough by `now_ms` with no new input (the timer's job)."""
        ...


class RetentionStore(Protocol):
    async def roll_up(self, farm_id: int, max_rows: int = ...) -> int:
        """Adds the farm's next `max_rows` readings not yet rolled up to the rollups;
        returns how many it added (0 when all are rolled up, or another instance rolled
        these up at the same time)."""
        ...

    async def purge(self, what: History, farm_id: int, older_than_ms: int, limit: int) -> int:
        """Deletes at most about `limit` of the farm's `what` stored before
        `older_than_ms`, oldest first (raw readings only once rolled up); returns how many
        rows went. Safe to run at once on several instances."""
        ...

    async def prepare_partitions(self, now_ms: int) -> list[str]:
        """Makes the raw readings' day partitions from `now_ms`'s day a week ahead that are
        missing (PostgreSQL; nothing on SQLite); returns their names. Safe at once on
        several instances."""
        ...

    async def drop_partitions(self, older_than_ms: int) -> list[str]:
        """Drops each day partition of raw readings wholly received before `older_than_ms`
        and wholly rolled up, raising each farm's history horizon to its last seq dropped
        (PostgreSQL; nothing on SQLite); returns their names. Safe at once on several
        instances."""
        ...

    async def history_horizon(self, farm_id: int) -> int:
        """The seq up to which the farm's changes may have been deleted: a resume from
        before it cannot be replayed (0 when nothing was ever deleted)."""
        ...

    async def table_rows(self) -> dict[tuple[int, str], int]:
        """Rows per (farm id, table) of the history tables (a full count: not per request)."""
        ...


class LivenessStore(Protocol):
    """Devices watched for silence, and marking them offline exactly once."""

    async def watched_devices(self) -> list[Device]:
        """Devices stored online that were ever heard of (last_seen_ms set)."""
        ...

    async def mark_offline(
        self, candidates: Sequence[OfflineCandidate], now_ms: int
    ) -> MarkedOffline:
        """In one transaction, stores an offline status change (with the farm's next seq)
        for each candidate whose stored state and last-seen are still as it says; the
        others are left alone. Returns the status changes stored."""
        ...


class NotificationStore(Protocol):
    """Notification targets (webhooks, e-mail recipients) and the delivery log that drains
    the outbox; see store/sql_notifications.py for the transactions behind each step."""

    async def create_webhook(
        self,
        farm_id: int,
        url: str,
        secret: str,
        *,
        description: str,
        enabled: bool,
        created_by: int | None,
    ) -> Webhook: ...
    async def get_webhook(self, webhook_id: int) -> Webhook: ...
    async def list_webhooks(self, farm_id: int) -> list[Webhook]: ...
    async def delete_webhook(self, webhook_id: int) -> None: ...
    async def set_email_recipients(self, farm_id: int, addresses: Iterable[str]) -> list[str]:
        """Replaces the farm's recipients; returns them sorted, without repeats."""
        ...

    async def email_recipients(self, farm_id: int) -> list[str]: ...
    async def enqueue_notification(self, farm_id: int, topic: str, payload: dict[str, Any]) -> None:
        """An outbox row on its own; changes enqueue theirs in their own transaction."""
        ...

    async def notifications_due(self, now_ms: int) -> bool:
        """Whether an outbox row waits for dispatch or a delivery is due (a read, so an
        idle egress worker costs the writer nothing)."""
        ...

    async def dispatch_outbox(self, now_ms: int, limit: int) -> int:
        """Turns up to `limit` undispatched outbox rows into one pending delivery per
        target of their farm, and marks them dispatched, in one transaction; returns
        how many rows it dispatched."""
        ...

    async def claim_deliveries(self, now_ms: int, lease_ms: int, limit: int) -> list[DueDelivery]:
        """The pending deliveries due at `now_ms` (oldest due first), each leased: not due
        again before `now_ms + lease_ms` unless an attempt is recorded."""
        ...

    async def release_deliveries(self, delivery_ids: Sequence[int], due_ms: int) -> None:
        """Ends the leases of claimed deliveries whose attempts were not made (due again
        at `due_ms`); their attempt counts stay."""
        ...

    async def record_attempts(self, attempts: Sequence[Attempted]) -> None:
        """Counts each attempt and moves its delivery on: delivered, failed, or pending
        until `next_attempt_ms`."""
        ...

    async def prune_notifications(self, older_than_ms: int) -> int:
        """Forgets finished deliveries made before `older_than_ms`, and dispatched outbox
        rows of that age with no delivery left; returns how many deliveries it removed."""
        ...

    async def list_deliveries(
        self,
        farm_id: int,
        *,
        state: DeliveryState | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        """The farm's delivery log, newest first."""
        ...


class LorawanProfileStore(Protocol):
    async def lorawan_profile(self, device_id: int) -> LorawanProfile | None:
        """The device's LoRaWAN profile, or None when it has none."""
        ...

    async def put_lorawan_profile(self, profile: LorawanProfile) -> LorawanProfile:
        """Sets (replaces) the device's profile; NotFound for an unknown device."""
        ...

    async def delete_lorawan_profile(self, device_id: int) -> bool:
        """Removes the device's profile; whether it had one."""
        ...


class DisplayStore(Protocol):
    """Display credentials (wall screens): one farm each, found by id or by secret hash."""

    async def create_display(
        self,
        farm_id: int,
        name: str,
        *,
        secret_hash: str,
        token_key: str,
        created_by: int | None,
        expires_ms: int | None,
    ) -> Display:
        """Stores a new credential; NotFound for an unknown farm."""
        ...

    async def get_display(self, display_id: int) -> Display:
        """NotFound when there is none (never created, revoked, or its farm deleted)."""
        ...

    async def display_by_secret(self, secret_hash: str) -> Display:
        """The credential whose secret hashes to `secret_hash`; NotFound when none does."""
        ...

    async def list_displays(self, farm_id: int) -> list[Display]:
        """The farm's credentials, oldest first."""
        ...

    async def delete_display(self, farm_id: int, display_id: int) -> Display:
        """Removes (revokes) the farm's credential and returns it; NotFound when the farm has
        no such credential."""
        ...


class Store(
    UserStore,
    FarmStore,
    HistoryStore,
    CommandStore,
    AlarmStore,
    LivenessStore,
    NotificationStore,
    RetentionStore,
    LorawanProfileStore,
    DisplayStore,
    Protocol,
):
    """Async persistence; writes are durable when the awaited call returns.

    Raises NotFound, Conflict and StoreUnavailable from farmbridge.domain.errors;
    driver exceptions never leave an implementation.
    """

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...
    async def probe_write(self) -> None:
        """Commits a write that changes nothing; StoreUnavailable when a write would fail."""
        ...

    def add_listener(self, listener: ChangeListener) -> None:
        """`listener(changes)` runs on the event loop after each commit, in commit order."""
        ...
