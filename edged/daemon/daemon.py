"""``frd run``: cameras in, events out — the daemon schedules and routes, the parts do the work.

Threads: one reader per camera (newest frame wins), one frame loop (this
module's :meth:`Daemon.run`), one command thread (so a capture enrollment can
wait for frames without blocking MQTT), and the bus's network thread. With
several cameras (``camera_mode``) the frame loop only supervises: as
``processes`` (the default) each camera's reader and tracker run in a child
process of its own (:mod:`edged.video.camproc`) and a thread here takes each frame's
tracked faces through the camera's worker; as ``threads`` each camera's frames
go through its worker on a thread of its own. Either way cameras use every core
(README, "The daemon"). The daemon hands frames to the camera workers
(:mod:`edged.video.worker`) and events to :mod:`edged.mqtt.payloads`, commands to the
:class:`~edged.mqtt.commands.CommandHandler`, incoming messages to its components
(Home Assistant, fleet sync: wired by ``app.py``), and publishes what they hand
up. Who is enrolled is :mod:`edged.service.people`'s; the daemon only follows its
changes (retained state of a deleted person). The TFLite interpreter is not
thread-safe: with one camera the pipeline is used under the people service's
lock; with several, each camera has its own interpreter and detector
(``app.build_daemon``), under a lock of its own or in a process of its own.
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .. import __version__
from ..config import SecurityConfig, default
from ..core.errors import FrdError, InputError
from ..core.logs import Tally, flush_tallies
from ..core.models import Event
from ..core.topics import Topics
from ..mqtt import payloads
from ..mqtt.bus import BusLike, Incoming
from ..mqtt.commands import ERROR_REPLY, CommandHandler, peek_request_id
from ..service.people import REMOVED, RENAMED, Change, People
from ..video.camproc import CameraProcess, FrameSchedule, Tracked
from ..video.worker import CameraWorker
from ..vision.camera import CameraReader, Frame
from ..vision.pipeline import Pipeline
from .liveness import COMMAND_STALL_S, Beats, reader_problem
from .notify import Notifier

log = logging.getLogger(__name__)

#: How often the frame loop looks for gallery changes made by others (the CLI, a restore), and lets the
#: components tidy up (Home Assistant: retained discovery configs nobody wants any more).
GALLERY_POLL_S = 2.0
#: Queued to wake the command thread for a component's pending work (fleet sync).
_WAKE = object()
#: On a stop, how long the command in progress may take to finish (and be answered) before frd goes on stopping.
COMMAND_GRACE_S = 5.0
#: The reply to a command still queued when frd stops: it was not run, and may be sent again.
NOT_RUN = "not run: frd is stopping; send it again once frd is back (availability online)"
#: How cameras run (``Daemon.camera_mode``): one camera in the frame loop; several as threads or processes.
LOOP, THREADS, PROCESSES = "loop", "threads", "processes"
#: How long ``cmd/snapshot`` waits for a camera's next processed frame (a camera limited to 1 fps, or idle and
#: passing over frames, has one well within it).
SNAPSHOT_TIMEOUT_S = 10.0


def _end_the_terminals_line() -> None:
    """Ctrl-C in a terminal echoes ``^C`` with no line break: the log lines of the stop then start on a line of
    their own, not glued to it."""
    import sys

    with contextlib.suppress(OSError, ValueError, AttributeError):
        if sys.stderr.isatty():
            sys.stderr.write("\n")
            sys.stderr.flush()
#: Commands waiting for the command thread (and at most ``security.max_queued_bytes`` of them); more are "busy".
MAX_QUEUED_COMMANDS = 100


def refusal_kind(error: str) -> str:
    """What a refusal is, for counting floods of them: its reason's first words, without what a sender chose."""
    head = error.split(":", 1)[0].split(";", 1)[0]
    return " ".join(w for w in head.split()[:4] if w.isalpha()) or "other"


