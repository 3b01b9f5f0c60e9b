"""What bridge instances on one database tell each other beyond changes: the signals that
drop what each caches, wired to the backplane.

- "device" (a device id, or None for the misses): a key rotated, a device removed, its
  sensors changed, a device registered; every instance's device directory drops it.
- "user" (a user id): a user's roles, tokens or account changed, or (a negative id,
  `display_subject`) a display credential was revoked; every instance's live connections
  of that user or display check their access again.
- "farm" ([farm id, deleted]): a farm renamed or deleted; every instance forgets its name,
  and for a deleted one ends its live subscriptions and forgets its channel.
- "pending" ([farm id, name]): a pending device approved or forgotten; every instance
  stops dropping its messages as rejected.

Commands need no signal: a new command is a change, and every instance hears every
change through the backplane (`CommandService.heard`); while it cannot, its waiting
device polls read the store every second (`CommandService.backplane_state`).

A signal this instance could not send (Redis down) is sent when it reconnects.
"""

from __future__ import annotations

from typing import Any

from farmbridge.service.access import AccessWatch
from farmbridge.service.backplane import Backplane
from farmbridge.service.commands import CommandService
from farmbridge.service.connections import ConnectionRegistry
from farmbridge.service.directory import DeviceDirectory
from farmbridge.service.farms import FarmService
from farmbridge.service.named_devices import NamedDeviceService


def link_instances(
    backplane: Backplane,
    *,
    directory: DeviceDirectory,
    watch: AccessWatch,
    registry: ConnectionRegistry,
    commands: CommandService,
    named_devices: NamedDeviceService,
    farms: FarmService,
) -> None:
    """Sends this instance's invalidations to the others and applies theirs."""
    directory.add_forget_listener(lambda device_id: backplane.signal("device", device_id))
    backplane.on_signal("device", lambda v: _drop_device(directory, v))
    backplane.add_state_listener(directory.backplane_state)

    watch.add_listener(lambda user_id: backplane.signal("user", user_id))
    backplane.on_signal("user", lambda v: registry.access_changed(int(v)))

    named_devices.add_forget_listener(lambda f, n: backplane.signal("pending", [f, n]))
    backplane.on_signal("pending", lambda v: named_devices.drop(int(v[0]), str(v[1])))

    farms.add_change_listener(lambda f, deleted: backplane.signal("farm", [f, deleted]))
    backplane.on_signal("farm", lambda v: farms.drop_farm(int(v[0]), bool(v[1])))

    backplane.add_listener(commands.heard)
    backplane.add_state_listener(commands.backplane_state)


def _drop_device(directory: DeviceDirectory, value: Any) -> None:
    if value is None:
        directory.drop_misses()
    else:
        directory.drop_device(int(value))
