"""``frd run``: cameras in, events out.

Threads: one reader per camera (newest frame wins), one pipeline loop (this
module's :meth:`Daemon.run`), one command worker (so a capture enrollment can
wait for frames without blocking MQTT), and paho's network thread. The
TFLite interpreter is not thread-safe, so the pipeline is used under a lock.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from . import __version__, fleet
from .bus import Bus, Incoming
from .camera import CameraReader
from .commands import ERROR_REPLY, CommandHandler
from .discovery import (
    PERSON_ON,
    DiscoveryDevice,
    all_discovery,
    person_config,
    person_removal,
    person_rename,
    stale_removals,
)
from .enroll import EnrollResult, screen
from .errors import FrdError, InputError
from .events import Event, EventEngine
from .gallery import Gallery, Person
from .images import decode_image
from .names import validate_name
from .notify import Notifier
from .pipeline import Face, Pipeline
from .quality import photos_advice
from .topics import Message, Topics
from .track import FaceTracker

log = logging.getLogger(__name__)

#: How often the pipeline loop looks for gallery changes made by others (the CLI, a restore), and
#: for retained discovery configs nobody wants any more.
GALLERY_POLL_S = 2.0
#: Fleet sync messages waiting for the command thread (one per person; more people than this are dropped).
MAX_PENDING_SYNC = 2000
#: Queued to wake the command thread for pending fleet sync.
_WAKE = object()


@dataclass
class Capture:
    """A pending "enroll from the camera": the loop hands it faces until it has enough."""

    camera: str
    frames: int
    min_interval_s: float = 0.2
    faces: list[Face] = field(default_factory=list)
    skipped_multi: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    _last: float = 0.0

    def offer(self, faces: list[Face], now: float) -> None:
        if self.done.is_set() or not faces:
            return
        if len(faces) > 1:
            self.skipped_multi += 1  # whose face would it be?
            return
        if now - self._last < self.min_interval_s:
            return
        self._last = now
        self.faces.append(faces[0])
        if len(self.faces) >= self.frames:
            self.done.set()


@dataclass
class CameraStats:
    """Frames processed per camera and their rate, for ``status`` and the Home Assistant fps sensor.

    The rate is frames over the time they took within the last ``window_s`` (not an average of
    1/dt, which overweights short gaps), and falls towards 0 when frames stop coming.
    """

    processed: int = 0
    window_s: float = 10.0
    _times: deque = field(default_factory=deque)

    def tick(self, now: float) -> None:
        self.processed += 1
        self._times.append(now)
        while self._times and self._times[0] < now - self.window_s:
            self._times.popleft()

    def fps(self, now: float) -> float:
        times = [t for t in list(self._times) if t >= now - self.window_s]
        if len(times) < 2:
            return 0.0
        span = times[-1] - times[0]
        typical = span / (len(times) - 1)
        span += max(0.0, (now - times[-1]) - typical)  # a stalled camera: count the silence too
        return (len(times) - 1) / span if span > 0 else 0.0


class Daemon:
    def __init__(
        self,
        *,
        device_id: str,
        topics: Topics,
        pipeline: Pipeline,
        gallery: Gallery,
        readers: list[CameraReader],
        engines: dict[str, EventEngine],
        bus_factory,
        notifier: Notifier,
        discovery: DiscoveryDevice | None,
        trackers: dict[str, FaceTracker],
        keep_crops: bool = True,
        status_interval_s: float = 5.0,
        fleet_sync: bool = False,
        fleet_trust: fleet.Trust | None = None,
        embedding_dim: int = 512,
        handler_options: dict | None = None,
    ) -> None:
        self.device_id = device_id
        self.topics = topics
        self.pipeline = pipeline
        self.gallery = gallery
        self.readers = {r.name: r for r in readers}
        self.engines = engines
        #: per-camera fast path (detect every few frames, follow faces in between), built by app.py
        self.trackers = trackers
        self.notifier = notifier
        self.discovery = discovery
        self.keep_crops = keep_crops
        self.status_interval_s = status_interval_s
        self.fleet_sync = fleet_sync
        #: keys of fleet records; without it no record is accepted and nothing is shared
        self.fleet_trust = fleet_trust or fleet.Trust(device_id, None, {}, [])
        self._tombstones = fleet.Tombstones(gallery.root / fleet.TOMBSTONE_FILE if fleet_sync else None)
        self.embedding_dim = embedding_dim
        self.stats = {name: CameraStats() for name in self.readers}
        self.events_published = 0
        self.started = time.monotonic()
        self._lock = threading.Lock()  # pipeline + gallery
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._captures: list[Capture] = []
        self._commands: queue.Queue[Incoming | object | None] = queue.Queue(maxsize=100)
        self._sync_lock = threading.Lock()
        self._sync_pending: dict[str, bytes] = {}  # fleet sync: the newest message per person, not yet applied
        self.dropped_messages = 0  # incoming messages dropped because the worker was behind
        self.refused_retained = 0  # retained commands (never run)
        self._handler = CommandHandler(self, topics=topics, **(handler_options or {}))
        self._camera_person: dict[str, str | None] = {}  # who each camera's retained state names
        self._trace_lock = threading.Lock()  # event publication vs. deleting a person
        self._retained_configs: set[str] = set()  # this device's discovery configs the broker holds
        subs = [topics.cmd_wildcard, topics.fleet_cmd_wildcard]
        if discovery is not None:
            subs += [topics.ha_status, topics.discovery_wildcard]
        if fleet_sync:
            subs.append(topics.gallery_wildcard)
        self.bus: Bus = bus_factory(self._on_message, self._on_connected, subs)

    # -- MQTT side --------------------------------------------------------------------
    def _on_connected(self) -> None:
        self._publish_discovery()
        self._publish_status()

    def _publish_discovery(self) -> None:
        if self.discovery is not None:
            self.bus.publish_many(all_discovery(self.discovery, list(self.readers), self.gallery.names()))

    def _on_message(self, msg: Incoming) -> None:
        """On paho's network thread: never blocks (a full queue drops, logs and counts), never raises."""
        if msg.topic == self.topics.ha_status:
            if msg.payload.strip() == b"online":
                log.info("Home Assistant is online: publishing discovery again")
                self._publish_discovery()
            return
        if self.discovery is not None and self.topics.is_own_discovery(msg.topic):
            (self._retained_configs.add if msg.payload else self._retained_configs.discard)(msg.topic)
            return
        name = self._sync_name(msg.topic)
        if name is not None:
            if not msg.payload:  # a cleared retained record (deletions are signed): it must not replace one
                log.debug("fleet: retained record of %s cleared", name)
                return
            # A person's sync message is their whole state, so only the newest per person matters: keep that
            # one, without waiting on the worker (blocking here would stop paho answering the broker's pings).
            with self._sync_lock:
                if name not in self._sync_pending and len(self._sync_pending) >= MAX_PENDING_SYNC:
                    self._drop(f"fleet sync of {name}: more than {MAX_PENDING_SYNC} people waiting")
                    return
                self._sync_pending[name] = msg.payload
            with contextlib.suppress(queue.Full):
                self._commands.put_nowait(_WAKE)
            return
        if msg.retain:
            # A retained command would run again on every reconnect and restart, and on every device that
            # joins later (a retained delete undoes every later enrollment): commands are one-shot.
            log.warning("retained command on %s refused: publish commands without the retain flag "
                        "(clear it with: mosquitto_pub -r -n -t TOPIC)", msg.topic[:200])
            self.refused_retained += 1
            self._reply_error(msg, "retained command refused: publish commands without the retain flag, and "
                                   "clear this one (mosquitto_pub -r -n -t <topic>)")
            return
        if self._commands.full():
            self._drop(f"command on {msg.topic[:200]}: {self._commands.maxsize} commands already queued")
            self._reply_error(msg, "busy: too many queued commands")
            return
        with contextlib.suppress(queue.Full):  # only this thread adds commands, so there is room
            self._commands.put_nowait(msg)

    def _drop(self, why: str) -> None:
        self.dropped_messages += 1
        log.warning("dropped a message (%d so far): %s", self.dropped_messages, why)

    def _reply_error(self, msg: Incoming, error: str) -> None:
        parsed = self.topics.parse_cmd(msg.topic)
        try:
            topic = self.topics.reply(parsed[0] if parsed else ERROR_REPLY)
        except ValueError:
            topic = self.topics.reply(ERROR_REPLY)
        body = json.dumps({"request_id": None, "ok": False, "error": error, "data": None})
        self.bus.reply(msg, topic, body)

    def _sync_name(self, topic: str) -> str | None:
        """The person of a fleet gallery topic, or None for any other topic."""
        name = topic.rsplit("/", 1)[-1]
        try:
            return name if self.fleet_sync and topic == self.topics.gallery_person(name) else None
        except ValueError:
            return None

    def _command_worker(self) -> None:
        """Runs commands and fleet sync; whatever a message does, the thread goes on to the next one."""
        while True:
            self._apply_pending_sync()
            msg = self._commands.get()
            if msg is None:
                return
            if msg is _WAKE:
                continue
            try:
                self._run_command(msg)
            except Exception:  # a bug must cost one message, not the thread that answers every command
                log.exception("command on %s failed", msg.topic[:200])
                with contextlib.suppress(Exception):
                    self._reply_error(msg, "internal error: see the device log")

    def _run_command(self, msg: Incoming) -> None:
        command, reply = self._handler.handle_topic(msg.topic, msg.payload)
        if not reply.ok:
            if command == ERROR_REPLY:  # not a command topic: there is no command to name
                log.warning("message refused: %s", reply.error)
            else:
                log.warning("command %r refused: %s", command[:80], reply.error)
        self.bus.reply(msg, self.topics.reply(command), reply.payload())

    def _apply_pending_sync(self) -> None:
        while True:
            with self._sync_lock:
                if not self._sync_pending:
                    return
                name = next(iter(self._sync_pending))
                payload = self._sync_pending.pop(name)
            try:
                self._apply_sync(name, payload)
            except FrdError as e:
                log.warning("fleet sync message ignored: %s", e)
            except Exception:
                log.exception("fleet sync message for %s ignored", name[:80])

    # -- fleet sync (command thread) ---------------------------------------------------
    def _owner(self, name: str) -> str | None:
        """The device that enrolled ``name`` (this one unless every sample came from fleet sync), or None."""
        p = self.gallery.people.get(name)
        if p is None:
            return None
        shared = [s for s in p.sources if s.startswith("fleet:")]
        return shared[-1][len("fleet:"):] if p.sources and len(shared) == len(p.sources) else self.device_id

    def _check_owner(self, name: str) -> None:
        """A person shared by another device is changed there, so that every device keeps the same state."""
        owner = self._owner(name)
        if self.fleet_sync and owner is not None and owner != self.device_id:
            raise InputError(f"{name} was enrolled on device {owner!r} and is shared by fleet sync: enroll, "
                             "rename or delete them there")

    def _apply_sync(self, name: str, payload: bytes) -> None:
        topic = self.topics.gallery_person(name)
        signer, body = fleet.verify(topic, payload, self.fleet_trust)
        rec = fleet.parse(name, body, self.embedding_dim, max_embeddings=self.gallery.max_samples)
        if signer != fleet.AUTHORITY and rec.origin != signer:
            raise InputError(f"gallery/{name}: signed by {signer!r} but claims to come from {rec.origin!r}")
        if signer == self.device_id:
            return  # our own state, echoed by the broker
        owner = self._owner(name)
        if signer != fleet.AUTHORITY and owner is not None and owner != signer:
            raise InputError(f"gallery/{name}: {name} was enrolled on {owner!r}; {signer!r} may not replace or "
                             "delete them (only the enrollment authority may)")
        local = self.gallery.people.get(name)
        if rec.embeddings is None:
            if local is not None and local.updated <= rec.updated:
                self._forget(name)
                self._tombstones.record(name, rec.updated)
                log.info("fleet: %s deleted by %s", name, signer)
            return
        deleted = self._tombstones.deleted_at(name)
        if local is None and deleted is not None and rec.updated <= deleted:
            raise InputError(f"gallery/{name}: a record older than {name}'s deletion (a replay?): ignored")
        if rec.model_sha256 != self.gallery.model_sha256:
            log.info("fleet: %s from %s was made by model %s, not ours: ignored", name, rec.origin,
                     (rec.model_sha256 or "?")[:12])
            return
        if local is not None and local.updated >= rec.updated:
            return
        person = Person(name, rec.embeddings, rec.model_sha256, None, [f"fleet:{rec.origin or signer}"],
                        rec.updated)
        with self._lock:
            self.gallery.replace(person)
            self._gallery_changed()
        if local is None and self.discovery is not None:
            self.bus.publish(person_config(self.discovery, name))
        log.info("fleet: %s (%d embeddings) from %s, signed by %s", name, person.count, rec.origin, signer)

    def _share(self, name: str) -> None:
        """Publish ``name``'s current state (or its deletion) to the fleet."""
        if not self.fleet_sync:
            return
        p = self.gallery.people.get(name)
        now = time.time()
        if p is None:
            self._tombstones.record(name, now)
        key = self.fleet_trust.signing_key
        if key is None:
            log.warning("fleet: %s not shared: this device has no fleet signing key (fleet.signing_key_file)", name)
            return
        if p is None:
            # The signed deletion reaches every device online or with a live session; then the retained record
            # is cleared, so that the broker keeps no embedding (and no name) of a deleted person.
            self.bus.publish(fleet.deletion_message(self.topics, name, self.device_id, now, key))
            self.bus.publish(fleet.clear_message(self.topics, name))
        else:
            self.bus.publish(fleet.person_message(self.topics, name, p.embeddings, p.model_sha256, self.device_id,
                                                  p.updated, key))

    def _forget(self, name: str) -> None:
        """Remove every local trace of ``name``: gallery file, matcher, retained state, HA entity."""
        with self._trace_lock:
            with self._lock:
                self.gallery.remove(name)
                self._gallery_changed()
            self._clear_traces(name)

    def _clear_traces(self, name: str) -> None:
        """Retained state and HA entity of someone no longer in the gallery; callers hold ``_trace_lock``."""
        self.bus.publish(Message(self.topics.state_person(name), "", retain=True, qos=1))
        for camera in [c for c, who in self._camera_person.items() if who == name]:
            cleared = {"camera": camera, "person": None, "name": None, "score": None, "ts": None,
                       "event_id": None}
            self.bus.publish(Message(self.topics.state_camera(camera), json.dumps(cleared), retain=True, qos=1))
            self._camera_person[camera] = None
        if self.discovery is not None:
            removal = person_removal(self.topics, name)
            self._retained_configs.discard(removal.topic)  # removed here: not a ghost for _remove_ghosts
            self.bus.publish(removal)

    # -- Services (called by the command handler, on the command thread) ----------------
    def _enroll_faces(self, name: str, faces: list[tuple[str, Face]], rejected: list[dict]) -> dict:
        result = EnrollResult(name, rejected=rejected)
        faces = screen(faces, result)
        if faces:
            new = name not in self.gallery.people
            with self._lock:
                self.gallery.add(
                    name,
                    np.stack([f.embedding for _, f in faces]),
                    np.stack([f.chip for _, f in faces]) if self.keep_crops else None,
                    [label for label, _ in faces],
                )
                self._gallery_changed()
            result.added = len(faces)
            if new and self.discovery is not None:
                self.bus.publish(person_config(self.discovery, name))
            self._share(name)
            result.advice = photos_advice(name, self.gallery.people[name].count)
            log.info("enrolled %s (%d face(s))", name, len(faces))
        return result.as_dict()

    def enroll_images(self, name: str, images: list[tuple[str, bytes]]) -> dict:
        validate_name(name)
        self._check_owner(name)
        faces, rejected = [], []
        for label, data in images:
            try:
                rgb = decode_image(data, what=label)
            except InputError as e:  # the reply names the image once: "payload: not …", not "payload: payload: not …"
                rejected.append({"image": label, "reason": str(e).removeprefix(f"{label}: ")})
                continue
            with self._lock:
                found = self.pipeline.faces(rgb, largest_only=True, still=True)
            if not found:
                rejected.append({"image": label, "reason": "no face found"})
            else:
                faces.append((label, found[0]))
        return self._enroll_faces(name, faces, rejected)

    def enroll_capture(self, name: str, camera: str | None, frames: int, timeout_s: float) -> dict:
        validate_name(name)
        self._check_owner(name)
        if camera is None:
            if len(self.readers) != 1:
                raise InputError(f"capture.camera is required; cameras: {', '.join(self.readers)}")
            camera = next(iter(self.readers))
        if camera not in self.readers:
            raise InputError(f"no camera named {camera!r}; cameras: {', '.join(self.readers)}")
        cap = Capture(camera, frames)
        with self._lock:
            self._captures.append(cap)
        cap.done.wait(timeout_s)
        with self._lock:
            self._captures.remove(cap)
        faces = list(cap.faces)
        rejected = []
        if len(faces) < frames:
            why = f"{len(faces)} of {frames} frames with exactly one face within {timeout_s:g} s"
            if cap.skipped_multi:
                why += f" ({cap.skipped_multi} frames had several faces)"
            rejected.append({"image": f"camera:{camera}", "reason": why})
        return self._enroll_faces(name, [(f"camera:{camera}", f) for f in faces], rejected)

    def delete(self, name: str) -> dict:
        self._check_owner(name)
        self._forget(name)
        self._share(name)
        log.info("deleted %s", name)
        return {"deleted": name}

    def rename(self, name: str, new_name: str) -> dict:
        self._check_owner(name)
        with self._lock:
            self.gallery.rename(name, new_name)
            self._gallery_changed()
        self.bus.publish(Message(self.topics.state_person(name), "", retain=True, qos=1))
        if self.discovery is not None:
            msgs = person_rename(self.discovery, name, new_name)
            self._retained_configs.discard(msgs[0].topic)
            self.bus.publish_many(msgs)
        self._share(name)
        self._share(new_name)
        log.info("renamed %s to %s", name, new_name)
        return {"renamed": name, "to": new_name}

    def list_people(self) -> dict:
        sha = self.gallery.model_sha256
        return {"people": [p.summary(sha) for _, p in sorted(self.gallery.people.items())]}

    def status(self) -> dict:
        now = time.monotonic()
        cams = {
            name: {
                "state": r.state,
                "error": r.error,
                "fps": round(self.stats[name].fps(now), 2),
                "frames": self.stats[name].processed,
                "dropped_frames": r.dropped,
                "reconnects": r.reconnects,
                "connected": r.state == "streaming",
            }
            for name, r in self.readers.items()
        }
        model = self.pipeline.embedder
        return {
            "version": __version__,
            "device": self.device_id,
            "fps": round(sum(c["fps"] for c in cams.values()), 2),
            "dropped_frames": sum(c["dropped_frames"] for c in cams.values()),
            "gallery_size": len(self.gallery.people),
            "model": model.name,
            "model_sha256": model.sha256,
            "events": self.events_published,
            "uptime_s": round(time.monotonic() - self.started),
            "broker": "connected" if self.bus.connected.is_set() else "disconnected",
            "offline_queue": self.bus.queued,
            "offline_dropped": self.bus.dropped,
            "dropped_messages": self.dropped_messages,
            "refused_retained": self.refused_retained,
            "malformed_messages": self.bus.malformed,
            "quarantined": len(self.gallery.quarantined),
            "errors": self._errors(),
            "cameras": cams,
        }

    def _errors(self) -> list[str]:
        """Problems that need someone's attention (also in the systemd STATUS= line)."""
        guard = self._handler.guard
        errors = []
        if guard is not None and guard.nonces.save_error:
            errors.append(guard.nonces.save_error)
        return errors

    def reload(self, why: str = "reload command") -> dict:
        self._sync_gallery(f"reloaded ({why})")
        self._publish_discovery()
        return {"people": self.gallery.names(), "quarantined": list(self.gallery.quarantined)}

    def _sync_gallery(self, what: str) -> None:
        """Re-read the gallery and make everything that names people follow it, with one log line.

        The matcher, Home Assistant (configs of new people, removal of gone ones), the retained state
        and the fleet: a person removed or renamed with the CLI leaves no trace behind.
        """
        with self._trace_lock:  # no event of someone being removed is published half-way
            with self._lock:
                before = {n: p.updated for n, p in self.gallery.people.items()}
                self.gallery.reload()
                self.gallery.reembed(self.pipeline.embedder.embed)
                self._gallery_changed()
                after = {n: p.updated for n, p in self.gallery.people.items()}
            removed = sorted(set(before) - set(after))
            for name in removed:
                self._clear_traces(name)
        added = sorted(set(after) - set(before))
        updated = sorted(n for n in set(before) & set(after) if before[n] != after[n])
        if self.discovery is not None:
            self.bus.publish_many([person_config(self.discovery, n) for n in added])
        for name in removed + added + updated:
            self._share(name)
        changes = [f"{k} {', '.join(v)}" for k, v in (("added", added), ("removed", removed), ("updated", updated))
                   if v]
        n = len(after)
        log.info("gallery %s: %d %s%s", what, n, "person" if n == 1 else "people",
                 "; " + "; ".join(changes) if changes else "")

    def _remove_ghosts(self) -> None:
        """Empty the retained discovery configs of people or cameras this device no longer has."""
        if self.discovery is None or not self.bus.connected.is_set():
            return
        wanted = all_discovery(self.discovery, list(self.readers), self.gallery.names())
        stale = stale_removals(self.topics, self._retained_configs.copy(), wanted)  # copy(): atomic
        for m in stale:
            self._retained_configs.discard(m.topic)
        if stale:
            self.bus.publish_many(stale)
            log.info("removed %d Home Assistant entit%s nobody has any more", len(stale),
                     "y" if len(stale) == 1 else "ies")

    # -- the pipeline loop -------------------------------------------------------------
    def _publish_status(self) -> dict:
        st = self.status()
        self.bus.publish(Message(self.topics.status, json.dumps(st), retain=True, qos=1))
        return st

    def _summary(self, st: dict) -> str:
        cams = ", ".join(f"{n} {c['state']}" for n, c in st["cameras"].items())
        errors = f"; ERROR: {'; '.join(st['errors'])}" if st["errors"] else ""
        return f"{st['fps']:.1f} fps, {st['gallery_size']} people, broker {st['broker']}, {cams}{errors}"

    def _publish_event(self, ev: Event) -> None:
        with self._trace_lock:  # a delete cannot run between the check below and the publications
            self._publish_event_unlocked(ev)

    def _publish_event_unlocked(self, ev: Event) -> None:
        if ev.name is not None and ev.name not in self.gallery.people:
            return  # deleted while this frame was in the pipeline: leave no new trace
        self._camera_person[ev.camera] = ev.name
        payload = ev.payload(self.device_id, self.pipeline.embedder.name)
        self.bus.publish(Message(self.topics.event, json.dumps(payload), retain=False, qos=1))
        self.events_published += 1
        state = {"camera": ev.camera, "person": ev.name or "unknown", "name": ev.name, "score": payload["score"],
                 "ts": ev.ts, "event_id": ev.event_id}
        self.bus.publish(Message(self.topics.state_camera(ev.camera), json.dumps(state), retain=True, qos=1))
        if ev.name is not None:
            pstate = {"state": PERSON_ON, "person": ev.name, "camera": ev.camera, "score": payload["score"],
                      "ts": ev.ts}
            self.bus.publish(Message(self.topics.state_person(ev.name), json.dumps(pstate), retain=False, qos=1))
        if ev.name is not None:
            log.info("event recognized: %s on %s (score %.3f)", ev.name, ev.camera, ev.score)
        elif self.gallery.people:
            log.info("event unknown: a face not in the gallery on %s (closest score %.3f)", ev.camera, ev.score)
        else:
            log.info("event unknown: a face on %s (the gallery is empty)", ev.camera)

    def _gallery_changed(self) -> None:
        """Hand the gallery to the matcher and forget followed faces, so no settled track keeps an old name.

        Callers hold ``self._lock``.
        """
        self.pipeline.matcher.set_gallery(self.gallery.active())
        for tracker in self.trackers.values():
            tracker.reset()

    def _process(self, camera: str, rgb: np.ndarray, index: int, mono: float) -> None:
        with self._lock:
            captures = [c for c in self._captures if c.camera == camera]
            tracked = self.trackers[camera].process(rgb, force_embed=bool(captures))
            for cap in captures:
                cap.offer([t.face for t in tracked if t.face is not None], time.monotonic())
        recs = [t.recognition for t in tracked]
        for ev in self.engines[camera].feed(index, recs, mono):
            self._publish_event(ev)
        self.stats[camera].tick(time.monotonic())
        self.notifier.frame_processed()

    def _dead_threads(self, worker: threading.Thread) -> str | None:
        """Which thread the MQTT side needs has died (None: all alive)."""
        if not worker.is_alive():
            return "the command thread"
        if not self.bus.network_alive():
            return "the MQTT network thread"
        return None

    def request_stop(self, *_: object) -> None:
        self._stop.set()

    def request_reload(self, *_: object) -> None:
        self._reload.set()

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit status."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGHUP, self.request_reload)
        worker = threading.Thread(target=self._command_worker, name="commands", daemon=True)
        worker.start()
        for r in self.readers.values():
            r.start()
        self.bus.start()
        self.notifier.ready()
        log.info("frd %s running: %d camera(s), %d people, model %s", __version__, len(self.readers),
                 len(self.gallery.people), self.pipeline.embedder.name)
        next_status = 0.0
        next_gallery_check = time.monotonic() + GALLERY_POLL_S
        readers = list(self.readers.values())
        due: dict[str, float] = {}  # per camera with fps_limit: when the next frame is wanted
        try:
            while not self._stop.is_set():
                if self._reload.is_set():
                    self._reload.clear()
                    self.notifier.reloading()
                    self.reload("SIGHUP")
                    self.notifier.ready()
                got = False
                for r in readers:
                    frame = r.take(0.0 if len(readers) > 1 else 0.2)
                    if frame is None:
                        continue
                    got = True
                    if r.fps_limit:
                        # A schedule, not "1/fps_limit since the last frame": a frame a little early
                        # (jitter) is taken, else a source paced at exactly fps_limit loses every other one.
                        period = 1 / r.fps_limit
                        when = due.get(r.name, frame.ts)
                        if frame.ts < when - 0.1 * period:
                            continue  # a live camera faster than fps_limit: skip, do not queue
                        due[r.name] = when + period if frame.ts - when < period else frame.ts + period
                    self._process(r.name, frame.rgb, frame.index, frame.ts)
                if not got and len(readers) > 1:
                    time.sleep(0.01)
                now = time.monotonic()
                if now >= next_gallery_check:
                    next_gallery_check = now + GALLERY_POLL_S
                    try:
                        if self.gallery.changed_on_disk():
                            self._sync_gallery("changed on disk")
                        self._remove_ghosts()
                    except (FrdError, OSError) as e:  # e.g. a full disk while re-embedding: keep recognising
                        log.error("gallery check failed: %s", e)
                if now >= next_status:
                    next_status = now + self.status_interval_s
                    dead = self._dead_threads(worker)
                    if dead:
                        # Frames would keep the watchdog fed while nobody answers MQTT: say so and exit,
                        # so that systemd restarts frd rather than leaving a door that ignores commands.
                        log.error("%s stopped: exiting so that the service manager restarts frd", dead)
                        self.notifier.status(f"FAILED: {dead} stopped; restarting")
                        return 1
                    self.notifier.status(self._summary(self._publish_status()))
        finally:
            self.notifier.stopping()
            with contextlib.suppress(queue.Full):  # a full queue must not stop the stop: the worker is a daemon
                self._commands.put_nowait(None)
            for r in readers:
                r.stop()
            self.bus.stop()
            log.info("stopped")
        return 0
