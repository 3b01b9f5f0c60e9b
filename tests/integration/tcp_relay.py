"""A TCP relay on loopback that can hold back what its clients send upstream.

Put between the bridge and a real Mosquitto, it makes "the bridge died between its commit
and its PUBACK" reproducible: hold, let the bridge commit and send its PUBACK (held here,
so the broker never gets it), kill the bridge, then cut the connection. To the broker
that is exactly a client that died before acknowledging.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpRelay:
    """Relays 127.0.0.1:`port` to 127.0.0.1:`upstream_port`, a thread per direction."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._holding = False
        self._held = bytearray()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._closed = False
        threading.Thread(target=self._accept, name="relay.accept", daemon=True).start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def hold(self) -> None:
        """From now on, what clients send is kept here instead of reaching upstream."""
        with self._lock:
            self._holding = True
            self._held.clear()

    def held(self) -> bytes:
        with self._lock:
            return bytes(self._held)

    def cut(self) -> None:
        """Drops what was held and closes every connection; relays freely again."""
        with self._lock:
            self._holding = False
            self._held.clear()
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._upstream_port))
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        try:
            while data := src.recv(65536):
                with self._lock:
                    if from_client and self._holding:
                        self._held += data
                        continue
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
