"""An in-process bus (``edged.mqtt.bus.BusLike``) for driving the daemon without a broker.

It is not a mock of paho: it keeps what a broker would keep (the retained message per topic, every
publication in order, the replies) so a test can assert on what frd published. The real-broker tests
(test_daemon, test_everyday, test_hostile, …) stay the ones that prove the MQTT side.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from edged.core.models import Message
from edged.mqtt.bus import Incoming


class FakeBus:
    def __init__(self) -> None:
        self.connected = threading.Event()
        self.published: list[Message] = []
        self.replies: list[tuple[str, str, Incoming]] = []
        self.retained: dict[str, str | bytes] = {}
        self.subscriptions: list[str] = []
        self.dropped = 0
        self.malformed = 0
        self.chatter_dropped = 0
        self.taken_over = 0
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

    def connection_problem(self) -> str | None:
        return None

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


class FrameList:
    """A camera that hands out a list of frames and never drops one (``edged.vision.camera.CameraReader``'s face
    towards the daemon): what a camera gives does not depend on how busy the machine is.

    Frames are timed one ``1 / fps`` apart from 0, so the event rules' cooldowns do not depend on the
    clock either. ``hold_at``: frames from that index on wait until :meth:`release` (a gallery change
    can then land between the same two frames in every run).
    """

    def __init__(self, name: str, frames: list, *, fps: float = 30.0, loop: bool = False,
                 hold_at: int | None = None) -> None:
        self.name = name
        self.fps_limit: float | None = None
        self.state, self.error = "streaming", None
        self.dropped = self.reconnects = 0
        self.taken = 0  # frames handed out so far
        self._frames, self._fps, self._loop = list(frames), fps, loop
        self._hold_at = hold_at
        self._lock = threading.Lock()

    def start(self) -> FrameList:
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.state = "stopped"

    def release(self, hold_at: int | None = None) -> None:
        """Let the held frames go, up to ``hold_at`` (None: to the end)."""
        with self._lock:
            self._hold_at = hold_at

    def skip_ahead(self, frames: int) -> None:
        """Every listed frame is handed out (a test sees them all); the tracker counts each."""

    def take(self, timeout: float):
        from edged.vision.camera import Frame

        with self._lock:
            i = self.taken
            if (not self._loop and i >= len(self._frames)) or (self._hold_at is not None and i >= self._hold_at):
                i = -1
            else:
                self.taken += 1
        if i < 0:
            time.sleep(min(timeout, 0.01))
            return None
        return Frame(self.name, i, self._frames[i % len(self._frames)], i / self._fps)
