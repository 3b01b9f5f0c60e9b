"""What a session asks its shell to do: each event of ws/session.py returns a list of these.

The shell (ws/connection.py) carries them out in order; those that ask a service a question
name the session event that takes the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from farmbridge.hub.channel import Subscription
from farmbridge.protocol.const import Mode, ResyncReason, Topic
from farmbridge.service.access import Principal

Ref = int | str | None
"""A client message's `id`, echoed in the answer."""


@dataclass(frozen=True, slots=True)
class SendFrame:
    """Queue a control frame for the client (never dropped, unlike data)."""

    text: str


@dataclass(frozen=True, slots=True)
class SendPing:
    """Queue the heartbeat's ping; answer `ping_written` once it is on the socket, since the
    client's time to answer runs from then, not from when it was queued."""

    text: str


@dataclass(frozen=True, slots=True)
class CloseWith:
    """Send what is queued, then close the socket with `code` (a CloseCode, mostly)."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class AskPrincipal:
    """Ask the access service whose `token` it is; answer `auth_succeeded` or `auth_failed`."""

    token: str
    ref: Ref


@dataclass(frozen=True, slots=True)
class RegisterUser:
    """Count the connection under its user; answer `registered` with the user's count."""

    user_id: int


@dataclass(frozen=True, slots=True)
class RecheckAccess:
    """Reload the principal's account and roles; answer `recheck_done` or `recheck_failed`."""

    principal: Principal


@dataclass(frozen=True, slots=True)
class OpenSubscription:
    """Subscribe to a farm's stream; answer `subscribe_done` or `subscribe_failed`."""

    principal: Principal
    ref: Ref
    farm: int
    topics: frozenset[Topic]
    mode: Mode
    since: int | None
    epoch: str | None


@dataclass(frozen=True, slots=True)
class EndSubscription:
    """Detach a subscription from its farm's channel."""

    sub: Subscription


@dataclass(frozen=True, slots=True)
class SendResync:
    """Tell the client to reload a farm: `resync_required` at the farm's head."""

    farm: int
    reason: ResyncReason


@dataclass(frozen=True, slots=True)
class WatchStats:
    """Start pushing this instance's live figures; queue the whole window first (`ref`)."""

    ref: Ref


@dataclass(frozen=True, slots=True)
class UnwatchStats:
    """Stop pushing live figures."""


Action = (
    SendFrame
    | SendPing
    | CloseWith
    | AskPrincipal
    | RegisterUser
    | RecheckAccess
    | OpenSubscription
    | EndSubscription
    | SendResync
    | WatchStats
    | UnwatchStats
)
