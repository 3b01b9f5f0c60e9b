"""One device's (or a gateway's) MQTT client: paho in its own thread, callbacks on the loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from farmbridge.domain.mqtt import BrokerUrl, Publish
from farmbridge.sim.devices import DeviceSpec

log = logging.getLogger(__name__)


QOS: Final = 1
KEEPALIVE_S: Final = 30
RECONNECT_MIN_DELAY_S: Final = 1
RECONNECT_MAX_DELAY_S: Final = 30
MAX_INFLIGHT_MESSAGES: Final = 100


class Client:
    """One paho client with its network loop in its own thread; callbacks go to the loop."""

    def __init__(
        self,
        *,
        url: BrokerUrl,
        client_id: str,
        devices: tuple[DeviceSpec, ...],
        will: Publish | None,
        subscriptions: list[str],
        keepalive_s: int,
        ca_file: Path | None,
        on_up: Callable[[Client], None],
        on_message: Callable[[Client, str, bytes], None],
    ) -> None:
        self.url = url
        self.client_id = client_id
        self.devices = devices
        self.up = False
        self.connected = asyncio.Event()
        self.published = 0
        self.dropped = 0
        self.acked = 0  # written by paho's thread only
        self._loop = asyncio.get_running_loop()
        self._keepalive_s = keepalive_s
        self._subscriptions = subscriptions
        self._on_up = on_up
        self._on_message = on_message
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=paho.MQTTv311,
        )
        if url.username is not None:
            client.username_pw_set(url.username, url.password)
        if url.tls:
            client.tls_set(
                ca_certs=str(ca_file) if ca_file else None, tls_version=ssl.PROTOCOL_TLS_CLIENT
            )
        if will is not None:
            client.will_set(will.topic, will.payload, qos=QOS, retain=will.retain)
        client.max_inflight_messages_set(MAX_INFLIGHT_MESSAGES)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(RECONNECT_MIN_DELAY_S, RECONNECT_MAX_DELAY_S)
        client.on_connect = self._paho_connect
        client.on_disconnect = self._paho_disconnect
        client.on_message = self._paho_message
        client.on_publish = self._paho_publish
        self.paho = client

    def start(self) -> None:
        """Connects in paho's thread, retrying until it succeeds; returns at once."""
        self.paho.connect_async(self.url.host, self.url.port, keepalive=self._keepalive_s)
        self.paho.loop_start()

    def publish(self, messages: Sequence[Publish]) -> None:
        """Hands messages to paho, which sends them now or, being QoS 1, after a reconnect."""
        for m in messages:
            info = self.paho.publish(m.topic, m.payload, qos=QOS, retain=m.retain)
            if info.rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                self.published += 1
            else:
                self.dropped += 1
                log.warning("%s: publish to %s failed: %s", self.client_id, m.topic, info.rc)

    @property
    def outstanding(self) -> int:
        return self.published - self.acked

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        # RuntimeError: the loop closed under a shutting-down client.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(fn, *args)

    # paho's thread.

    def _paho_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            log.warning("%s: broker %s refused: %s", self.client_id, self.url.safe(), reason)
            return
        if self._subscriptions:
            client.subscribe([(f, QOS) for f in self._subscriptions])
        self._call(self._came_up)

    def _paho_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        self._call(self._went_down, str(reason))

    def _paho_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        self._call(self._on_message, self, msg.topic, bytes(msg.payload))

    def _paho_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason: Any, properties: Any
    ) -> None:
        self.acked += 1

    # The loop's thread.

    def _came_up(self) -> None:
        self.up = True
        self.connected.set()
        self._on_up(self)

    def _went_down(self, reason: str) -> None:
        if self.up:
            log.info("%s: disconnected (%s)", self.client_id, reason)
        self.up = False
        self.connected.clear()
