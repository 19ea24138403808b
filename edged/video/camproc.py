"""Several cameras as processes: each camera's reader and tracker in a child process of its own.

Why processes: about 8 % of a camera frame holds the GIL (the Python between dlib's, OpenCV's and
TFLite's native calls), so two cameras as threads of one process reached 1.68× one camera with YuNet,
as processes 2.00× (README, "Several cameras"). The heavy, per-camera part moves to the child: decoding
(the camera reader) and the tracker (detect, follow, align, embed, match). What is shared stays in the
daemon's process: the gallery and the people service, captures, the ignore list, the unknown faces, the
event rules, MQTT.

Two pipes join the two sides. The child (:func:`serve`, started by ``app.camera_child``) sends, for every
frame it processed, a :class:`Tracked`: the frame's index and time and its tracked faces (with the chip
and embedding of the faces embedded in that frame) — never the frame itself. It also sends its reader's
state when that changes while no frame comes. The parent's :class:`CameraProcess` starts and stops the
child, hands the daemon what comes (:meth:`CameraProcess.take`), and sends the child each new gallery
(:meth:`CameraProcess.reset`: the child swaps it in and forgets its faces before its next frame) and
whether a capture waits for this camera (:meth:`CameraProcess.force_embed`: the child then embeds every
face). The child ignores SIGTERM, SIGINT and SIGHUP (systemd signals the whole control group, a terminal the
whole process group): the daemon stops it, and a child whose parent is gone (its pipe closed) stops.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Protocol

from ..vision.match import Matcher
from ..vision.snapshot import Snapshot
from .look import SnapshotSlot, take
from .track import FaceTracker, TrackedFace

log = logging.getLogger(__name__)

#: Not "fork": the daemon has threads (paho, the command thread), an interpreter and OpenCV's thread pool,
#: none of which survives a fork; "spawn" starts a fresh interpreter that builds its own parts.
START_METHOD = "spawn"
#: How long a child may take to stop after it is asked before it is terminated (one frame in flight, the
#: reader's last read).
STOP_TIMEOUT_S = 10.0
#: A child with nothing to send (no frame wanted) still tells its reader's state this often: its heartbeat, so
#: that the daemon can tell a child whose camera is away (it beats) from one that is stuck (it is silent).
HEARTBEAT_S = 1.0
#: Before its first message a child builds its model and detector (seconds on a Pi-class board, more with
#: several cameras starting at once): up to this long is not a stall (the unit's TimeoutStartSec=).
START_GRACE_S = 120.0


class FrameSchedule:
    """A camera's ``fps_limit`` as a schedule, not "1/fps_limit since the last frame": a frame a little early
    (jitter) is taken, else a source paced at exactly ``fps_limit`` would lose every other one."""

    def __init__(self, fps_limit: float | None) -> None:
        self.fps_limit = fps_limit
        self._due: float | None = None  # when the next frame is wanted

    def wanted(self, ts: float) -> bool:
        """Whether a frame taken at ``ts`` is processed (a live camera faster than the limit: skipped, not queued)."""
        if not self.fps_limit:
            return True
        period = 1 / self.fps_limit
        when = ts if self._due is None else self._due
        if ts < when - 0.1 * period:
            return False
        self._due = when + period if ts - when < period else ts + period
        return True


@dataclass
class Tracked:
    """One frame a child processed: what the parent's :class:`~edged.video.worker.CameraWorker` needs, no pixels."""

    index: int
    mono: float  # the frame's capture time (CLOCK_MONOTONIC: the same clock in every process)
    faces: list[TrackedFace]
    #: the gallery the frame was matched against (the count of :meth:`CameraProcess.reset` calls)
    generation: int
    #: every face of the frame was embedded (a capture was pending): only such a frame feeds a capture
    embedded_all: bool
    #: the first frame after the child forgot its faces (set by the parent's handle)
    fresh: bool = False
    #: frames of the camera passed over just before this one (an idle tracker's, ``Frame.skipped``)
    skipped: int = 0


class Reader(Protocol):
    """What the child needs of a camera (``edged.vision.camera.CameraReader``; benchmarks replay frames)."""

    name: str
    fps_limit: float | None
    state: str
    error: str | None
    dropped: int
    reconnects: int

    def start(self) -> Any: ...
    def take(self, timeout: float) -> Any: ...
    def skip_ahead(self, frames: int) -> None: ...
    def stop(self, timeout: float = 5.0) -> None: ...


