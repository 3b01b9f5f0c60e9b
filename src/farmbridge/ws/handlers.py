"""What the session does with each client message: a table of handlers keyed by type.

A handler turns one parsed message into session verbs (frames to send, subscriptions to
open or end, questions for the services); the session decides the rest when the answers
come back. Handlers marked `needs_auth` run only once the connection is authenticated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from farmbridge.protocol import server_messages as out
from farmbridge.protocol.client_messages import (
    Auth,
    Ping,
    Pong,
    Subscribe,
    SubscribeStats,
    Unsubscribe,
    UnsubscribeStats,
)
from farmbridge.protocol.const import (
    IMPLIED_TOPICS,
    PROTOCOL_VERSION,
    TOPICS_OF_VERSION,
    ErrorCode,
    Topic,
    UnsubscribeReason,
)
from farmbridge.ws.actions import AskPrincipal, EndSubscription, OpenSubscription, WatchStats

if TYPE_CHECKING:
    from farmbridge.ws.session import Session


@dataclass(frozen=True, slots=True)
class Handler:
    run: Callable[[Session, Any], None]
    needs_auth: bool = False


def auth(session: Session, msg: Auth) -> None:
    """Authenticate, or re-authenticate the open socket with a fresh token."""
    session.protocol = msg.protocol or PROTOCOL_VERSION
    session.emit(AskPrincipal(msg.token, msg.id))


def ping(session: Session, msg: Ping) -> None:
    session.send(out.pong(msg.id, session.clock.wall_ms()))


def pong(session: Session, msg: Pong) -> None:
    """An answer to the server's ping: receiving it was the sign of life."""


def subscribe(session: Session, msg: Subscribe) -> None:
    """Opens a farm's stream, replacing an earlier subscription to the same farm."""
    assert session.principal is not None
    limit = session.limits.max_subscriptions
    if msg.farm not in session.subs and len(session.subs) >= limit:
        session.error(
            ErrorCode.TOO_MANY_SUBSCRIPTIONS,
            f"at most {limit} subscriptions per connection",
            msg.id,
        )
        return
    # A client of an older protocol never gets a topic of a newer one, even if it names it.
    served = TOPICS_OF_VERSION[session.protocol]
    old = session.subs.pop(msg.farm, None)
    if old is not None:
        session.emit(EndSubscription(old))
    session.emit(
        OpenSubscription(
            session.principal,
            msg.id,
            msg.farm,
            _topics(msg.topics, served),
            msg.mode,
            msg.since,
            msg.epoch,
        )
    )


def _topics(named: list[Topic] | None, served: frozenset[Topic]) -> frozenset[Topic]:
    if not named:
        return served
    implied = {IMPLIED_TOPICS[t] for t in named if t in IMPLIED_TOPICS}
    return frozenset(named).union(implied) & served


def unsubscribe(session: Session, msg: Unsubscribe) -> None:
    sub = session.subs.get(msg.farm)
    if sub is None:
        session.error(ErrorCode.NOT_FOUND, f"not subscribed to farm {msg.farm}", msg.id)
        return
    session.end_subscription(msg.farm, sub, UnsubscribeReason.REQUESTED, msg.id)


def subscribe_stats(session: Session, msg: SubscribeStats) -> None:
    """Watches this instance's live figures: global admins only (they show every farm's)."""
    assert session.principal is not None
    if not session.principal.is_admin:
        session.error(ErrorCode.FORBIDDEN, "administrator role needed", msg.id)
        return
    session.watching_stats = True
    session.emit(WatchStats(msg.id))


def unsubscribe_stats(session: Session, msg: UnsubscribeStats) -> None:
    if not session.watching_stats:
        session.error(ErrorCode.NOT_FOUND, "not subscribed to stats", msg.id)
        return
    session.end_stats(UnsubscribeReason.REQUESTED, msg.id)


HANDLERS: Final[Mapping[str, Handler]] = {
    "auth": Handler(auth),
    "ping": Handler(ping),
    "pong": Handler(pong),
    "subscribe": Handler(subscribe, needs_auth=True),
    "unsubscribe": Handler(unsubscribe, needs_auth=True),
    "subscribe_stats": Handler(subscribe_stats, needs_auth=True),
    "unsubscribe_stats": Handler(unsubscribe_stats, needs_auth=True),
}