class Component(Protocol):
    """A part the daemon routes messages to (Home Assistant discovery, fleet sync); wired by ``app.py``."""

    #: messages it had to drop (counted in the status's ``dropped_messages``)
    dropped: int

    @property
    def subscriptions(self) -> list[str]: ...
    def on_connected(self) -> None: ...
    def accept(self, msg: Incoming) -> bool:
        """On the network thread, never blocking: True if the message was the component's."""
    def work(self) -> None:
        """On the command thread: whatever :meth:`accept` left to do."""
    def poll(self) -> None:
        """On the frame loop, every ``GALLERY_POLL_S``."""


@dataclass
class CameraStats:
    """Frames processed per camera and their rate, for ``status`` and the Home Assistant fps sensor.

    The rate is frames over the time they took within the last ``window_s`` (not an average of
    1/dt, which overweights short gaps), and falls towards 0 when frames stop coming. The frames an
    idle tracker let the camera pass over count with the frame after them (``frames``): they were
    handled, and an idle 30 fps camera reads 30, not 10.
    """

    processed: int = 0
    window_s: float = 10.0
    _times: deque = field(default_factory=deque)  # (time, frames)

    def tick(self, now: float, frames: int = 1) -> None:
        self.processed += frames
        self._times.append((now, frames))
        while self._times and self._times[0][0] < now - self.window_s:
            self._times.popleft()

    def fps(self, now: float) -> float:
        ticks = [(t, n) for t, n in list(self._times) if t >= now - self.window_s]
        if len(ticks) < 2:
            return 0.0
        span = ticks[-1][0] - ticks[0][0]
        typical = span / (len(ticks) - 1)
        span += max(0.0, (now - ticks[-1][0]) - typical)  # a stalled camera: count the silence too
        return sum(n for _, n in ticks[1:]) / span if span > 0 else 0.0


@dataclass
class FacesNow:
    """When a camera's face count is worth publishing: on change, at most once per ``min_interval_s``.

    A change inside the interval is not lost: it goes out with the first frame after the interval.
    """

    min_interval_s: float = 1.0
    _sent: dict[str, tuple[int, float]] = field(default_factory=dict)

    def due(self, camera: str, faces: int, now: float) -> int | None:
        last = self._sent.get(camera)
        if last is not None and (last[0] == faces or now - last[1] < self.min_interval_s):
            return None
        self._sent[camera] = (faces, now)
        return faces


