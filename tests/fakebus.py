"""An in-process bus (``edged.bus.BusLike``) for driving the daemon without a broker.

It is not a mock of paho: it keeps what a broker would keep (the retained message per topic, every
publication in order, the replies) so a test can assert on what frd published. The real-broker tests
(test_daemon, test_everyday, test_hostile, …) stay the ones that prove the MQTT side.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from edged.bus import Incoming
from edged.topics import Message


class FakeBus:
    def __init__(self) -> None:
        self.connected = threading.Event()
        self.published: list[Message] = []
        self.replies: list[tuple[str, str, Incoming]] = []
        self.retained: dict[str, str | bytes] = {}
        self.subscriptions: list[str] = []
        self.dropped = 0
        self.malformed = 0
        self._on_message: Callable[[Incoming], None] = lambda m: None
        self._on_connected: Callable[[], None] = lambda: None
        self._lock = threading.Lock()

    @property
    def queued(self) -> int:
        return 0

    def attach(self, on_message: Callable[[Incoming], None], on_connected: Callable[[], None],
               subscriptions: list[str]) -> None:
        self._on_message, self._on_connected, self.subscriptions = on_message, on_connected, list(subscriptions)

    def start(self) -> None:
        self.connected.set()
        self._on_connected()

    def stop(self) -> None:
        self.connected.clear()

    def network_alive(self) -> bool:
        return True

    def publish(self, msg: Message) -> bool:
        with self._lock:
            self.published.append(msg)
            if msg.retain:
                if msg.payload:
                    self.retained[msg.topic] = msg.payload
                else:
                    self.retained.pop(msg.topic, None)  # an empty retained message deletes, as on a broker
        return True

    def publish_many(self, msgs: list[Message]) -> None:
        for m in msgs:
            self.publish(m)

    def reply(self, incoming: Incoming, reply_topic: str, payload: str) -> None:
        with self._lock:
            self.replies.append((reply_topic, payload, incoming))

    # -- the test's side ------------------------------------------------------------------
    def deliver(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        """A message from the broker, as the network thread would hand it over."""
        data = payload.encode() if isinstance(payload, str) else payload
        self._on_message(Incoming(topic, data, retain=retain))

    def on(self, topic: str) -> list[Message]:
        with self._lock:
            return [m for m in self.published if m.topic == topic]

    def clear(self) -> None:
        with self._lock:
            self.published.clear()
            self.replies.clear()