class CameraProcess:
    """The parent's handle on one camera's child process; it answers the daemon like a camera reader does
    (``name``, ``state``, ``error``, ``dropped``, ``reconnects``, ``start``, ``stop``) but :meth:`take` hands
    out tracked frames, not frames.

    ``target(*args, results, control)`` is the child's entry point (``app.camera_child``: app.py builds the
    child's parts); ``gallery()`` is what the matcher is given (``Gallery.active``), read when a reset is sent.
    """

    def __init__(self, name: str, target: Callable[..., None], args: tuple, gallery: Callable[[], dict]) -> None:
        self.name = name
        self.fps_limit: float | None = None  # the child paces its own frames
        self.state, self.error = "starting", None
        self.dropped = self.reconnects = 0
        #: when the child last made progress (CLOCK_MONOTONIC, the same in every process): the older of its last
        #: message and its reader's own beat; a child whose camera is away still sends a heartbeat
        self.beat = time.monotonic()
        self._heard = False  # a first message came: the start-up grace is over
        self._gallery = gallery
        ctx = mp.get_context(START_METHOD)
        self._results, results_w = ctx.Pipe(duplex=False)
        control_r, self._control = ctx.Pipe(duplex=False)
        self._child_ends = (results_w, control_r)
        self.process = ctx.Process(target=target, args=(*args, results_w, control_r), name=f"frd-camera-{name}",
                                   daemon=True)
        self._send_lock = threading.RLock()
        self._generation = 0  # galleries sent
        self._seen = 0  # the generation of the last frame received
        self._forced = False
        self._snapshots = SnapshotSlot()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def running(self) -> bool:
        """Whether the child process runs."""
        return self.process.is_alive()

    def stalled_s(self, now: float) -> float:
        """Seconds since the child (its loop, or its camera reader) last made progress (its start-up, until its
        first message, counts only past ``START_GRACE_S``)."""
        idle = max(0.0, now - self.beat)
        return idle if self._heard else max(0.0, idle - START_GRACE_S)

    def start(self) -> CameraProcess:
        """Start the child and send it the gallery; it takes no frame before it has one."""
        self.process.start()
        self.beat = time.monotonic()
        for end in self._child_ends:  # the child's now: closed here, so its death reads as the end of the pipe
            end.close()
        self.reset()
        return self

    def _send(self, msg: tuple) -> None:
        with self._send_lock:
            try:
                self._control.send(msg)
            except OSError as e:  # the child is gone: the daemon sees it from the results' end, and exits
                log.debug("camera %s: not sent to its process: %s", self.name, e)

    def reset(self) -> None:
        """The gallery changed (or the ignore list): the child swaps in the new gallery and forgets the faces it
        follows before its next frame. Callers hold the people service's lock (the gallery is read here)."""
        if self.process.pid is None:
            return  # not started: :meth:`start` sends the gallery as it is then
        with self._send_lock:  # numbered and sent in one go: the child takes the newest
            self._generation += 1
            self._send(("gallery", self._generation, self._gallery()))

    def force_embed(self, on: bool) -> None:
        """Whether the child embeds every face (a capture waits for this camera); sent only when it changes."""
        if on != self._forced:
            self._forced = on
            self._send(("force", on))

    def snapshot(self, max_side: int, timeout: float) -> Snapshot | None:
        """The child's next frame as a snapshot (None: none within ``timeout``): the child draws and encodes it,
        only the JPEG crosses the pipe (:meth:`take` hands it over)."""
        return self._snapshots.ask(max_side, timeout, on_new=lambda side: self._send(("snapshot", side)))

    def take(self, timeout: float) -> Tracked | None:
        """The next frame the child processed, waiting up to ``timeout`` (None: none came, or only news of its
        reader, or a snapshot). Raises EOFError when the child has ended."""
        if not self._results.poll(timeout):
            return None
        kind, body, state = self._results.recv()
        received = time.monotonic()
        self._heard = True
        self.state, self.error, self.dropped, self.reconnects, reader_beat = state
        self.beat = received if reader_beat is None else min(received, reader_beat)
        if kind == "snapshot":
            self._snapshots.fulfil(body)
            return None
        if kind != "frame":
            return None
        tracked: Tracked = body
        tracked.fresh = tracked.generation != self._seen
        self._seen = tracked.generation
        return tracked

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Ask the child to stop; terminate it (then kill it) if it has not within ``timeout``: no orphan."""
        if self.process.pid is None:
            return
        self._send(("stop",))
        deadline = time.monotonic() + timeout
        while self.process.is_alive() and time.monotonic() < deadline:
            try:  # a child sending a frame waits for it to be read (a chip is larger than a pipe's buffer)
                if self._results.poll(0.05):
                    self._results.recv()
            except (EOFError, OSError):
                self.process.join(max(0.0, deadline - time.monotonic()))
        if self.process.is_alive():
            log.warning("camera %s: its process did not stop within %g s: terminated", self.name, timeout)
            self.process.terminate()
            self.process.join(2.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.state = "stopped"
        for end in (self._results, self._control):
            end.close()

    def exitcode(self, timeout: float = 2.0) -> int | None:
        """The child's exit status once it has ended (negative: the signal that ended it), waiting up to
        ``timeout`` for it to be reaped; None: still running."""
        self.process.join(timeout)
        return self.process.exitcode


class _Inbox:
    """The child's end of the control pipe, read on a thread of its own, so that the parent's sends never wait
    for a frame in flight: the newest gallery, the capture flag, the stop (also when the parent is gone)."""

    def __init__(self, control: Connection) -> None:
        self._control = control
        self._cond = threading.Condition()
        self._gallery: tuple[int, dict] | None = None
        self.force = False
        #: a snapshot's ``max_side`` while one is asked for (taken with the next processed frame)
        self.snapshot: int | None = None
        self.stopped = False
        threading.Thread(target=self._run, name="control", daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                msg = self._control.recv()
            except (EOFError, OSError):  # the parent is gone
                msg = ("stop",)
            with self._cond:
                if msg[0] == "gallery":
                    self._gallery = (msg[1], msg[2])
                elif msg[0] == "force":
                    self.force = bool(msg[1])
                elif msg[0] == "snapshot":
                    self.snapshot = int(msg[1])
                else:
                    self.stopped = True
                self._cond.notify_all()
            if self.stopped:
                return

    def take_snapshot(self) -> int | None:
        """The asked snapshot's ``max_side``, once (None: none asked for)."""
        with self._cond:
            got, self.snapshot = self.snapshot, None
            return got

    def gallery(self, timeout: float = 0.0) -> tuple[int, dict] | None:
        """The newest gallery not yet taken (waiting up to ``timeout`` for one), or None."""
        with self._cond:
            if self._gallery is None and not self.stopped:
                self._cond.wait(timeout)
            got, self._gallery = self._gallery, None
            return got


