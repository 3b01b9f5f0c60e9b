"""MQTT test parts: a device client on a real broker, and polling for a condition."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

T = TypeVar("T")


def eventually(check: Callable[[], T | None], timeout: float = 30.0, what: str = "") -> T:
    """Polls `check` until it returns something other than None or False."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last is not None and last is not False:
            return cast(T, last)
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or check}: last {last!r}")


class Device:
    """A paho client acting as a device: publishes at QoS 1 and records what it receives.

    It keeps its session (clean session off) so QoS 1 messages survive a broker restart,
    and paho resends what the broker had not acknowledged.
    """

    def __init__(
        self,
        port: int,
        client_id: str,
        *,
        will: tuple[str, bytes] | None = None,
        keepalive: int = 60,
        username: str | None = None,
    ) -> None:
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=paho.MQTTv311,
        )
        if username is not None:
            self.client.username_pw_set(username)
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)
        self.received: list[tuple[str, bytes]] = []
        self.acked: set[int] = set()
        self._lock = threading.Lock()
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        self.client.reconnect_delay_set(1, 2)
        self.client.connect("127.0.0.1", port, keepalive=keepalive)
        self.client.loop_start()
        eventually(self.client.is_connected, 30, "device connected")

    def _on_message(self, client: Any, userdata: Any, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.received.append((msg.topic, bytes(msg.payload)))

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._lock:
            self.acked.add(mid)

    def subscribe(self, topic: str) -> None:
        result, _mid = self.client.subscribe(topic, qos=1)
        assert result == paho.MQTT_ERR_SUCCESS

    def publish(self, topic: str, payload: Any, *, qos: int = 1, retain: bool = False) -> int:
        """Publishes (JSON-encoding non-bytes); returns the message id."""
        data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        info = self.client.publish(topic, data, qos=qos, retain=retain)
        return int(info.mid)

    def messages(self, topic: str) -> list[bytes]:
        with self._lock:
            return [p for t, p in self.received if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def vanish(self) -> None:
        """Drops the connection without DISCONNECT, so the broker publishes the will."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()
