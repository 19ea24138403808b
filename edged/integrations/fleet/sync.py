"""Fleet sync in ``frd run``: :class:`FleetSync` shares this device's changes and applies the fleet's records.

A listener (shares each change) and a guard (the owner check) of the people service, and a component of the
daemon (records arrive on the bus); wired by ``edged.daemon.app`` when ``fleet.sync`` is on.

Records are ordered by the person's revision (:mod:`.ledger`), never by a clock: a change made here is signed
with the revision after the newest known, a record that does not outrank the newest known state is refused
(an old record replayed after a deletion is logged as such), and when the newer state is this device's own,
it is published again, so that the broker's retained record (what a device that joins later reads) is the
newest one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from ...core.errors import FrdError, InputError
from ...core.keys import AUTHORITY
from ...core.logs import Tally
from ...core.topics import Topics
from ...store.gallery import Person
from ...store.space import describe_space
from .ledger import Entry, Ledger
from .record import MAX_PAYLOAD, OldRecord, SyncRecord, deletion_message, parse, person_message, verify
from .trust import Trust

if TYPE_CHECKING:
    from ...mqtt.bus import Incoming, Publisher
    from ...service.people import Change, People

log = logging.getLogger(__name__)

#: People with fleet records waiting for the command thread (more people than this are dropped) ...
MAX_PENDING_SYNC = 2000
#: ... and their bytes: a record of 50 samples is about 140 kB, so this holds a gallery of 100 people twice over.
MAX_PENDING_BYTES = 32 * 1024 * 1024
#: Records of one person waiting, in the order they came: the ledger decides which one is newest, not the arrival.
#: A replayed old record that lands just after a deletion must meet the deletion (refused, and said), not replace
#: it unseen; and the deletion's author's answer to it must not hide the replay either.
MAX_PENDING_PER_PERSON = 4


class FleetSync:
    """Shares this device's people and applies the fleet's records: a listener and a guard of the people service.

    Wired by ``app.py`` when ``fleet.sync`` is on. Records arrive on paho's thread (:meth:`accept` keeps
    each person's few latest in turn, without blocking) and are applied on the command thread (:meth:`work`).
    """

    def __init__(self, people: People, bus: Publisher, topics: Topics, trust: Trust, *, embedding_dim: int,
                 ledger: Ledger, clock: Callable[[], float] = time.time) -> None:
        """``clock`` dates the records (``updated``: when, for people to read); it orders nothing."""
        self.people = people
        self.bus = bus
        self.topics = topics
        self.trust = trust
        self.device_id = trust.device_id
        self.embedding_dim = embedding_dim
        self.ledger = ledger
        self.clock = clock
        self._lock = threading.Lock()
        self._share_lock = threading.Lock()  # a revision is taken and published in one go
        self._pending: dict[str, deque[bytes]] = {}  # each person's messages not yet applied, oldest first
        self._pending_bytes = 0  # at most MAX_PENDING_BYTES
        self.dropped = 0
        self._drops = Tally(log, "fleet sync messages dropped")

    @property
    def subscriptions(self) -> list[str]:
        return [self.topics.gallery_wildcard]

    def on_connected(self) -> None:
        """Records come retained from the broker: nothing to publish."""

    def poll(self) -> None:
        """Nothing to tidy: deletions are shared when they happen."""

    def errors(self) -> list[str]:
        """Problems for the status: a ledger that cannot be saved."""
        return [self.ledger.save_error] if self.ledger.save_error else []

    # -- incoming (paho's thread, then the command thread) ----------------------------------
    def _name(self, topic: str) -> str | None:
        """The person of a fleet gallery topic, or None for any other topic."""
        name = topic.rsplit("/", 1)[-1]
        try:
            return name if topic == self.topics.gallery_person(name) else None
        except ValueError:
            return None

    def accept(self, msg: Incoming) -> bool:
        """Keep a person's record for :meth:`work`; True if ``msg`` was a fleet record (taken or not)."""
        name = self._name(msg.topic)
        if name is None:
            return False
        if not msg.payload:  # a cleared retained record (deletions are signed): it must not replace one
            log.debug("fleet: retained record of %s cleared", name)
            return True
        if len(msg.payload) > MAX_PAYLOAD:  # refused here, unparsed: it must not wait (nor hold memory) for that
            self.dropped += 1
            self._drops.warning("too large", "fleet sync message for %s ignored: %d bytes is over %d", name[:80],
                                len(msg.payload), MAX_PAYLOAD)
            return True
        # A record is the person's whole state, but which is newest is the ledger's to say (revisions), so a
        # few per person wait in turn; past MAX_PENDING_PER_PERSON the oldest waiting one gives way.
        with self._lock:
            waiting = self._pending.get(name)
            shed = len(waiting[0]) if waiting is not None and len(waiting) == MAX_PENDING_PER_PERSON else 0
            full = waiting is None and len(self._pending) >= MAX_PENDING_SYNC
            if full or self._pending_bytes - shed + len(msg.payload) > MAX_PENDING_BYTES:
                self.dropped += 1
                why = f"{len(self._pending)} people ({self._pending_bytes} bytes) waiting"
            else:
                self._pending.setdefault(name, deque(maxlen=MAX_PENDING_PER_PERSON)).append(msg.payload)
                self._pending_bytes += len(msg.payload) - shed
                return True
        self._drops.warning("backlog full", "dropped fleet sync of %s: %s", name[:80], why)
        return True

    def work(self) -> None:
        """Apply every pending record (on the command thread); a bad one is logged and skipped."""
        while True:
            with self._lock:
                if not self._pending:
                    return
                name = next(iter(self._pending))
                waiting = self._pending[name]
                payload = waiting.popleft()
                if not waiting:
                    del self._pending[name]
                self._pending_bytes -= len(payload)
            try:
                self.apply(name, payload)
            except FrdError as e:
                log.warning("fleet sync message ignored: %s", e)
            except Exception:
                log.exception("fleet sync message for %s ignored", name[:80])

    def owner(self, name: str) -> str | None:
        """The device that enrolled ``name`` (this one unless every sample came from fleet sync), or None."""
        p = self.people.gallery.people.get(name)
        if p is None:
            return None
        shared = [s for s in p.sources if s.startswith("fleet:")]
        return shared[-1][len("fleet:"):] if p.sources and len(shared) == len(p.sources) else self.device_id

    def check_owner(self, name: str) -> None:
        """The people service's guard: a person shared by another device is changed there, so every device agrees."""
        owner = self.owner(name)
        if owner is not None and owner != self.device_id:
            raise InputError(f"{name} was enrolled on device {owner!r} and is shared by fleet sync: enroll, "
                             "rename or delete them there")

    def apply(self, name: str, payload: bytes) -> None:
        """Take one signed record: a person's new state, or their deletion, if it outranks the newest known."""
        signer, body = verify(self.topics.gallery_person(name), payload, self.trust)
        try:
            rec = parse(name, body, self.embedding_dim, max_embeddings=self.people.gallery.max_samples)
        except OldRecord as e:
            self._migrate(name, e.origin)
            raise
        if signer != AUTHORITY and rec.origin != signer:
            raise InputError(f"gallery/{name}: signed by {signer!r} but claims to come from {rec.origin!r}")
        entry = Entry(rec.rev, rec.deleted, signer)
        if not self.ledger.outranks(name, entry):
            self._outranked(name, entry)
            return
        if signer == self.device_id:  # our own state, from before a reinstall: its revision is learnt, no more
            self.ledger.record(name, entry)
            return
        owner = self.owner(name)
        if signer != AUTHORITY and owner is not None and owner != signer:
            raise InputError(f"gallery/{name}: {name} was enrolled on {owner!r}; {signer!r} may not replace or "
                             "delete them (only the enrollment authority may)")
        if rec.deleted:
            if name in self.people.gallery.people:
                self.people.remove(name, from_fleet=True)
                log.info("fleet: %s deleted by %s (revision %d)", name, signer, rec.rev)
            self.ledger.record(name, entry)  # a tombstone, also for a person this device never had
            return
        self._take(name, rec, signer)
        self.ledger.record(name, entry)

    def _take(self, name: str, rec: SyncRecord, signer: str) -> None:
        """A person's new state into the gallery (not when it is of another embedding space: noted, not used)."""
        gallery = self.people.gallery
        if rec.model_sha256 != gallery.model_sha256:
            log.info("fleet: %s from %s was made in another embedding space (%s; ours: %s): ignored", name,
                     rec.origin, describe_space(rec.model_sha256 or "?"), describe_space(gallery.model_sha256))
            return
        person = Person(name, rec.embeddings, rec.model_sha256, None, [f"fleet:{rec.origin or signer}"],
                        rec.updated)
        self.people.replace(person)
        log.info("fleet: %s (%d embeddings, revision %d) from %s, signed by %s", name, person.count, rec.rev,
                 rec.origin, signer)

    def _outranked(self, name: str, entry: Entry) -> None:
        """A record that is not newer than the newest known state: refused (said when it is not the same state
        again); when that newer state is ours, it is published again for the broker to retain."""
        known = self.ledger.get(name)
        if known is None or entry.key() == known.key():
            return  # the same state again: our own echo, a redelivery
        if known.deleted and not entry.deleted:
            log.warning("fleet: an old record of %s (revision %d, signed by %s) after their deletion (revision %d, "
                        "by %s): refused (a replay?)", name, entry.rev, entry.signer, known.rev, known.signer)
        else:
            log.info("fleet: a record of %s (revision %d, by %s) older than the one known (revision %d, by %s): "
                     "ignored", name, entry.rev, entry.signer, known.rev, known.signer)
        if known.signer == self.device_id:
            self._publish(name, known.rev, known.deleted)

    def _migrate(self, name: str, origin: str | None) -> None:
        """A record of the previous version whose origin is this device: published again in today's version."""
        if origin == self.device_id and self.owner(name) == self.device_id:
            log.info("fleet: %s's record on the broker is of the previous version: published again", name)
            self.share(name)

    # -- outgoing: the people service's changes ------------------------------------------
    def on_change(self, change: Change) -> None:
        if change.from_fleet or change.name is None:
            return  # a record another device shared is not shared back; a reload changes nobody by itself
        self.share(change.name)
        if change.new_name is not None:
            self.share(change.new_name)

    def share(self, name: str) -> None:
        """Publish ``name``'s current state (or its deletion) to the fleet, at the revision after the newest known."""
        with self._share_lock:
            deleted = name not in self.people.gallery.people
            rev = self.ledger.next_rev(name)
            self.ledger.record(name, Entry(rev, deleted, self.device_id))
            self._publish(name, rev, deleted)

    def _publish(self, name: str, rev: int, deleted: bool) -> None:
        """This device's state of ``name`` at revision ``rev``: retained, whether a person or a tombstone."""
        key = self.trust.signing_key
        if key is None:
            log.warning("fleet: %s not shared: this device has no fleet signing key (fleet.signing_key_file)", name)
            return
        p = self.people.gallery.people.get(name)
        if not deleted and p is None:
            return  # gone meanwhile: its deletion is shared by the people service's change
        if deleted:
            # A tombstone, retained in place of the record: the broker keeps no embedding of a deleted person, and
            # devices that join later (or missed the deletion) learn that older records of the name are dead.
            self.bus.publish(deletion_message(self.topics, name, self.device_id, self.clock(), key, rev=rev))
        else:
            self.bus.publish(person_message(self.topics, name, p.embeddings, p.model_sha256, self.device_id,
                                            p.updated, key, rev=rev))
