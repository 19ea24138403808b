"""The motion gate: whether a video frame is worth a detection, and where it changed."""

from __future__ import annotations

import cv2
import numpy as np

from ..config import MotionConfig, default
from ..core.models import Box


class MotionGate:
    """Whether a video frame differs enough from the last one the detector saw to detect again, and where.

    An empty doorway should cost close to nothing: HOG is most of a frame's cost,
    and when the picture has not changed it cannot find a face it did not find
    before. The frame is reduced to a tiny grey thumbnail (``side`` px on the long
    side, a cell averaging some 30 × 30 pixels of a 1080p frame, so sensor noise
    averages out) and compared with the thumbnail of the last detection: if no
    cell changed by ``threshold`` grey levels or more, detection is skipped. The
    comparison is with the last *detected* frame, not the previous one, so slow
    changes add up; and every ``check_every_s`` the detector runs on the whole frame
    anyway, so a person standing still (or a change too faint for the gate) is still found.
    A false alarm only costs the detection frd would have run without the gate.

    With nobody followed (``idle``), the periodic check is itself skipped while the picture is *still*:
    no cell changed by half the threshold since the last detection. On the same pixels the
    detector can only find what it found then (nobody), and that check is what an empty doorway pays
    most for (a whole-frame detection every 2 s: 15 ms, half of an idle camera's frame loop). A change
    under the gate's threshold but over half of it (a far person whose face moves a cell's mean a few
    grey levels) still gets its periodic check, and a still picture is checked anyway every
    ``STILL_PERIODS`` periods.

    :meth:`check` also says *where* the picture changed (the changed cells' bounding box, with a margin
    of ``margin`` cells), so the tracker can detect there at the camera's full detail: a far person
    is a few pixels of the frame reduced to the detector's working size, but all of theirs in a crop.
    ``skip=False`` (``motion.enabled: false``) never skips a detection; the region is still given.
    """

    #: A still picture with nobody followed is detected whole at least every this many periodic checks.
    STILL_PERIODS = 5

    def __init__(self, threshold: float = default(MotionConfig, "threshold"),
                 check_every_s: float = default(MotionConfig, "check_every_s"), side: int = 64, margin: int = 2,
                 skip: bool = default(MotionConfig, "enabled")) -> None:
        if threshold <= 0 or check_every_s <= 0 or side < 4 or margin < 0:
            raise ValueError("threshold and check_every_s must be > 0, side >= 4, margin >= 0")
        self.threshold = threshold
        self.check_every_s = check_every_s
        self.side = side
        self.margin = margin
        self.skip = skip
        self.skipped = 0
        #: Periodic checks skipped because the picture was still and nobody was followed (in ``skipped`` too).
        self.still_skipped = 0
        self._ref: np.ndarray | None = None
        self._full_t = float("-inf")  # the last whole-frame check
        self._due_t = float("-inf")  # when the next periodic check is due

    def thumbnail(self, img: np.ndarray, bgr: bool = False) -> np.ndarray:
        """The grey thumbnail of an RGB (``bgr``: BGR) or grey frame: every pixel of a 4×-larger grid
        sampled, then averaged 4 × 4 (0.18 ms on 1080p; averaging every pixel costs 1.4 ms, which an idle
        camera pays ten times a second)."""
        h, w = img.shape[:2]
        scale = self.side / max(h, w)
        size = (max(round(w * scale), 1), max(round(h * scale), 1))
        grid = (min(4 * size[0], w), min(4 * size[1], h))
        small = cv2.resize(cv2.resize(img, grid, interpolation=cv2.INTER_NEAREST), size, interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY if bgr else cv2.COLOR_RGB2GRAY) if small.ndim == 3 else small

    def check(self, img: np.ndarray, now: float, bgr: bool = False, idle: bool = False) -> tuple[bool, Box | None]:
        """(detect?, where): ``where`` is the box of the frame that changed since the last detection (frame
        pixels), or None for the whole frame: no reference yet, the periodic check, or (``skip=False``) no
        change. ``bgr``: the frame is a camera's BGR. ``idle``: nobody is followed, so a still picture
        needs no periodic check (see the class)."""
        thumb = self.thumbnail(img, bgr)
        ref = self._ref
        if ref is None or ref.shape != thumb.shape:
            self._ref, self._full_t, self._due_t = thumb, now, now + self.check_every_s
            return True, None
        diff = cv2.absdiff(thumb, ref)
        if now >= self._due_t:
            if (idle and self.skip and int(diff.max()) * 2 < self.threshold
                    and now - self._full_t < self.check_every_s * self.STILL_PERIODS):
                self._due_t = now + self.check_every_s
                self.skipped += 1
                self.still_skipped += 1
                return False, None
            self._ref, self._full_t, self._due_t = thumb, now, now + self.check_every_s
            return True, None
        ys, xs = np.nonzero(diff >= self.threshold)
        if not len(xs):
            if self.skip:
                self.skipped += 1
                return False, None
            self._ref = thumb
            return True, None
        self._ref = thumb
        h, w = img.shape[:2]
        th, tw = thumb.shape
        m = self.margin
        x0, x1 = max(int(xs.min()) - m, 0) * w // tw, min(int(xs.max()) + 1 + m, tw) * w // tw
        y0, y1 = max(int(ys.min()) - m, 0) * h // th, min(int(ys.max()) + 1 + m, th) * h // th
        return True, Box(x0, y0, x1 - x0, y1 - y0)

    def should_detect(self, img: np.ndarray, now: float, bgr: bool = False) -> bool:
        """True when the frame changed since the last detection or the periodic check is due."""
        return self.check(img, now, bgr)[0]

    def reset(self) -> None:
        """Detect at the next chance (the tracks were dropped, e.g. after a gallery change)."""
        self._ref = None
