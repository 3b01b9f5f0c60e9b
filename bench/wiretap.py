"""Bytes on the wire at the client sockets: the kernel's per-socket TCP counters, plus headers.

Each client socket is read with `getsockopt(TCP_INFO)`: payload bytes sent (acked) and
received, and TCP segments out and in, so HTTP and WebSocket framing are in the payload
and every segment (data or bare ACK, either direction) adds its IPv4 + TCP header. The
sockets cap their MSS at Ethernet's (TCP_MAXSEG before connecting; loopback's 64 KiB MTU
would otherwise send a 6 KB answer in one segment where a LAN needs five), so the segment
count is the one a real network would see. Ethernet framing itself is left out.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass
from typing import Final

HEADER_BYTES: Final = 52
"""IPv4 (20) + TCP (20) + the timestamps option (12) that Linux puts on every segment."""

ETHERNET_MSS: Final = 1460
"""The MSS a 1500-byte Ethernet MTU gives (1448 bytes of payload once timestamps are on)."""

# struct tcp_info (linux/tcp.h): tcpi_bytes_acked and tcpi_bytes_received are u64 at
# offsets 120 and 128, tcpi_segs_out and tcpi_segs_in u32 at 136 and 140.
_TCP_INFO_LEN: Final = 144
_COUNTERS = struct.Struct("=QQII")
_COUNTERS_OFFSET: Final = 120
_SND_MSS = struct.Struct("=I")
_SND_MSS_OFFSET: Final = 16


@dataclass(frozen=True, slots=True)
class Tcp:
    """One socket's (or a sum of sockets') TCP counters."""

    sent: int = 0
    received: int = 0
    segs_out: int = 0
    segs_in: int = 0

    @property
    def payload(self) -> int:
        return self.sent + self.received

    @property
    def segments(self) -> int:
        return self.segs_out + self.segs_in

    @property
    def wire(self) -> int:
        """Payload both ways plus an IPv4 + TCP header per segment both ways."""
        return self.payload + HEADER_BYTES * self.segments

    def __add__(self, other: Tcp) -> Tcp:
        return Tcp(
            self.sent + other.sent,
            self.received + other.received,
            self.segs_out + other.segs_out,
            self.segs_in + other.segs_in,
        )

    def __sub__(self, other: Tcp) -> Tcp:
        return Tcp(
            self.sent - other.sent,
            self.received - other.received,
            self.segs_out - other.segs_out,
            self.segs_in - other.segs_in,
        )


def tcp_counters(sock: socket.socket) -> Tcp:
    """The socket's counters now; zeros once it is closed."""
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
    except OSError:
        return Tcp()
    if len(raw) < _COUNTERS_OFFSET + _COUNTERS.size:
        raise RuntimeError("this kernel's tcp_info has no byte and segment counters")
    return Tcp(*_COUNTERS.unpack_from(raw, _COUNTERS_OFFSET))


def send_mss(sock: socket.socket) -> int:
    raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
    return int(_SND_MSS.unpack_from(raw, _SND_MSS_OFFSET)[0])


async def open_socket(host: str, port: int, *, mss: int = ETHERNET_MSS) -> socket.socket:
    """A connected non-blocking TCP socket whose segments are capped at `mss` both ways."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return sock


class Tap:
    """Counts the wire bytes of a set of client sockets between `mark()` and `read()`.

    Sockets come and go: `add` one when it opens, `retire` it before it closes (its
    counters are kept), so a reconnecting client is counted whole.
    """

    def __init__(self) -> None:
        self._live: dict[int, tuple[socket.socket, Tcp]] = {}
        self._retired = Tcp()
        self.opened = 0

    def add(self, sock: socket.socket) -> None:
        self._live[id(sock)] = (sock, Tcp())
        self.opened += 1

    def retire(self, sock: socket.socket) -> None:
        entry = self._live.pop(id(sock), None)
        if entry is not None:
            self._retired = self._retired + (tcp_counters(sock) - entry[1])

    def mark(self) -> None:
        """Starts counting from now."""
        self._live = {k: (s, tcp_counters(s)) for k, (s, _) in self._live.items()}
        self._retired = Tcp()
        self.opened = 0

    def read(self) -> Tcp:
        """Everything since `mark()`, live and retired sockets together."""
        total = self._retired
        for sock, base in self._live.values():
            total = total + (tcp_counters(sock) - base)
        return total
