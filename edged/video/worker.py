"""One camera's trip from a frame to events: tracker, ignore list, unknown faces, event rules.

``app.py`` builds one :class:`CameraWorker` per camera; the daemon hands it the
frames it schedules and publishes the events it returns. Nothing here knows
about MQTT. The worker is given the lock that guards its pipeline parts (TFLite
and the detectors are not thread-safe): with one camera the people service's
lock (the camera shares the pipeline with enrollment), with several cameras as
threads a lock of its own, since each camera then has its own interpreter and
detector and runs in its own thread (``app.build_daemon``). The matcher is
shared: it swaps in a new gallery as one object, so it needs no lock to be read.

With several cameras as processes (:mod:`edged.video.camproc`), the tracker runs in
the camera's child process and the worker has none: the daemon hands it each
frame's tracked faces (:meth:`CameraWorker.process_tracked`) and the steps after
the tracker run here, in the process that holds the shared state, unchanged.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np

from ..core.models import Event
from ..service.people import Capture
from ..store.ignore import IgnoreList
from ..store.unknowns import Sample, UnknownFaces
from ..vision.match import Matcher
from ..vision.quality import assess, enrollment_verdict
from ..vision.snapshot import Snapshot
from .events import EventEngine
from .look import SnapshotSlot, take
from .track import FaceTracker, TrackedFace


class IgnoreCheck:
    """Which faces are ignored: closer to an ignored face than to anyone enrolled, by a matcher of their own.

    The matcher is built like the recognition matcher (same calibration, strictness, threshold), so an
    ignored face is judged exactly as a person would be.
    """

    def __init__(self, ignored: IgnoreList, matcher: Matcher) -> None:
        self.ignored = ignored
        self.matcher = matcher
        self.refresh()

    def refresh(self) -> None:
        """Match against the list as it is now (callers hold the pipeline lock once workers run)."""
        self.matcher.set_gallery(self.ignored.gallery())

    def ignored_tracks(self, faces: list[TrackedFace]) -> set[int]:
        """The tracks among ``faces`` (embedded in this frame) that an ignored face claims."""
        if not faces or not self.matcher.names:
            return set()
        matches = self.matcher.match(np.stack([t.face.embedding for t in faces]))
        return {t.track for t, m in zip(faces, matches, strict=True)
                if m.name is not None and (t.recognition.best is None or m.score > t.recognition.score)}


class CameraWorker:
    """Frames of one camera in, events out (README, "Layout": a frame's trip)."""

    def __init__(self, camera: str, tracker: FaceTracker | None, engine: EventEngine, *, lock: threading.Lock,
                 captures: list[Capture], ignore: IgnoreCheck | None, unknowns: UnknownFaces | None,
                 keep_chips: bool = False) -> None:
        self.camera = camera
        #: None: the camera's tracker runs in a child process (:meth:`process_tracked`)
        self.tracker = tracker
        self.engine = engine
        self._lock = lock
        self._captures = captures  # the people service's pending captures (under ``lock``)
        self.ignore = ignore
        #: unknown faces held to be named (None: ``unknown_faces.keep`` is 0 and nothing is held)
        self.unknowns = unknowns
        self._ignored: set[int] = set()  # tracks an ignored face claimed, for as long as they are followed
        #: ``homeassistant.face_image``: the last chip of each followed track, handed out with its event
        self.keep_chips = keep_chips
        self._chips: dict[int, np.ndarray] = {}
        #: how many faces the tracker followed in the last frame (Home Assistant's "faces now")
        self.faces_now = 0
        self._reset = threading.Event()
        #: a snapshot asked for (``cmd/snapshot``), taken with the next frame this worker's tracker processes
        self.snapshots = SnapshotSlot()

    def snapshot(self, max_side: int, timeout: float) -> Snapshot | None:
        """The next frame's snapshot (None: no frame within ``timeout``); see :mod:`.look`."""
        return self.snapshots.ask(max_side, timeout)

    def reset(self) -> None:
        """Forget followed faces (the matcher or the ignore list changed): every face is judged afresh.

        Done by the worker itself before its next frame, under its lock: the change's thread holds the
        people service's lock, and must not wait for a frame in flight on another camera's thread. The
        matcher is already new when this is called, so no frame after it meets an old verdict.
        """
        self._reset.set()

    def _forget(self) -> None:
        self._ignored.clear()
        self._chips.clear()

    def pending_captures(self) -> list[Capture]:
        """This camera's pending captures: a copy taken at once (the command thread adds and removes captures
        under the people service's lock, which a camera with a lock of its own does not hold); a capture is
        offered only by its camera."""
        return [c for c in tuple(self._captures) if c.camera == self.camera]

    def process(self, image: np.ndarray, index: int, mono: float, bgr: bool = False, skipped: int = 0
                ) -> list[Event]:
        """A frame through the camera's own tracker, then :meth:`_judge` and :meth:`_announce` (``bgr``: the
        frame is a camera's BGR; ``skipped``: frames the camera passed over before it, see
        :meth:`idle_frames`)."""
        assert self.tracker is not None, "this camera's tracker runs in its own process"
        with self._lock:
            if self._reset.is_set():
                self._reset.clear()
                self.tracker.reset()
                self._forget()
            captures = self.pending_captures()
            faces = self.tracker.process(image, force_embed=bool(captures), bgr=bgr, skipped=skipped)
            look = self.snapshots.wanted()
            if look is not None:  # every followed face, the ignored ones too: it is a look through the camera
                self.snapshots.fulfil(take(self.tracker, image, bgr, faces, look))
            tracked = self._judge(faces, captures)
        return self._announce(tracked, index, mono)

    def idle_frames(self) -> int:
        """How many of the camera's next frames need not be read into images (the tracker's
        :meth:`~edged.video.track.FaceTracker.idle_frames`; none while a capture waits for this camera)."""
        if self.tracker is None or self.pending_captures() or self.snapshots.wanted() is not None:
            return 0
        return self.tracker.idle_frames()

    def process_tracked(self, tracked: list[TrackedFace], index: int, mono: float, *, fresh: bool,
                        embedded_all: bool) -> list[Event]:
        """A frame's faces from a tracker that runs elsewhere (the camera's child process): the same steps
        after the tracker as :meth:`process`.

        ``fresh``: the first frame after the tracker forgot its faces (a reset reached it), so this side
        forgets its own per-track state too. ``embedded_all``: the tracker embedded every face of the frame
        (it knew of a pending capture); only such a frame feeds a capture, which must see every face.
        """
        with self._lock:
            if fresh:
                self._forget()
            tracked = self._judge(tracked, self.pending_captures() if embedded_all else [])
        return self._announce(tracked, index, mono)

    def _judge(self, tracked: list[TrackedFace], captures: list[Capture]) -> list[TrackedFace]:
        """Count the faces, feed the captures, leave out ignored faces (under the worker's lock)."""
        self.faces_now = len(tracked)
        for cap in captures:
            embedded = [t for t in tracked if t.face is not None]
            cap.offer([t.face for t in embedded], time.monotonic(), [t.gated for t in embedded])
        if self.ignore is not None:
            tracked = self._not_ignored(tracked)
        return tracked

    def _announce(self, tracked: list[TrackedFace], index: int, mono: float) -> list[Event]:
        """Unknown faces held, the event rules, each event's chip and face id."""
        if self.unknowns is not None:
            self._hold_unknowns(tracked)
        events = self.engine.feed(index, [t.recognition for t in tracked], mono)
        if self.keep_chips:
            events = self._with_chips(tracked, events)
        if self.unknowns is not None:  # every announced face, named or not, gets an id (cmd/reassign)
            events = [dataclasses.replace(ev, face_id=self.unknowns.announce(self.camera, ev.track, ev.name,
                                                                             ev.event_id)) for ev in events]
        return events

    def _with_chips(self, tracked: list[TrackedFace], events: list[Event]) -> list[Event]:
        """Each event with its track's latest chip; chips of tracks no longer followed are dropped at once."""
        self._chips = {t.track: (np.array(t.face.chip) if t.face is not None else self._chips[t.track])
                       for t in tracked if t.face is not None or t.track in self._chips}
        return [dataclasses.replace(ev, chip=self._chips.get(ev.track)) if ev.track is not None else ev
                for ev in events]

    def _not_ignored(self, tracked: list[TrackedFace]) -> list[TrackedFace]:
        """The faces no ignored face claims; a claimed track stays left out while it is followed."""
        assert self.ignore is not None
        self._ignored &= {t.track for t in tracked}
        fresh = [t for t in tracked if t.track not in self._ignored and t.face is not None
                 and t.face.embedding is not None]
        self._ignored |= self.ignore.ignored_tracks(fresh)
        return [t for t in tracked if t.track not in self._ignored]

    def _hold_unknowns(self, tracked: list[TrackedFace]) -> None:
        """Hand the store the chips of every followed face, named or not: a wrong name is fixed from them."""
        assert self.unknowns is not None
        for t in tracked:
            if t.face is not None and t.face.embedding is not None:
                q = assess(t.face.face_px, t.face.chip, t.face.points)
                self.unknowns.offer(self.camera, t.track, Sample(
                    np.array(t.face.chip), np.array(t.face.embedding), t.face.box, q.sharpness,
                    usable=enrollment_verdict(q)[0] is None and t.gated is None))
        self.unknowns.followed(self.camera, [t.track for t in tracked])
