"""paho-mqtt driven by the asyncio event loop, with acknowledgements the bridge sends itself.

paho with `manual_ack=True` holds back a QoS 1 message's PUBACK until the bridge calls
`ack`, which it does after the durable commit; aiomqtt acknowledges on receipt, which
would lose a message stored by nobody if the bridge died in between. The loop watches
paho's socket, so every paho callback runs on the loop thread; only opening a
connection (DNS, TCP, TLS handshake) runs in a worker thread, since it blocks.

The session is persistent (a fixed client id, clean session off): what devices publish
while the bridge is away waits at the broker, and what was delivered but not yet
acknowledged is delivered again on reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from farmbridge import metrics
from farmbridge.domain.mqtt import BrokerUrl

log = logging.getLogger(__name__)

MISC_INTERVAL_S: Final = 1.0


class LinkState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message from the broker; `session` tells acknowledgements of an earlier
    connection apart (those the broker will deliver again anyway)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    dup: bool
    retained: bool
    session: int


MessageHandler = Callable[[Delivery], None]
ConnectHandler = Callable[[bool], None]


class MqttLink:
    def __init__(
        self,
        url: BrokerUrl,
        *,
        client_id: str,
        keepalive_s: int,
        ca_file: Path | None,
        reconnect_max_s: float,
        on_message: MessageHandler,
        on_connected: ConnectHandler,
    ) -> None:
        self.url = url
        self._keepalive_s = keepalive_s
        self._reconnect_max_s = reconnect_max_s
        self._on_message = on_message
        self._on_connected = on_connected
        self.state = LinkState.DISCONNECTED
        self.session = 0
        self.connects = 0
        self._filters: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected_event = asyncio.Event()
        self._lost = asyncio.Event()
        self._fd: int | None = None
        self._writing = False

        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=paho.MQTTv311,
            manual_ack=True,
            reconnect_on_failure=False,
        )
        if url.username is not None:
            client.username_pw_set(url.username, url.password)
        if url.tls:
            client.tls_set(
                ca_certs=str(ca_file) if ca_file else None, tls_version=ssl.PROTOCOL_TLS_CLIENT
            )
        # Outgoing QoS 1 messages (commands) in flight at once; acks are not limited.
        client.max_inflight_messages_set(100)
        client.max_queued_messages_set(10_000)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.on_socket_open = self._socket_open
        client.on_socket_close = self._socket_close
        client.on_socket_register_write = self._register_write
        client.on_socket_unregister_write = self._unregister_write
        self._client = client

    # Lifecycle.

    async def run(self) -> None:
        """Connects, and reconnects with capped, fully jittered backoff, until cancelled."""
        self._loop = asyncio.get_running_loop()
        misc = asyncio.create_task(self._misc(), name="farmbridge.mqtt.misc")
        attempt = 0
        try:
            while True:
                self._set_state(LinkState.CONNECTING)
                self._lost.clear()
                try:
                    await self._open()
                    await asyncio.wait_for(self._connected_event.wait(), 10 + self._keepalive_s)
                except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as exc:
                    metrics.MQTT_CONNECTS.labels("failed").inc()
                    log.warning("MQTT connect to %s failed: %s", self.url.safe(), exc)
                    self._drop_socket()
                else:
                    attempt = 0
                    await self._lost.wait()
                self._connected_event.clear()
                self._set_state(LinkState.DISCONNECTED)
                attempt += 1
                cap = min(self._reconnect_max_s, 0.25 * 2**attempt)
                await asyncio.sleep(random.uniform(0.1, max(0.1, cap)))  # noqa: S311 (jitter)
        finally:
            misc.cancel()
            self._set_state(LinkState.STOPPED)
            # Shutting down: the loop may already have closed the socket's handles.
            with contextlib.suppress(Exception):
                self._client.disconnect()
                self._client.loop_write()
            with contextlib.suppress(Exception):
                self._drop_socket()

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[MQTTErrorCode] = loop.create_future()

        def connect() -> None:
            try:
                if self.connects == 0:
                    rc = self._client.connect(
                        self.url.host, self.url.port, keepalive=self._keepalive_s
                    )
                else:
                    rc = self._client.reconnect()
            except BaseException as exc:  # handed to the loop thread, raised there
                loop.call_soon_threadsafe(_settle_exc, done, exc)
            else:
                loop.call_soon_threadsafe(_settle, done, rc)

        threading.Thread(target=connect, name="farmbridge.mqtt.connect", daemon=True).start()
        rc = await done
        self.connects += 1
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise ConnectionError(paho.error_string(rc))

    async def _misc(self) -> None:
        # paho's keepalive pings and its check for an unanswered one.
        while True:
            await asyncio.sleep(MISC_INTERVAL_S)
            if self._fd is not None:
                self._client.loop_misc()

    def _set_state(self, state: LinkState) -> None:
        self.state = state
        metrics.MQTT_CONNECTED.set(1 if state is LinkState.CONNECTED else 0)

    # The bridge's side.

    def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Subscribes now if connected, and again on every reconnect."""
        if topic_filter in self._filters:
            return
        self._filters[topic_filter] = qos
        if self.state is LinkState.CONNECTED:
            self._client.subscribe(topic_filter, qos)

    def ack(self, delivery: Delivery) -> None:
        """Acknowledges a stored message; one from an earlier connection is left to the
        broker, which delivers it again."""
        if delivery.qos and delivery.session == self.session and self.connected:
            self._client.ack(delivery.mid, delivery.qos)

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Hands a message to paho, which sends it now or, for QoS 1, after a reconnect."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise ConnectionError(paho.error_string(info.rc))

    def drop(self) -> None:
        """Closes the connection so the broker delivers unacknowledged messages again."""
        if self._fd is not None:
            self._client.disconnect()

    @property
    def connected(self) -> bool:
        return self.state is LinkState.CONNECTED

    # paho callbacks (on the loop thread, except socket_open/register_write while connecting).

    def _handle_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            metrics.MQTT_CONNECTS.labels("refused").inc()
            log.warning("MQTT broker %s refused the connection: %s", self.url.safe(), reason)
            self._lost.set()
            return
        metrics.MQTT_CONNECTS.labels("ok").inc()
        self.session += 1
        self._set_state(LinkState.CONNECTED)
        session_present = bool(getattr(flags, "session_present", False))
        log.info("MQTT connected to %s (session present: %s)", self.url.safe(), session_present)
        if self._filters:
            client.subscribe([(f, q) for f, q in self._filters.items()])
        self._connected_event.set()
        self._on_connected(session_present)

    def _handle_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if self.state is LinkState.CONNECTED:
            log.warning("MQTT connection to %s lost: %s", self.url.safe(), reason)
        self._set_state(LinkState.DISCONNECTED)
        self._lost.set()

    def _handle_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        self._on_message(
            Delivery(
                topic=msg.topic,
                payload=bytes(msg.payload),
                mid=msg.mid,
                qos=msg.qos,
                dup=bool(msg.dup),
                retained=bool(msg.retain),
                session=self.session,
            )
        )

    def _on_loop(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        assert loop is not None
        if _in_loop(loop):
            fn()
        else:
            loop.call_soon_threadsafe(fn)

    def _socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        fd = sock.fileno()

        def watch() -> None:
            assert self._loop is not None
            self._fd = fd
            self._loop.add_reader(fd, self._readable)

        self._on_loop(watch)

    def _socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        # Called before paho closes the socket, on the thread that closes it.
        self._on_loop(self._unwatch)

    def _register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        def watch() -> None:
            if self._fd is not None and self._loop is not None and not self._writing:
                self._writing = True
                self._loop.add_writer(self._fd, self._writable)

        self._on_loop(watch)

    def _unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        def unwatch() -> None:
            if self._fd is not None and self._loop is not None and self._writing:
                self._writing = False
                self._loop.remove_writer(self._fd)

        self._on_loop(unwatch)

    def _readable(self) -> None:
        self._client.loop_read()

    def _writable(self) -> None:
        self._client.loop_write()

    def _unwatch(self) -> None:
        if self._fd is not None and self._loop is not None:
            self._loop.remove_reader(self._fd)
            if self._writing:
                self._loop.remove_writer(self._fd)
        self._fd = None
        self._writing = False

    def _drop_socket(self) -> None:
        sock = self._client.socket()
        self._unwatch()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.close()


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _settle(fut: asyncio.Future[MQTTErrorCode], rc: MQTTErrorCode) -> None:
    if not fut.done():
        fut.set_result(rc)


def _settle_exc(fut: asyncio.Future[MQTTErrorCode], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
