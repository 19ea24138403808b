"""The MQTT connection: paho-mqtt 2, MQTT 5 when the broker speaks it, 3.1.1 otherwise.

The bus knows nothing about faces: it keeps the connection (last will
``offline``, retained ``online`` on every connect, reconnect with backoff),
subscribes to command topics and hands each incoming message to one
callback. Replies go to frd's own reply topics (echoing MQTT 5 correlation
data), never to a response topic the request names.

Brokers restart and Wi-Fi drops, so the session is persistent (a stable
client id, MQTT 5 ``clean_start=False`` with a session expiry, or 3.1.1
``clean_session=False``): the broker keeps frd's subscriptions and the
commands sent to it meanwhile. Whatever frd publishes while the broker is
away goes to an in-memory queue bounded in messages and in bytes (when it is
full the oldest reply or discovery config is dropped first, then the oldest
message, and counted; a retained message replaces a queued one of the same
topic) and is sent with QoS 1 as soon as the connection is back.

Events and state never wait behind chatter: replies and Home Assistant
discovery configs go to paho only while it holds fewer than
:data:`CHATTER_WINDOW` messages; the rest wait in a lane of their own, bounded
in messages and bytes, that drops the oldest reply first when it is full (a
flood of refused commands costs replies, counted, never an event). With MQTT 5
frd tells the broker the largest packet it takes (``Maximum Packet Size``), so
a message far over frd's limits never reaches its memory.

A broker that drops frd's connection because another client connected with
frd's client id (MQTT 5 reason "Session taken over", or, on 3.1.1, connections
closed again and again right after they were made) is reported in the log and
the status: any login may take a client id unless the broker binds client ids
to logins (``config/mosquitto/frd.conf``: ``use_username_as_clientid``).
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from ..config import MqttConfig, default
from ..core.logs import Tally
from ..core.models import Message
from ..core.topics import AVAILABLE, NOT_AVAILABLE, Topics

log = logging.getLogger(__name__)

#: CONNACK reason codes meaning "this broker does not speak MQTT 5".
_UNSUPPORTED_PROTOCOL = {1, 132}
#: MQTT 5 Maximum Packet Size = the largest message frd reads plus this: a message a little over a limit still
#: reaches frd (and is answered "too large"); one far over it is dropped by the broker, never held in frd's memory.
PACKET_SLACK = 1024 * 1024
#: DISCONNECT reason code: another client connected with this client id.
SESSION_TAKEN_OVER = 0x8E
#: Replies and discovery configs in paho's hands at once: events and state wait behind at most this many of them.
CHATTER_WINDOW = 50
#: Replies and discovery configs waiting for paho: at most this many messages and bytes (a whole discovery of 100
#: people is ~700 configs, ~600 kB); when full, the oldest reply is dropped, else the new message.
CHATTER_MAX = 2000
CHATTER_MAX_BYTES = 4 * 1024 * 1024
#: 3.1.1 says nothing when the broker hands frd's client id to another client: a connection closed within this
#: many seconds of being made, :data:`SHORT_SESSIONS` times within :data:`TAKEOVER_WINDOW_S`, is reported as one.
SHORT_SESSION_S = 10.0
SHORT_SESSIONS = 3
TAKEOVER_WINDOW_S = 60.0
#: How long a take-over stays among the status's errors after the last one.
TAKEOVER_REPORT_S = 300.0


class Publisher(Protocol):
    """What a component needs of the bus: publish, and whether the broker is there."""

    connected: threading.Event

    def publish(self, msg: Message) -> bool: ...
    def publish_many(self, msgs: list[Message]) -> None: ...


class BusLike(Publisher, Protocol):
    """The bus the daemon runs on: :class:`Bus` with a broker, ``tests/fakebus.py`` in-process."""

    dropped: int
    malformed: int
    chatter_dropped: int
    taken_over: int

    def connection_problem(self) -> str | None: ...

    @property
    def queued(self) -> int: ...
    def attach(self, on_message: Callable[[Incoming], None], on_connected: Callable[[], None],
               subscriptions: list[str]) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def network_alive(self) -> bool: ...
    def reply(self, incoming: Incoming, reply_topic: str, payload: str) -> None: ...


@dataclass
class Incoming:
    topic: str
    payload: bytes
    response_topic: str | None = None
    correlation_data: bytes | None = None
    #: set by the publisher (MQTT 5, retain-as-published) or replayed from the broker's store
    retain: bool = False


class _TolerantClient(mqtt.Client):
    """paho's client, except that a PUBLISH it cannot parse is acknowledged, logged and dropped.

    paho 2.x treats, for example, a user property or content type containing U+FEFF as a malformed packet
    and closes the connection; the broker then redelivers the same QoS 1 message after every reconnect,
    so one message published by anybody would keep frd offline for good. Dropping it costs that message
    only. (Relies on paho internals: ``_handle_publish``, ``_in_packet``, ``_send_puback``/``_send_pubrec``;
    tests/integration/test_hostile.py sends the exact message through mosquitto.)
    """

    on_malformed: Callable[[str, str], None] = staticmethod(lambda topic, why: None)

    def _handle_publish(self) -> mqtt.MQTTErrorCode:
        try:
            return super()._handle_publish()
        except MalformedPacket as e:
            header, packet = self._in_packet["command"], bytes(self._in_packet["packet"])
            qos = (header & 0x06) >> 1
            topic, mid = "?", 0
            with contextlib.suppress(struct.error, IndexError):
                (tlen,) = struct.unpack_from("!H", packet, 0)
                topic = packet[2 : 2 + tlen].decode("utf-8", "replace")
                if qos:
                    (mid,) = struct.unpack_from("!H", packet, 2 + tlen)
            self.on_malformed(topic, str(e))
            if qos == 1 and mid:
                return self._send_puback(mid)
            if qos == 2 and mid:
                return self._send_pubrec(mid)  # paho answers the PUBREL of an unknown message with PUBCOMP
            return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS


@dataclass
class BusSettings:
    """The connection, as ``app.py`` reads it from ``mqtt:`` (the defaults are the config's)."""

    host: str
    port: int
    client_id: str
    keepalive: int = default(MqttConfig, "keepalive")
    protocol: str = default(MqttConfig, "protocol")  # auto | 5 | 3.1.1
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls_insecure: bool = False
    session_expiry_s: int = default(MqttConfig, "session_expiry_s")  # 0: a clean session on every connect
    offline_queue: int = default(MqttConfig, "offline_queue")  # messages kept while disconnected
    offline_queue_bytes: int = default(MqttConfig, "offline_queue_bytes")  # ... and their bytes
    reconnect_max_s: int = default(MqttConfig, "reconnect_max_s")
    #: MQTT 5: the largest packet frd takes (the broker drops larger ones for frd); 0: no limit said
    max_packet: int = 0


@dataclass(frozen=True)
class _Queued:
    topic: str
    payload: str | bytes
    qos: int
    retain: bool
    properties: Properties | None = None
    #: a reply or a discovery config: it waits behind events and state, and is dropped first
    chatter: bool = False
    #: never dropped from the chatter lane (``online``, ordered after the discovery configs of a connect)
    pinned: bool = False

    @property
    def size(self) -> int:
        return len(self.payload) + len(self.topic)


def unpublishable(topic: str) -> str | None:
    """Why a broker would refuse ``topic`` (and drop the connection with it), or None if it is fine.

    mosquitto disconnects a client that publishes a topic with a wildcard, NUL, a control character or a
    Unicode non-character ("Malformed packet"), and paho sends the same message again after every
    reconnect: one such message would cut frd off for good, so it is dropped before it reaches paho.
    """
    if not topic:
        return "empty topic"
    if len(topic.encode("utf-8", "surrogatepass")) > 65535:
        return "topic longer than 65535 bytes"
    for ch in topic:
        cp = ord(ch)
        if ch in "+#" or cp <= 0x1F or 0x7F <= cp <= 0x9F or 0xD800 <= cp <= 0xDFFF or 0xFDD0 <= cp <= 0xFDEF \
                or (cp & 0xFFFE) == 0xFFFE:
            return f"character U+{cp:04X} is not allowed in a topic"
    return None


class Bus:
    def __init__(
        self,
        settings: BusSettings,
        topics: Topics,
        on_message: Callable[[Incoming], None] | None = None,
        on_connected: Callable[[], None] | None = None,
        subscriptions: list[str] | None = None,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.attach(on_message or (lambda m: None), on_connected or (lambda: None), subscriptions or [])
        self.connected = threading.Event()
        self.protocol = "5" if settings.protocol in ("auto", "5") else "3.1.1"
        self.connects = 0
        self._fallback_lock = threading.Lock()
        # Outgoing messages while the broker is away; _online is set once the backlog has been handed to paho.
        self._out_lock = threading.Lock()
        self._queue: deque[_Queued] = deque()
        self._queue_bytes = 0
        self._online = False
        self.dropped = 0  # messages lost because the offline queue was full
        self.malformed = 0  # incoming messages the MQTT library could not parse (acknowledged and dropped)
        # Replies and discovery configs waiting for paho (the chatter lane); its own lock, never held while paho
        # is called: paho calls on_publish holding its own lock, and the lane is pumped from there.
        self._lane_lock = threading.Lock()
        self._chatter: deque[_Queued] = deque()
        self._chatter_bytes = 0
        self.chatter_dropped = 0  # replies (and discovery configs) dropped because the chatter lane was full
        self._drops = Tally(log, "outgoing messages dropped")
        # Take-overs of frd's client id: how many, when the last was, and the recent short sessions (3.1.1).
        self.taken_over = 0
        self._taken_over_at: float | None = None
        self._connected_at = 0.0
        self._short_sessions: deque[float] = deque()
        self._takeovers = Tally(log, "take-overs of frd's client id", interval_s=60.0, burst=1)
        self._last_warning: tuple[str, float] = ("", 0.0)
        self._stopping = False

        self._client = self._make_client()

    def attach(self, on_message: Callable[[Incoming], None], on_connected: Callable[[], None],
               subscriptions: list[str]) -> None:
        """Who hears incoming messages and connects, and what to subscribe to; before :meth:`start`."""
        self._on_message = on_message
        self._on_connected = on_connected
        self._subscriptions = list(subscriptions)

    # -- connection -----------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        s = self.settings
        v5 = self.protocol == "5"
        kwargs = {} if v5 else {"clean_session": s.session_expiry_s == 0}
        c = _TolerantClient(
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
        c.reconnect_delay_set(min_delay=1, max_delay=max(1, s.reconnect_max_s))
        # paho keeps unacknowledged QoS 1 messages itself; bound that too (0 would mean unbounded)
        c.max_queued_messages_set(max(1000, 2 * s.offline_queue))
        # chatter fills at most CHATTER_WINDOW of the messages in flight: an event always finds one free
        c.max_inflight_messages_set(2 * CHATTER_WINDOW)
        c.on_connect = self._handle_connect
        c.on_connect_fail = self._handle_connect_fail
        c.on_disconnect = self._handle_disconnect
        c.on_message = self._handle_message
        c.on_malformed = self._handle_malformed
        c.on_publish = self._handle_published
        return c

    def start(self) -> None:
        s = self.settings
        if self.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = s.session_expiry_s
            if s.max_packet:
                props.MaximumPacketSize = s.max_packet
            self._client.connect_async(s.host, s.port, keepalive=s.keepalive, clean_start=s.session_expiry_s == 0,
                                       properties=props)
        else:
            self._client.connect_async(s.host, s.port, keepalive=s.keepalive)
        self._client.loop_start()

    def network_alive(self) -> bool:
        """Whether paho's network thread runs (True while it is being replaced by a protocol fallback)."""
        thread = getattr(self._client, "_thread", None)
        return thread is None or thread.is_alive()

    def _warn(self, msg: str, every_s: float = 60.0) -> None:
        """Log a connection problem once, then again only if it changes or persists ``every_s``."""
        last, when = self._last_warning
        now = time.monotonic()
        if msg != last or now - when >= every_s:
            self._last_warning = (msg, now)
            log.warning("%s", msg)
        else:
            log.debug("%s", msg)

    def stop(self, timeout: float = 3.0) -> None:
        """Publish a clean ``offline`` and disconnect."""
        self._stopping = True  # the disconnect that follows is ours: not a warning
        with self._out_lock:
            if self._queue:
                log.warning("stopping with %d message(s) not delivered (the broker was away)", len(self._queue))
        if self.connected.is_set():
            info = self._client.publish(self.topics.availability, NOT_AVAILABLE, qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout)
        self._client.disconnect()
        self._client.loop_stop()

    def _handle_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._warn(f"broker {self.settings.host}:{self.settings.port} refused the connection: {reason_code}")
            if self.settings.protocol == "auto" and self.protocol == "5" and reason_code.value in _UNSUPPORTED_PROTOCOL:
                threading.Thread(target=self._fall_back, daemon=True).start()
            return
        self.connects += 1
        self._connected_at = time.monotonic()
        self._last_warning = ("", 0.0)
        log.info("connected to %s:%s (MQTT %s, session %s)", self.settings.host, self.settings.port, self.protocol,
                 "resumed" if getattr(flags, "session_present", False) else "new")
        # Subscribe before announcing "online": the broker handles a client's packets in order, so whoever
        # reacts to "online" with a command finds the subscription already in place.
        for t in self._subscriptions:
            if self.protocol == "5":  # keep the publisher's retain flag, so that a retained command is recognised
                client.subscribe(t, options=SubscribeOptions(qos=1, retainAsPublished=True))
            else:
                client.subscribe(t, qos=1)
        self._flush()
        self.connected.set()
        try:
            self._on_connected()
        except Exception:
            log.exception("on_connected hook failed")
        # "online" last: whoever reacts to it (Home Assistant) finds the discovery configs and the
        # status the hook published already retained, a complete device. Configs still waiting in the chatter
        # lane go first: "online" waits behind them.
        online = _Queued(self.topics.availability, AVAILABLE, 1, True, chatter=True, pinned=True)
        if not self._to_lane(online):
            client.publish(online.topic, online.payload, qos=1, retain=True)
        self._pump()

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
        self._pump()  # paho's hands are empty now

    def _handle_connect_fail(self, client, userdata) -> None:
        s = self.settings
        hint = " (TLS: check tls.ca_file, cert_file, key_file and that the certificate names the host)" if s.tls else ""
        self._warn(f"cannot connect to broker {s.host}:{s.port}{hint}; retrying every {s.reconnect_max_s} s at most")

    def _handle_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._out_lock:
            self._online = False
        if self.connected.is_set() and self._stopping:
            log.info("disconnected from broker %s:%s", self.settings.host, self.settings.port)
        elif self.connected.is_set() and self._taken_over(getattr(reason_code, "value", None)):
            pass  # said by _taken_over
        elif self.connected.is_set():
            log.warning("disconnected from broker: %s", reason_code)
        elif self.settings.protocol == "auto" and self.protocol == "5" and self.connects == 0:
            # Some 3.1.1-only brokers drop an MQTT 5 CONNECT without a CONNACK
            # (amqtt does when a will is set); a broker that is merely down
            # refuses TCP instead and never gets here.
            threading.Thread(target=self._fall_back, daemon=True).start()
        self.connected.clear()

    def _taken_over(self, reason: int | None) -> bool:
        """Whether this disconnect is (or, on 3.1.1, looks like) another client taking frd's client id; if so,
        count it and say so."""
        now = time.monotonic()
        if reason == SESSION_TAKEN_OVER:
            why = "another client connected with frd's client id (MQTT 5 reason: Session taken over)"
        else:
            if now - self._connected_at > SHORT_SESSION_S:
                return False
            self._short_sessions.append(now)
            while self._short_sessions and self._short_sessions[0] < now - TAKEOVER_WINDOW_S:
                self._short_sessions.popleft()
            if len(self._short_sessions) < SHORT_SESSIONS:
                return False
            why = (f"the broker closed frd's connection {len(self._short_sessions)} times within "
                   f"{TAKEOVER_WINDOW_S:.0f} s, each right after it was made: another client may be using frd's "
                   "client id")
        self.taken_over += 1
        self._taken_over_at = now
        self._takeovers.warning("taken over", "disconnected from broker: %s (client id %r, %d times so far). Any login "
                                "may take a client id unless the broker binds client ids to logins "
                                "(mosquitto: use_username_as_clientid true, as config/mosquitto/frd.conf does)",
                                why, self.settings.client_id, self.taken_over)
        return True

    def connection_problem(self) -> str | None:
        """A recent take-over of frd's client id, for the status's errors (None: none in the last 5 minutes)."""
        if self._taken_over_at is None or time.monotonic() - self._taken_over_at > TAKEOVER_REPORT_S:
            return None
        return (f"the broker gave frd's client id {self.settings.client_id!r} to another client {self.taken_over} "
                "time(s): bind client ids to logins on the broker (use_username_as_clientid)")

    def _handle_malformed(self, topic: str, why: str) -> None:
        self.malformed += 1
        log.warning("dropped a message on %r that the MQTT library cannot parse (%s); %d so far", topic[:200],
                    why, self.malformed)

    def _handle_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        try:
            props = getattr(msg, "properties", None)
            incoming = Incoming(
                msg.topic,
                bytes(msg.payload),
                getattr(props, "ResponseTopic", None) if props else None,
                getattr(props, "CorrelationData", None) if props else None,
                bool(msg.retain),
            )
            self._on_message(incoming)
        except Exception:  # on paho's network thread: an exception here would cut the connection
            log.exception("handling a message on %r failed", getattr(msg, "_topic", b"?")[:200])

    # -- publishing -----------------------------------------------------------------
    def publish(self, msg: Message) -> bool:
        """Send ``msg`` now, or queue it while the broker is away; False if it had to be queued or was dropped.

        A Home Assistant discovery config is chatter: it waits behind events and state (see the module)."""
        return self._send(_Queued(msg.topic, msg.payload, msg.qos, msg.retain,
                                  chatter=self.topics.is_own_discovery(msg.topic)))

    def publish_many(self, msgs: list[Message]) -> None:
        for m in msgs:
            self.publish(m)

    def reply(self, incoming: Incoming, reply_topic: str, payload: str) -> None:
        """Answer on ``reply_topic`` (``<base>/reply/<command>``), echoing MQTT 5 correlation data.

        A request's MQTT 5 response topic is not used: it would let whoever may send a command make frd
        publish on any topic frd may write (its events, Home Assistant discovery), topics the requester
        itself may not write. A reply is chatter: it waits behind events and state, and is the first to go
        when too many wait.
        """
        props = None
        if incoming.correlation_data is not None and self.protocol == "5":
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = incoming.correlation_data
        self._send(_Queued(reply_topic, payload, 1, False, props, chatter=True))

    @property
    def queued(self) -> int:
        """Messages waiting for the broker to come back."""
        return len(self._queue)

    def _send(self, m: _Queued) -> bool:
        why = unpublishable(m.topic)
        if why is not None:
            with self._out_lock:
                self.dropped += 1
            log.error("not publishing to %r: %s", m.topic[:200], why)
            return False
        with self._out_lock:
            if not self._online:
                self._enqueue(m)
                return False
            if m.chatter and self._to_lane(m):
                return True
            return self._hand_to_paho(m)

    def _enqueue(self, m: _Queued) -> None:
        """Keep ``m`` for the reconnect, within the offline queue's messages and bytes (callers hold _out_lock)."""
        if m.retain:  # only the newest retained state of a topic matters
            for old in [q for q in self._queue if q.retain and q.topic == m.topic]:
                self._queue.remove(old)
                self._queue_bytes -= old.size
        s = self.settings
        if s.offline_queue <= 0 or m.size > s.offline_queue_bytes:
            self.dropped += 1
            return
        while self._queue and (len(self._queue) >= s.offline_queue
                               or self._queue_bytes + m.size > s.offline_queue_bytes):
            old = next((q for q in self._queue if q.chatter), None) or self._queue[0]  # chatter goes first
            self._queue.remove(old)
            self._queue_bytes -= old.size
            self.dropped += 1
        self._queue.append(m)
        self._queue_bytes += m.size

    def _in_paho(self) -> int:
        """Messages paho holds (queued or sent, not yet acknowledged); relies on paho's ``_out_messages``."""
        return len(getattr(self._client, "_out_messages", ()))

    def _to_lane(self, m: _Queued) -> bool:
        """Put chatter in its lane if it must wait (the lane is not empty, or paho holds a window's worth); False:
        it may go to paho now."""
        with self._lane_lock:
            if not self._chatter and self._in_paho() < CHATTER_WINDOW:
                return False
            while self._chatter and (len(self._chatter) >= CHATTER_MAX
                                     or self._chatter_bytes + m.size > CHATTER_MAX_BYTES):
                old = next((q for q in self._chatter if not q.retain and not q.pinned), None)
                if old is None and m.retain:  # only retained configs wait: one of the same topic makes room
                    old = next((q for q in self._chatter if q.topic == m.topic and not q.pinned), None)
                if old is None:
                    break
                self._chatter.remove(old)
                self._chatter_bytes -= old.size
                self._chatter_dropped(old)
            if not m.pinned and (len(self._chatter) >= CHATTER_MAX or self._chatter_bytes + m.size > CHATTER_MAX_BYTES):
                self._chatter_dropped(m)
                return True
            self._chatter.append(m)
            self._chatter_bytes += m.size
        return True

    def _chatter_dropped(self, m: _Queued) -> None:
        self.chatter_dropped += 1
        self._drops.warning("reply" if not m.retain else "discovery", "dropped a message to %s: %d replies and "
                            "discovery configs already wait behind events and state (%d dropped so far)",
                            m.topic[:200], CHATTER_MAX, self.chatter_dropped)

    def _pump(self) -> None:
        """Hand waiting chatter to paho while it holds less than a window's worth; from any thread (never under
        the lane lock while paho is called)."""
        while True:
            with self._lane_lock:
                if not self._chatter or not self._online or self._in_paho() >= CHATTER_WINDOW:
                    return
                m = self._chatter.popleft()
                self._chatter_bytes -= m.size
            self._hand_to_paho(m)

    def _handle_published(self, client, userdata, mid, reason_code=None, properties=None) -> None:
        """paho's on_publish (its thread, under its lock): an acknowledged message makes room for chatter."""
        self._pump()

    def _hand_to_paho(self, m: _Queued) -> bool:
        info = self._client.publish(m.topic, m.payload, qos=m.qos, retain=m.retain, properties=m.properties)
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            self.dropped += 1
            self._drops.warning("client queue full", "MQTT client queue full: dropped a message to %s", m.topic)
            return False
        return True

    def _flush(self) -> None:
        """On (re)connect, in paho's thread: hand the backlog over in order (chatter to its lane), then publish
        directly again."""
        with self._out_lock:
            n = len(self._queue)
            while self._queue:
                m = self._queue.popleft()
                q = _Queued(m.topic, m.payload, max(m.qos, 1), m.retain, m.properties, m.chatter)
                if not (q.chatter and self._to_lane(q)):
                    self._hand_to_paho(q)
            self._queue_bytes = 0
            self._online = True
        if n:
            log.info("sent %d message(s) queued while the broker was away", n)
