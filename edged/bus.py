"""The MQTT connection: paho-mqtt 2, MQTT 5 when the broker speaks it, 3.1.1 otherwise.

The bus knows nothing about faces: it keeps the connection (last will
``offline``, retained ``online`` on every connect, reconnect with backoff),
subscribes to command topics and hands each incoming message to one
callback. Replies honour an MQTT 5 response topic and correlation data.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from .topics import AVAILABLE, NOT_AVAILABLE, Message, Topics

log = logging.getLogger(__name__)

#: CONNACK reason codes meaning "this broker does not speak MQTT 5".
_UNSUPPORTED_PROTOCOL = {1, 132}


@dataclass
class Incoming:
    topic: str
    payload: bytes
    response_topic: str | None = None
    correlation_data: bytes | None = None


@dataclass
class BusSettings:
    host: str
    port: int
    client_id: str
    keepalive: int = 30
    protocol: str = "auto"  # auto | 5 | 3.1.1
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls_insecure: bool = False


class Bus:
    def __init__(
        self,
        settings: BusSettings,
        topics: Topics,
        on_message: Callable[[Incoming], None],
        on_connected: Callable[[], None] = lambda: None,
        subscriptions: list[str] | None = None,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self._on_message = on_message
        self._on_connected = on_connected
        self._subscriptions = subscriptions or []
        self.connected = threading.Event()
        self.protocol = "5" if settings.protocol in ("auto", "5") else "3.1.1"
        self.connects = 0
        self._early_closes = 0  # connections closed before any CONNACK, under MQTT 5
        self._fallback_lock = threading.Lock()

        self._client = self._make_client()

    # -- connection -----------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        s = self.settings
        v5 = self.protocol == "5"
        kwargs = {} if v5 else {"clean_session": True}
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            **kwargs,
        )
        c.will_set(self.topics.availability, NOT_AVAILABLE, qos=1, retain=True)
        if s.username:
            c.username_pw_set(s.username, s.password)
        if s.tls:
            c.tls_set(ca_certs=s.ca_file, certfile=s.cert_file, keyfile=s.key_file, cert_reqs=ssl.CERT_REQUIRED)
            c.tls_insecure_set(s.tls_insecure)
        c.reconnect_delay_set(min_delay=1, max_delay=30)
        c.on_connect = self._handle_connect
        c.on_disconnect = self._handle_disconnect
        c.on_message = self._handle_message
        return c

    def start(self) -> None:
        s = self.settings
        self._client.connect_async(s.host, s.port, keepalive=s.keepalive)
        self._client.loop_start()

    def stop(self, timeout: float = 3.0) -> None:
        """Publish a clean ``offline`` and disconnect."""
        if self.connected.is_set():
            info = self._client.publish(self.topics.availability, NOT_AVAILABLE, qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout)
        self._client.disconnect()
        self._client.loop_stop()

    def _handle_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("broker %s:%s refused the connection: %s", self.settings.host, self.settings.port,
                        reason_code)
            if self.settings.protocol == "auto" and self.protocol == "5" and reason_code.value in _UNSUPPORTED_PROTOCOL:
                threading.Thread(target=self._fall_back, daemon=True).start()
            return
        self.connects += 1
        log.info("connected to %s:%s (MQTT %s)", self.settings.host, self.settings.port, self.protocol)
        client.publish(self.topics.availability, AVAILABLE, qos=1, retain=True)
        for t in self._subscriptions:
            client.subscribe(t, qos=1)
        self.connected.set()
        try:
            self._on_connected()
        except Exception:
            log.exception("on_connected hook failed")

    def _fall_back(self) -> None:
        with self._fallback_lock:
            if self.protocol != "5":
                return
            self.protocol = "3.1.1"
        log.info("broker does not speak MQTT 5: using 3.1.1")
        self._client.loop_stop()
        self._client.disconnect()
        self._client = self._make_client()

        self.start()

    def _handle_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.connected.is_set():
            log.warning("disconnected from broker: %s", reason_code)
        elif self.settings.protocol == "auto" and self.protocol == "5" and self.connects == 0:
            # Some 3.1.1-only brokers drop an MQTT 5 CONNECT without a CONNACK
            # (amqtt does when a will is set); a broker that is merely down
            # refuses TCP instead and never gets here.
            self._early_closes += 1
            if self._early_closes:

                threading.Thread(target=self._fall_back, daemon=True).start()
        self.connected.clear()


    def _handle_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        incoming = Incoming(
            msg.topic,
            bytes(msg.payload),
            getattr(props, "ResponseTopic", None) if props else None,
            getattr(props, "CorrelationData", None) if props else None,
        )
        try:
            self._on_message(incoming)
        except Exception:
            log.exception("handling %s failed", msg.topic)

    # -- publishing -----------------------------------------------------------------
    def publish(self, msg: Message) -> mqtt.MQTTMessageInfo:
        return self._client.publish(msg.topic, msg.payload, qos=msg.qos, retain=msg.retain)

    def publish_many(self, msgs: list[Message]) -> None:
        for m in msgs:
            self.publish(m)

    def reply(self, incoming: Incoming, default_topic: str, payload: str) -> None:
        """Answer on the request's MQTT 5 response topic if it named one, else on ``default_topic``."""
        if incoming.response_topic and self.protocol == "5":
            props = Properties(PacketTypes.PUBLISH)
            if incoming.correlation_data is not None:
                props.CorrelationData = incoming.correlation_data
            self._client.publish(incoming.response_topic, payload, qos=1, properties=props)
        else:
            self._client.publish(default_topic, payload, qos=1)