def serve(reader: Reader, tracker: FaceTracker, matcher: Matcher, results: Connection, control: Connection) -> int:
    """The child's loop: frames of ``reader`` through ``tracker``, each frame's faces to the parent, until the
    parent says stop or is gone. Returns the exit status (a frame that fails raises: the child ends, and the
    daemon with it, for systemd to restart)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the parent stops its children (see the module docstring)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a reload is frd's (a terminal's hangup reaches its group)
    inbox = _Inbox(control)
    generation = 0
    while generation == 0 and not inbox.stopped:  # no frame before the first gallery
        got = inbox.gallery(1.0)
        if got is not None:
            generation, people = got
            matcher.set_gallery(people)
    if inbox.stopped:
        return 0
    schedule = FrameSchedule(reader.fps_limit)
    reader.start()
    sent_state, sent_at = None, 0.0
    try:
        while not inbox.stopped:
            got = inbox.gallery()
            if got is not None:  # a change reaches the tracker between two frames, as in the daemon's process
                generation, people = got
                matcher.set_gallery(people)
                tracker.reset()
            frame = reader.take(0.2)
            state = (reader.state, reader.error, reader.dropped, reader.reconnects)
            beat = getattr(reader, "beat", None)  # a reader that does not tell (a benchmark's replay) is not judged
            now = time.monotonic()
            if frame is None or not schedule.wanted(frame.ts):
                if state != sent_state or now - sent_at >= HEARTBEAT_S:
                    results.send(("state", None, (*state, beat)))
                    sent_state, sent_at = state, now
                continue
            forced = inbox.force
            faces = tracker.process(frame.image, force_embed=forced, bgr=frame.bgr, skipped=frame.skipped)
            look = inbox.take_snapshot()
            if look is not None:  # drawn and encoded here: the frame never leaves the child
                results.send(("snapshot", take(tracker, frame.image, frame.bgr, faces, look), (*state, beat)))
            # an idle camera's frames stay unread (not while a capture or a snapshot waits for one)
            reader.skip_ahead(0 if forced or inbox.snapshot is not None else tracker.idle_frames())
            results.send(("frame", Tracked(frame.index, frame.ts, faces, generation, forced,
                                           skipped=frame.skipped), (*state, beat)))
            sent_state, sent_at = state, time.monotonic()
    except (BrokenPipeError, ConnectionResetError):  # the parent is gone: nobody to tell
        return 0
    finally:
        with contextlib.suppress(Exception):
            reader.stop()
    return 0