class Daemon:
    """Schedules and routes: frames to the camera workers, events to the bus, messages to the handler or a component.

    Every part is given (``app.build_daemon`` wires them); the daemon builds none of its collaborators.
    """

    def __init__(
        self,
        *,
        device_id: str,
        topics: Topics,
        pipeline: Pipeline,
        people: People,
        readers: Sequence[CameraReader] | Sequence[CameraProcess],
        bus: BusLike,
        notifier: Notifier,
        handler: CommandHandler,
        status_interval_s: float,
        workers: dict[str, CameraWorker],
        components: Sequence[Component] = (),
        housekeeping: Sequence[Callable[[], object]] = (),
        face_image: bool = False,
        camera_mode: str = LOOP,
        snapshot_max_side: int | None = None,
        max_queued_bytes: int = default(SecurityConfig, "max_queued_bytes"),
    ) -> None:
        self.device_id = device_id
        self.topics = topics
        self.pipeline = pipeline
        self.people = people
        self.gallery = people.gallery
        self.readers = {r.name: r for r in readers}
        #: per camera: frame → tracker → ignore list → unknown faces → event rules (built by app.py)
        self.workers = workers
        #: ``loop``: the frame loop takes every camera's frames; ``threads``: each camera's frames on a thread of
        #: its own (its worker has parts of its own: ``app.build_daemon``); ``processes``: each camera's reader
        #: and tracker in a child process (``readers`` are :class:`CameraProcess`), a thread here for the rest
        if camera_mode not in (LOOP, THREADS, PROCESSES):
            raise ValueError(f"camera_mode must be {LOOP}, {THREADS} or {PROCESSES}, not {camera_mode!r}")
        self.camera_mode = camera_mode
        self._camera_threads: dict[str, threading.Thread] = {}
        self._schedules = {name: FrameSchedule(r.fps_limit) for name, r in self.readers.items()}
        self.notifier = notifier
        self.status_interval_s = status_interval_s
        self.components = list(components)
        #: run on every gallery poll (forget expired unknown faces, follow a restored ignore list)
        self.housekeeping = list(housekeeping)
        self.stats = {name: CameraStats() for name in self.readers}
        self.events_published = 0
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._commands: queue.Queue[Incoming | object | None] = queue.Queue(maxsize=MAX_QUEUED_COMMANDS)
        #: bytes of the commands in the queue, at most ``max_queued_bytes`` (``security.max_queued_bytes``)
        self.max_queued_bytes = max_queued_bytes
        self._queued_bytes = 0
        self._queue_lock = threading.Lock()
        #: refused commands and dropped messages: a few lines in full, then a count per interval
        self._refusals = Tally(log, "commands refused or dropped")
        self._woken = threading.Event()  # a _WAKE is queued (or the worker is about to run the components' work)
        self.dropped_messages = 0  # incoming messages dropped because the worker was behind
        self.refused_retained = 0  # retained commands (never run)
        self._handler = handler
        self._command_thread: threading.Thread | None = None
        #: the loops of frd's own that the watchdog is fed on (:mod:`.liveness`), and what stalls now
        self._beats = Beats()
        self._stall: dict[str, str] = {}
        self._camera_person: dict[str, str | None] = {}  # who each camera's retained state names
        #: ``homeassistant.face_image``: publish each announced face's chip; who each camera's shown face is
        self.face_image = face_image
        #: ``snapshot.enabled``: the long side of a snapshot (None: ``cmd/snapshot`` is refused)
        self.snapshot_max_side = snapshot_max_side
        self._camera_face: dict[str, str | None] = {}
        self._camera_face_id: dict[str, str | None] = {}  # the held face (unknown_faces) each camera shows
        self._faces_now = FacesNow()
        self._trace_lock = threading.Lock()  # event publication vs. clearing a removed person's traces
        people.subscribe(self._on_people_change)
        people.on_matcher_update(self.reset_workers)
        self.bus = bus
        subs = [topics.cmd_wildcard, topics.fleet_cmd_wildcard]
        for c in self.components:
            subs += c.subscriptions
        bus.attach(self._on_message, self._on_connected, subs)

    # -- MQTT side --------------------------------------------------------------------
    def _on_connected(self) -> None:
        for c in self.components:
            c.on_connected()
        self._publish_status()

    def _on_message(self, msg: Incoming) -> None:
        """On the network thread: never blocks (a full queue drops, logs and counts), never raises."""
        for c in self.components:
            if c.accept(msg):
                # whatever the component left for the command thread (fleet sync) runs there, not here:
                # blocking here would stop the bus answering the broker's pings. One wake-up at a time, so
                # a flood of retained messages cannot fill the queue that commands need.
                if not self._woken.is_set():
                    self._woken.set()
                    with contextlib.suppress(queue.Full):
                        self._commands.put_nowait(_WAKE)
                return
        if msg.retain and not msg.payload:
            # Someone cleared a retained command (mosquitto_pub -r -n -t TOPIC, as the refusal below advises): the
            # broker passes the empty message on. Nothing to run, nothing to refuse, nobody to answer.
            log.debug("a retained command on %s was cleared", msg.topic[:200])
            return
        if msg.retain:
            # A retained command would run again on every reconnect and restart, and on every device that
            # joins later (a retained delete undoes every later enrollment): commands are one-shot.
            self._refusals.warning("retained", "retained command on %s refused: publish commands without the "
                                   "retain flag (clear it with: mosquitto_pub -r -n -t TOPIC)", msg.topic[:200])
            self.refused_retained += 1
            self._reply_error(msg, "retained command refused: publish commands without the retain flag, and "
                                   "clear this one (mosquitto_pub -r -n -t <topic>)")
            return
        self._queue_command(msg)

    def _queue_command(self, msg: Incoming) -> None:
        """Queue a command for the command thread, bounded in count and in bytes; refuse it at once if it cannot be
        run (too large) or must wait behind too much (busy). Only this thread adds commands."""
        size, limit = len(msg.payload), self._handler.max_message_bytes
        if size > limit:  # the command thread would refuse it: it need not wait (nor hold memory) for that
            self._drop("too large", f"command on {msg.topic[:200]}: {size} bytes, over the limit of {limit}")
            self._reply_error(msg, f"payload of {size} bytes exceeds the limit of {limit}")
            return
        with self._queue_lock:
            fits = self._queued_bytes == 0 or self._queued_bytes + size <= self.max_queued_bytes
            if fits and not self._commands.full():
                with contextlib.suppress(queue.Full):  # only this thread adds commands (a stop adds its None)
                    self._commands.put_nowait(msg)
                    self._queued_bytes += size
                    return
        self._drop("busy", f"command on {msg.topic[:200]}: {self._commands.qsize()} commands "
                           f"({self._queued_bytes} bytes) already queued")
        self._reply_error(msg, "busy: too many queued commands")

    def _drop(self, kind: str, why: str) -> None:
        self.dropped_messages += 1
        self._refusals.warning(kind, "dropped a message (%d so far): %s", self.dropped_messages, why)

    def _reply_error(self, msg: Incoming, error: str, request_id: object = None) -> None:
        parsed = self.topics.parse_cmd(msg.topic)
        try:
            topic = self.topics.reply(parsed[0] if parsed else ERROR_REPLY)
        except ValueError:
            topic = self.topics.reply(ERROR_REPLY)
        body = json.dumps({"request_id": request_id, "ok": False, "error": error, "data": None})
        self.bus.reply(msg, topic, body)

    def _command_loop(self) -> None:
        """Runs commands and the components' pending work; whatever a message does, the thread goes on."""
        while True:
            self._beats.beat("the command thread", time.monotonic(), COMMAND_STALL_S)
            self._woken.clear()
            for c in self.components:
                try:
                    c.work()
                except Exception:  # a bug must not stop the thread that answers every command
                    log.exception("%s failed", type(c).__name__)
            try:
                msg = self._commands.get(timeout=1.0)  # idle, it still comes round (the watchdog's liveness)
            except queue.Empty:
                continue
            if msg is None:
                return
            if msg is _WAKE:
                continue
            self._beats.beat("the command thread", time.monotonic(), COMMAND_STALL_S)
            with self._queue_lock:
                self._queued_bytes -= len(msg.payload)
            try:
                self._run_command(msg)
            except Exception:  # a bug must cost one message, not the thread that answers every command
                log.exception("command on %s failed", msg.topic[:200])
                with contextlib.suppress(Exception):
                    self._reply_error(msg, "internal error: see the device log")

    def _run_command(self, msg: Incoming) -> None:
        command, reply = self._handler.handle_topic(msg.topic, msg.payload, sender=msg.response_topic)
        if not reply.ok:
            kind = f"{command[:40]}: {refusal_kind(reply.error or '')}"
            if command == ERROR_REPLY:  # not a command topic: there is no command to name
                self._refusals.warning(kind, "message refused: %s", reply.error)
            else:
                self._refusals.warning(kind, "command %r refused: %s", command[:80], reply.error)
        self.bus.reply(msg, self.topics.reply(command), reply.payload())

    # -- following the people service -------------------------------------------------------
    def reset_workers(self) -> None:
        """Forget followed faces when the matcher or the ignore list changes, so no settled track keeps an
        old verdict (callers hold the people service's lock)."""
        if self.camera_mode == PROCESSES:  # the trackers are in the children: each gets the gallery and forgets
            for proc in self.readers.values():
                proc.reset()
            return
        for worker in self.workers.values():
            worker.reset()

    def _on_people_change(self, change: Change) -> None:
        """A removed (or renamed) person leaves no retained state behind."""
        if change.kind == REMOVED:
            self._clear_traces(change.name)
        elif change.kind == RENAMED:
            self.bus.publish(payloads.cleared_person_state(self.topics, change.name))
            self.bus.publish(payloads.cleared_last_seen(self.topics, change.name))

    def _clear_traces(self, name: str) -> None:
        """Retained state naming someone no longer in the gallery."""
        with self._trace_lock:  # no event of them is published half-way
            self.bus.publish(payloads.cleared_person_state(self.topics, name))
            self.bus.publish(payloads.cleared_last_seen(self.topics, name))
            for camera in [c for c, who in self._camera_person.items() if who == name]:
                self.bus.publish(payloads.cleared_camera_state(self.topics, camera))
                self._camera_person[camera] = None
            for camera in [c for c, who in self._camera_face.items() if who == name]:
                self.bus.publish(payloads.cleared_face_image(self.topics, camera))  # their face is shown no more
                self._camera_face[camera] = self._camera_face_id[camera] = None

    def clear_faces(self, face_ids: list[str]) -> None:
        """Held faces were forgotten or ignored: a camera showing one of them shows it no more."""
        gone = set(face_ids)
        with self._trace_lock:
            for camera in [c for c, fid in self._camera_face_id.items() if fid is not None and fid in gone]:
                self.bus.publish(payloads.cleared_face_image(self.topics, camera))
                self._camera_face[camera] = self._camera_face_id[camera] = None

    # -- a look through a camera -------------------------------------------------------------
    def snapshot(self, camera: str | None) -> dict:
        """``cmd/snapshot[/<camera>]``: the camera's next processed frame, downscaled, its faces and working size
        drawn, published once on ``<base>/snapshot/<camera>`` (not retained, never on disk); the reply says what
        it shows. On the command thread: it waits for the frame (at most :data:`SNAPSHOT_TIMEOUT_S`)."""
        if self.snapshot_max_side is None:
            raise InputError("snapshots are off on this device (snapshot.enabled: false): a frame shows everyone "
                             "in view; turn them on to aim a camera")
        names = ", ".join(self.readers) or "none"
        if camera is None:
            if len(self.readers) != 1:
                raise InputError(f"which camera? cmd/snapshot/<camera>; cameras: {names}")
            camera = next(iter(self.readers))
        if camera not in self.readers:
            raise InputError(f"no camera named {camera[:64]!r}; cameras: {names}")
        source = self.readers[camera] if self.camera_mode == PROCESSES else self.workers[camera]
        got = source.snapshot(self.snapshot_max_side, SNAPSHOT_TIMEOUT_S)
        if got is None:
            r = self.readers[camera]
            raise InputError(f"camera {camera} gave no frame within {SNAPSHOT_TIMEOUT_S:g} s (it is {r.state}"
                             f"{': ' + r.error if r.error else ''})")
        self.bus.publish(payloads.snapshot(self.topics, camera, got.jpeg))
        log.info("snapshot of camera %s published (%d bytes, not retained)", camera, len(got.jpeg))
        return {"camera": camera, "topic": self.topics.snapshot(camera), **got.info()}

    # -- status ---------------------------------------------------------------------------
    def status(self) -> dict:
        now = time.monotonic()
        cams = {
            name: payloads.camera_status(state=r.state, error=r.error, fps=self.stats[name].fps(now),
                                         frames=self.stats[name].processed, dropped_frames=r.dropped,
                                         reconnects=r.reconnects)
            for name, r in self.readers.items()
        }
        model = self.pipeline.embedder
        return payloads.status_body(
            version=__version__, device=self.device_id, model=model.name, model_sha256=model.sha256, cameras=cams,
            gallery_size=len(self.gallery.people), events=self.events_published,
            uptime_s=time.monotonic() - self.started, broker_connected=self.bus.connected.is_set(),
            offline_queue=self.bus.queued, offline_dropped=self.bus.dropped,
            dropped_messages=self.dropped_messages + sum(c.dropped for c in self.components),
            refused_retained=self.refused_retained,
            malformed_messages=self.bus.malformed, quarantined=len(self.gallery.quarantined),
            errors=self._errors(), dropped_replies=self.bus.chatter_dropped, client_id_taken=self.bus.taken_over,
            gallery_read_only=self.gallery.read_only is not None,
        )

    def _errors(self) -> list[str]:
        """Problems that need someone's attention (also in the systemd STATUS= line)."""
        guard = self._handler.guard
        errors = []
        if guard is not None and guard.nonces.save_error:
            errors.append(guard.nonces.save_error)
        if guard is not None and (behind := guard.nonces.clock_behind(guard.clock())):
            errors.append(behind)
        for c in self.components:  # e.g. fleet sync's ledger that cannot be saved
            errors += getattr(c, "errors", list)()
        errors += self._stall.values()
        if self.gallery.read_only is not None:
            errors.append(f"gallery read-only ({self.gallery.read_only}): enroll, delete and rename are refused")
        taken = self.bus.connection_problem()
        if taken:
            errors.append(taken)
        return errors

    def _publish_status(self) -> dict:
        st = self.status()
        self.bus.publish(payloads.status(self.topics, st))
        return st

    # -- the frame loop -------------------------------------------------------------------
    def _publish_event(self, ev: Event) -> None:
        with self._trace_lock:  # a delete cannot clear traces between the check below and the publications
            self._publish_event_unlocked(ev)

    def _publish_event_unlocked(self, ev: Event) -> None:
        if ev.name is not None and ev.name not in self.gallery.people:
            return  # deleted while this frame was in the pipeline: leave no new trace
        self._camera_person[ev.camera] = ev.name
        msg, body = payloads.event(self.topics, ev, self.device_id, self.pipeline.embedder.name)
        self.bus.publish(msg)
        self.events_published += 1
        self.bus.publish(payloads.camera_state(self.topics, ev, body["score"]))
        if self.face_image and ev.chip is not None:
            self.bus.publish(payloads.face_image(self.topics, ev.camera, ev.chip))
            self._camera_face[ev.camera] = ev.name
            self._camera_face_id[ev.camera] = ev.face_id
        if ev.name is not None:
            self.bus.publish(payloads.person_state(self.topics, ev, body["score"]))
            self.bus.publish(payloads.last_seen(self.topics, ev))
            log.info("event recognized: %s on %s (score %.3f)", ev.name, ev.camera, ev.score)
        elif self.gallery.people:
            log.info("event unknown: a face not in the gallery on %s (closest score %.3f)", ev.camera, ev.score)
        else:
            log.info("event unknown: a face on %s (the gallery is empty)", ev.camera)

    def _poll(self) -> None:
        """Every ``GALLERY_POLL_S``: follow the gallery on disk, the housekeeping, let the components tidy up."""
        for job in self.housekeeping:
            try:
                job()
            except Exception:
                log.exception("housekeeping failed")
        try:
            self.people.sync_if_changed()
        except (FrdError, OSError) as e:  # e.g. a full disk while re-embedding: keep recognising
            log.error("gallery check failed: %s", e)
        for c in self.components:
            try:
                c.poll()
            except Exception:
                log.exception("%s failed", type(c).__name__)

    def _process(self, camera: str, image: np.ndarray, index: int, mono: float, bgr: bool = False,
                 skipped: int = 0) -> None:
        worker = self.workers[camera]
        self._processed(camera, worker.process(image, index, mono, bgr=bgr, skipped=skipped), worker.faces_now,
                        mono, 1 + skipped)

    def _take_frame(self, reader: CameraReader, frame: Frame) -> None:
        """A camera's frame through its worker; then the reader is told how many frames the tracker will not
        look at (an idle camera's are never turned into images)."""
        self._process(reader.name, frame.image, frame.index, frame.ts, bgr=frame.bgr, skipped=frame.skipped)
        reader.skip_ahead(self.workers[reader.name].idle_frames())

    def _process_tracked(self, camera: str, got: Tracked) -> None:
        """A frame a camera's child process tracked: the rest of its trip, here (the shared state is here)."""
        worker = self.workers[camera]
        events = worker.process_tracked(got.faces, got.index, got.mono, fresh=got.fresh,
                                        embedded_all=got.embedded_all)
        self._processed(camera, events, worker.faces_now, got.mono, 1 + got.skipped)

    def _processed(self, camera: str, events: list[Event], faces_now: int, mono: float, frames: int = 1) -> None:
        """Publish a processed frame's events and face count; the frame counts (status)."""
        for ev in events:
            self._publish_event(ev)
        faces = self._faces_now.due(camera, faces_now, mono)  # the frame's time: testable
        if faces is not None:
            self.bus.publish(payloads.faces_now(self.topics, camera, faces))
        self.stats[camera].tick(time.monotonic(), frames)

    def _dead_camera(self) -> str | None:
        """Which camera's frame thread (or process) has died (None: all alive, or there are none, or frd is
        stopping)."""
        if self._stop.is_set():
            return None  # the cameras' threads end on the stop
        for name, t in self._camera_threads.items():
            if not t.is_alive():
                return f"the {'process' if self.camera_mode == PROCESSES else 'frame thread'} of camera {name}"
        return None

    def _dead_threads(self, commands: threading.Thread) -> str | None:
        """Which thread the MQTT side or a camera needs has died (None: all alive)."""
        camera = self._dead_camera()
        if camera:
            return camera
        if not commands.is_alive():
            return "the command thread"
        if not self.bus.network_alive():
            return "the MQTT network thread"
        return None

    def _camera_loop(self, r: CameraReader) -> None:
        """One camera's frames through its worker, on the camera's own thread, until the daemon stops.

        A frame that fails ends the thread (as it ends the single frame loop): the frame loop sees the
        thread dead and exits, so that the service manager restarts frd.
        """
        schedule = self._schedules[r.name]
        loop = f"camera {r.name}'s frame thread"
        try:
            while not self._stop.is_set():
                self._beats.beat(loop, time.monotonic())
                frame = r.take(0.2)
                if frame is not None and schedule.wanted(frame.ts):
                    self._take_frame(r, frame)
        except Exception:
            log.exception("camera %s: a frame failed", r.name)

    def _child_loop(self, proc: CameraProcess) -> None:
        """One camera's tracked frames from its child process through its worker, until the daemon stops or the
        child ends (the thread ends with it: the frame loop sees it and exits, for a restart)."""
        worker = self.workers[proc.name]
        loop = f"camera {proc.name}'s frame thread"
        try:
            while not self._stop.is_set():
                self._beats.beat(loop, time.monotonic())
                got = proc.take(0.2)
                proc.force_embed(bool(worker.pending_captures()))  # a capture wants every face embedded
                if got is not None:
                    self._process_tracked(proc.name, got)
        except EOFError:
            if not self._stop.is_set():
                log.error("camera %s: its process ended (exit status %s)", proc.name, proc.exitcode())
        except Exception:
            log.exception("camera %s: a frame failed", proc.name)

    def _start_cameras(self) -> None:
        loop = self._child_loop if self.camera_mode == PROCESSES else self._camera_loop
        for name, r in self.readers.items():
            t = threading.Thread(target=loop, args=(r,), name=f"frames-{name}", daemon=True)
            self._camera_threads[name] = t
            t.start()

    def request_stop(self, signum: int | None = None, *_: object) -> None:
        if signum == signal.SIGINT and not self._stop.is_set():
            _end_the_terminals_line()
        self._stop.set()

    def request_reload(self, *_: object) -> None:
        self._reload.set()

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit status."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGHUP, self.request_reload)
        commands = threading.Thread(target=self._command_loop, name="commands", daemon=True)
        self._command_thread = commands
        commands.start()
        self._start_readers_and_bus()
        self.notifier.ready()
        each = {LOOP: "", THREADS: ", a thread each", PROCESSES: ", a process each"}[self.camera_mode]
        log.info("frd %s running: %d camera(s)%s, %d people in %s, model %s", __version__, len(self.readers), each,
                 len(self.gallery.people), self.gallery.root, self.pipeline.embedder.name)
        next_gallery_check = time.monotonic() + GALLERY_POLL_S
        supervise = self.camera_mode != LOOP
        if supervise:
            self._start_cameras()
        try:
            return self._loop(commands, supervise, next_gallery_check)
        finally:
            self._shut_down()

    def _start_readers_and_bus(self) -> None:
        started: list[CameraReader | CameraProcess] = []
        try:
            for r in self.readers.values():
                r.start()
                started.append(r)
            self.bus.start()
        except BaseException:  # a camera process left running would outlive frd (it ignores SIGTERM)
            for r in started:
                r.stop()
            raise

    def _loop(self, commands: threading.Thread, supervise: bool, next_gallery_check: float) -> int:
        """The frame loop (``supervise``: the cameras' threads do the frames, this loop watches them), the gallery
        poll and the status, until stopped (0) or until a thread frd needs has died (1)."""
        next_status = 0.0
        readers = list(self.readers.values())
        while not self._stop.is_set():
            if self._reload.is_set():
                self._reload.clear()
                self.notifier.reloading()
                try:
                    self.people.reload("SIGHUP")
                except (FrdError, OSError) as e:
                    log.error("reload failed: %s", e)
                self.notifier.ready()
            if supervise:
                if self._stop.wait(0.1):  # the cameras' threads do the frames; this loop supervises
                    break  # (the cameras' threads end on the stop: not a failure)
                dead = self._dead_camera()
                if dead:
                    return self._failed(dead)
            else:
                self._take_frames(readers)
            now = time.monotonic()
            self._watchdog(now)
            if now >= next_gallery_check:
                next_gallery_check = now + GALLERY_POLL_S
                self._poll()
            if now >= next_status:
                next_status = now + self.status_interval_s
                flush_tallies()  # the count of a flood that has stopped
                dead = self._dead_threads(commands)
                if dead:
                    # A dead thread is not a stall (the watchdog would only starve in 20 s or more): say so
                    # and exit, so that systemd restarts frd rather than leaving a door that ignores commands.
                    return self._failed(dead)
                self.notifier.status(payloads.status_summary(self._publish_status()))
        return 0

    def _stalled(self, now: float) -> dict[str, str]:
        """The loops of frd's own that do not run (:mod:`.liveness`): ``{loop: why}``, empty while all run."""
        stalled = self._beats.stalled(now)
        for name, r in self.readers.items():
            why = reader_problem(name, r, now)
            if why:
                stalled[f"camera {name}"] = why
        if not self.bus.network_alive():
            stalled["mqtt"] = "the MQTT network thread has stopped"
        return stalled

    def _watchdog(self, now: float) -> None:
        """Feed the watchdog while every loop of frd's own runs (a camera that is away does not stop it); say
        once when that changes (the reasons stay in the status's ``errors`` meanwhile)."""
        stalled = self._stalled(now)
        if not stalled:
            self.notifier.alive()
        if stalled.keys() != self._stall.keys():
            if stalled:
                log.error("not feeding the watchdog: %s", "; ".join(stalled.values()))
            else:
                log.info("frd's loops all run: feeding the watchdog")
        self._stall = stalled

    def _take_frames(self, readers: list[CameraReader]) -> None:
        """The frame loop's cameras (not supervised): each one's newest frame, if it is wanted."""
        got = False
        for r in readers:
            frame = r.take(0.0 if len(readers) > 1 else 0.2)
            if frame is None:
                continue
            got = True
            if self._schedules[r.name].wanted(frame.ts):
                self._take_frame(r, frame)
        if not got and len(readers) > 1:
            time.sleep(0.01)

    def _refuse_queued(self) -> None:
        """Answer every command still queued: not run, send it again (a sender can tell it from a crash, where no
        reply comes; see docs/mqtt.md)."""
        refused = 0
        while True:
            try:
                msg = self._commands.get_nowait()
            except queue.Empty:
                break
            if isinstance(msg, Incoming):
                refused += 1
                rid = peek_request_id(msg.payload, self._handler.limits.max_envelope)
                with contextlib.suppress(Exception):
                    self._reply_error(msg, NOT_RUN, rid)
        if refused:
            log.warning("stopping: %d queued command(s) answered %r", refused, NOT_RUN)

    def _failed(self, dead: str) -> int:
        log.error("%s stopped: exiting so that the service manager restarts frd", dead)
        self.notifier.status(f"FAILED: {dead} stopped; restarting")
        return 1

    def _shut_down(self) -> None:
        self._stop.set()  # the cameras' threads end after their frame in flight
        self.notifier.stopping()
        self._refuse_queued()
        with contextlib.suppress(queue.Full):  # a full queue must not stop the stop: the thread is a daemon
            self._commands.put_nowait(None)
        if self._command_thread is not None:  # the command in progress is answered before the bus stops
            self._command_thread.join(COMMAND_GRACE_S)
        for t in self._camera_threads.values():
            t.join(timeout=10)  # daemon threads: one stuck in a native call cannot hold the exit
        for r in self.readers.values():
            r.stop()
        self.bus.stop()
        log.info("stopped")
