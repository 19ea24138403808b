"""Home Assistant: keeps the broker's discovery configs equal to the device's cameras and people.

A component the composition root (``app.py``) wires when ``homeassistant.discovery`` is on: it
listens to the gallery's changes (a person added, removed, renamed; the gallery reloaded), answers
Home Assistant's birth message, and empties every retained config of this device that nobody
wants any more — a camera dropped from the config, a person deleted while frd was stopped — within
one gallery poll of connecting. The payloads themselves are :mod:`edged.integrations.discovery`'s pure functions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from ..core.models import Message
from ..mqtt.bus import Incoming, Publisher
from ..service.people import ADDED, RELOADED, REMOVED, RENAMED, Change
from .discovery import (
    DEVICE_FORMAT,
    DiscoveryDevice,
    device_config,
    person_configs,
    person_removals,
    person_rename,
    stale_removals,
    wanted_discovery,
)

log = logging.getLogger(__name__)

#: Home Assistant birth messages (``homeassistant/status`` ``online``) answered at most once per this many seconds.
REPUBLISH_MIN_S = 10.0


class HomeAssistant:
    """Discovery configs for one device; ``people`` says who is enrolled now."""

    def __init__(self, device: DiscoveryDevice, bus: Publisher, cameras: Sequence[str],
                 people: Callable[[], list[str]], clock: Callable[[], float] = time.monotonic) -> None:
        self.device = device
        self.topics = device.topics
        self.bus = bus
        self.cameras = list(cameras)
        self.people = people
        #: this device's discovery configs the broker holds (seen on the discovery wildcard)
        self._retained: set[str] = set()
        self._lock = threading.Lock()  # paho's thread adds, the others remove
        self.removed_ghosts = 0
        self.dropped = 0  # never: every message is handled on arrival
        self.clock = clock
        self._republished = float("-inf")  # when discovery was last published for a birth message
        self._birth_pending = False
        self.births_deferred = 0  # birth messages answered later, together (the rate limit)

    @property
    def subscriptions(self) -> list[str]:
        return [self.topics.ha_status, self.topics.discovery_wildcard, self.topics.discovery_device]

    def wanted(self) -> list[Message]:
        return wanted_discovery(self.device, self.cameras, self.people())

    def publish_all(self) -> None:
        self.bus.publish_many(self.wanted())

    # -- bus side (paho's network thread: never blocks) ----------------------------------
    def on_connected(self) -> None:
        self.publish_all()

    def accept(self, msg: Incoming) -> bool:
        """Whether ``msg`` was Home Assistant's (birth message, or one of our retained configs)."""
        if msg.topic == self.topics.ha_status:
            if msg.payload.strip() == b"online":
                self._birth()
            return True
        if self.topics.is_own_discovery(msg.topic):
            with self._lock:
                (self._retained.add if msg.payload else self._retained.discard)(msg.topic)
            return True
        return False

    def _birth(self) -> None:
        """Home Assistant (re)started: publish discovery again, at once, but at most once per
        :data:`REPUBLISH_MIN_S`: ``online`` published 200 times a second would otherwise make frd publish every
        config 200 times a second. A birth inside the interval is answered once, when it ends (:meth:`poll`)."""
        now = self.clock()
        with self._lock:
            due = now - self._republished >= REPUBLISH_MIN_S
            if due:
                self._republished, self._birth_pending = now, False
            else:
                self._birth_pending = True
                self.births_deferred += 1
        if due:
            log.info("Home Assistant is online: publishing discovery again")
            self.publish_all()

    def work(self) -> None:
        """Nothing waits for the command thread here."""

    # -- the gallery's changes -------------------------------------------------------------
    def on_change(self, change: Change) -> None:
        if self.device.format == DEVICE_FORMAT:
            self._on_change_device(change)
        elif change.kind == ADDED:
            self.bus.publish_many(person_configs(self.device, change.name))
        elif change.kind == REMOVED:
            self._publish_removals(person_removals(self.topics, change.name))
        elif change.kind == RENAMED:
            msgs = person_rename(self.device, change.name, change.new_name)
            self._publish_removals([m for m in msgs if not m.payload])
            self.bus.publish_many([m for m in msgs if m.payload])
        elif change.kind == RELOADED:
            self.publish_all()

    def _on_change_device(self, change: Change) -> None:
        """One config holds every entity: publish it again, a removed person's entities as bare platforms."""
        gone = person_removals(self.topics, change.name) if change.kind in (REMOVED, RENAMED) else []
        self.bus.publish(device_config(self.device, self.cameras, self.people(), gone))

    def _publish_removals(self, removals: list[Message]) -> None:
        with self._lock:  # removed here: not a ghost for poll()
            for m in removals:
                self._retained.discard(m.topic)
        self.bus.publish_many(removals)

    # -- the frame loop's gallery poll -----------------------------------------------------
    def poll(self) -> None:
        """Answer a Home Assistant birth held back by the rate limit; empty the retained configs of people or
        cameras this device no longer has."""
        if not self.bus.connected.is_set():
            return
        with self._lock:
            pending = self._birth_pending and self.clock() - self._republished >= REPUBLISH_MIN_S
        if pending:
            self._birth()
        with self._lock:
            retained = set(self._retained)
        stale = stale_removals(self.topics, retained, self.wanted())
        if stale:
            self._publish_removals(stale)
            # Home Assistant ignores a config whose entity another topic's config already holds (the other
            # format's, after a switch): now that those are gone, the wanted configs count.
            self.publish_all()
            self.removed_ghosts += len(stale)
            log.info("removed %d Home Assistant entit%s nobody has any more", len(stale),
                     "y" if len(stale) == 1 else "ies")
