"""The client's address: the peer's, or from X-Forwarded-For only behind a trusted proxy."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """Parses addresses and CIDRs (`10.0.0.1`, `10.0.0.0/8`, `::1`); raises ValueError."""
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def client_address(peer: str, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The address the request came from.

    `peer` is the TCP peer; `forwarded_for` the X-Forwarded-For header values in order.
    The header is read only when the peer is a trusted proxy, and then from the right: the
    first hop that is not a trusted proxy is the client (hops further left were written by
    the client itself and prove nothing). A hop that is not an address ends the walk at the
    last trusted one; when every hop is trusted the left-most is the client.
    """
    if not trusted or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()]
    client = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return client
        client = hop
        if not _trusted(hop, trusted):
            return hop
    return client
