"""The set of services one bridge process runs, handed to every edge (REST, ingest, ws)."""

from __future__ import annotations

from dataclasses import dataclass

from farmbridge.domain.clock import Clock
from farmbridge.service.access import AccessService
from farmbridge.service.alarm_timer import AlarmTimer
from farmbridge.service.alarms import AlarmService
from farmbridge.service.backplane import Backplane
from farmbridge.service.commands import CommandService
from farmbridge.service.connections import ConnectionRegistry
from farmbridge.service.displays import DisplayService
from farmbridge.service.egress import EgressWorker
from farmbridge.service.farms import FarmService
from farmbridge.service.ingest import IngestService
from farmbridge.service.live_stats import LiveStats
from farmbridge.service.liveness import LivenessService
from farmbridge.service.lorawan_profiles import LorawanProfileService
from farmbridge.service.named_devices import NamedDeviceService
from farmbridge.service.notifications import NotificationService
from farmbridge.service.probes import Probes
from farmbridge.service.stream import StreamService
from farmbridge.service.users import UserService
from farmbridge.store import Store


@dataclass(frozen=True, slots=True)
class Services:
    """Built once by the app and kept on app.state.services."""

    store: Store
    access: AccessService
    farms: FarmService
    users: UserService
    commands: CommandService
    ingest: IngestService
    stream: StreamService
    connections: ConnectionRegistry
    named_devices: NamedDeviceService
    probes: Probes
    alarms: AlarmService
    alarm_timer: AlarmTimer
    liveness: LivenessService
    notifications: NotificationService
    egress: EgressWorker
    lorawan_profiles: LorawanProfileService
    displays: DisplayService
    live_stats: LiveStats
    clock: Clock
    backplane: Backplane | None = None
