"""A snapshot asked of a camera (``cmd/snapshot``): asked on the command thread, taken with the next frame the
camera's tracker processes, by whoever runs that tracker (the camera's worker, or its child process).

The frame is drawn on and encoded there (:func:`edged.vision.snapshot.render`) and only the JPEG leaves; the
asker publishes it once and keeps nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..vision.snapshot import Snapshot, SnapshotFace, render
from .track import FaceTracker, TrackedFace


@dataclass
class _Request:
    max_side: int
    done: threading.Event = field(default_factory=threading.Event)
    result: Snapshot | None = None


class SnapshotSlot:
    """One camera's pending snapshot: at most one at a time (a second asker meanwhile gets the same frame)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: _Request | None = None

    def ask(self, max_side: int, timeout: float, on_new: Callable[[int], None] | None = None) -> Snapshot | None:
        """Wait up to ``timeout`` for the next processed frame's snapshot (None: no frame came). ``on_new`` is
        called when this ask starts a request (a camera process is told to take one)."""
        with self._lock:
            req, new = (self._pending, False) if self._pending is not None else (_Request(max_side), True)
            self._pending = req
        if new and on_new is not None:
            on_new(max_side)
        req.done.wait(timeout)
        with self._lock:
            if self._pending is req:  # nobody took it: the next ask starts afresh
                self._pending = None
        return req.result

    def wanted(self) -> int | None:
        """The ``max_side`` of the pending request (None: no snapshot is asked for)."""
        req = self._pending
        return None if req is None else req.max_side

    def fulfil(self, snapshot: Snapshot) -> None:
        with self._lock:
            req, self._pending = self._pending, None
        if req is not None:
            req.result = snapshot
            req.done.set()


def take(tracker: FaceTracker, image: np.ndarray, bgr: bool, tracked: list[TrackedFace], max_side: int) -> Snapshot:
    """The snapshot of a frame the tracker has just processed: its followed faces, labelled with the tracker's
    verdict, green when big enough to be named (the quality gate's size limit), orange when only followed."""
    side = min(image.shape[:2])
    gate = tracker.gate
    named_from = (max(gate.min_face_px, gate.min_face_frac * side) if gate is not None
                  else tracker.detector.min_side(*image.shape[:2]))
    faces = []
    for t in tracked:
        r = t.recognition
        nameable = gate is None or not gate.small(r.face_px, side)
        label = (r.name or ("..." if r.pending else "unknown")) if nameable else "too small"
        faces.append(SnapshotFace(r.box, label, nameable))
    return render(image, bgr=bgr, faces=faces, working_side=tracker.detector.working_side,
                  named_from_px=round(named_from), max_side=max_side)
