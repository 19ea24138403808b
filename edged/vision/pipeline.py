"""Detect → align → embed → match for one frame, with per-stage timing.

The pieces are handed in (``app.py`` and the CLI build them), so the same
pipeline serves the daemon, the CLI, the evaluation and the benchmark.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..core.models import Box, Face, Recognition
from .align import Aligner
from .detect.base import Detector
from .match import Matcher
from .quality import too_small

#: The smallest face a photo's detection reports at all: those under the detector's minimum (``min_face_px``,
#: ``min_face_frac``) are not embedded, but said to be too small rather than not there (YuNet finds faces from
#: about 10 px; the tracker follows faces from ``recognition.follow_min_face_px``, 12).
SMALLEST_FACE_PX = 10
#: Recorded with embeddings made from photos (edged.tools.calibrate's caches and calibration).
SUBJECT_RULE = "subject: largest face unless one nearer the centre scores higher (area - 2 * offset^2)"


def subject(boxes: list[Box], width: int, height: int) -> Box:
    """The face a photo is *of*: the largest, unless a smaller one sits much nearer the middle.

    A bystander's larger face at the edge of an enrollment photo must not be enrolled under the name.
    The rule is the one FaceNet's authors cut their training and LFW faces with (the box's area minus twice
    the squared distance of its centre from the photo's); on LFW it picks another face than the largest in
    11 of 5,541 photos, and in every fold that fixed pairs and broke none (README, "Strangers stay strangers").
    """
    def score(b: Box) -> float:
        dx, dy = b.x + b.w / 2 - width / 2, b.y + b.h / 2 - height / 2
        return b.w * b.h - 2.0 * (dx * dx + dy * dy)
    return max(boxes, key=score)  # the first (largest) wins a tie


class Embedder(Protocol):
    """Anything that turns aligned chips into unit embeddings and names its model."""

    sha256: str
    name: str

    def embed(self, chips: np.ndarray) -> np.ndarray: ...


class StageTimer:
    """Accumulated seconds and call counts per pipeline stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def add(self, stage: str, seconds: float, n: int = 1) -> None:
        self.seconds[stage] += seconds
        self.calls[stage] += n

    def ms_per_call(self) -> dict[str, float]:
        return {k: 1000 * self.seconds[k] / max(self.calls[k], 1) for k in self.seconds}


@dataclass
class Pipeline:
    detector: Detector
    aligner: Aligner
    embedder: Embedder
    matcher: Matcher
    #: Detector for photos (enrollment images): upsampled, with large images shrunk.
    still_detector: Detector | None = None
    timer: StageTimer = field(default_factory=StageTimer)

    def faces(self, rgb: np.ndarray, aligned: bool = False, subject_only: bool = False, still: bool = False
              ) -> list[Face]:
        """Aligned, embedded faces of a frame, largest first.

        ``aligned``: the frame is one face crop; ``still``: a photo, not a video frame; ``subject_only``: only
        the face the photo is of (:func:`subject`).
        """
        boxes, _ = self.detect(rgb, aligned, still)
        if subject_only and boxes:
            boxes = [subject(boxes, rgb.shape[1], rgb.shape[0])]
        return self._embedded(rgb, boxes)

    def subject_face(self, rgb: np.ndarray, aligned: bool = False) -> tuple[Face | None, int, str | None]:
        """The face a photo is of (:func:`subject`), how many faces it holds (so enrollment can say which one
        it took when there were several), and, when it has none frd can use, why (a face too small)."""
        boxes, small = self.detect(rgb, aligned, still=True)
        if not boxes:
            return None, 0, too_small(small[0], self._floor(rgb, still=True)) if small else None
        return self._embedded(rgb, [subject(boxes, rgb.shape[1], rgb.shape[0])])[0], len(boxes), None

    def _floor(self, rgb: np.ndarray, still: bool) -> int:
        """The smallest face (px) the detector of a photo or a frame keeps in ``rgb``."""
        detector = self.still_detector if still and self.still_detector else self.detector
        return math.ceil(detector.min_side(*rgb.shape[:2]))

    def detect(self, rgb: np.ndarray, aligned: bool = False, still: bool = False) -> tuple[list[Box], list[Box]]:
        """(the faces of at least the detector's minimum size, largest first; the faces it found under it).

        One detection: the faces under the minimum are those it drops (:func:`too_small` says so, where
        "no face" would be wrong); the others are exactly what the detector's own minimum keeps."""
        t0 = time.perf_counter()
        if aligned:
            h, w = rgb.shape[:2]
            boxes, small = [Box(0, 0, w, h)], []
        else:
            detector = self.still_detector if still and self.still_detector else self.detector
            floor = detector.min_side(*rgb.shape[:2])
            found = detector.detect_in(rgb, None, min(floor, SMALLEST_FACE_PX))
            boxes = [b for b in found if min(b.w, b.h) >= floor]
            small = [b for b in found if min(b.w, b.h) < floor]
        self.timer.add("detect", time.perf_counter() - t0)
        return boxes, small

    def _embedded(self, rgb: np.ndarray, boxes: list[Box]) -> list[Face]:
        if not boxes:
            return []
        t1 = time.perf_counter()
        faces = []
        for b in boxes:
            chip, points = self.aligner.chip_and_points(rgb, b)
            faces.append(Face(b, chip, points=points))
        t2 = time.perf_counter()
        self.timer.add("align", t2 - t1, len(faces))
        emb = self.embedder.embed(np.stack([f.chip for f in faces]))
        for f, e in zip(faces, emb, strict=True):
            f.embedding = e
        self.timer.add("embed", time.perf_counter() - t2, len(faces))
        return faces

    def recognize_faces(self, rgb: np.ndarray, aligned: bool = False) -> tuple[list[Face], list[Recognition]]:
        """The faces of a frame and who they are (faces are kept for capture enrollment); faces found under the
        minimum size follow, unnamed, with the reason (:attr:`Recognition.quality`)."""
        boxes, small = self.detect(rgb, aligned, still=False)
        faces = self._embedded(rgb, boxes)
        recs = []
        if faces:
            t0 = time.perf_counter()
            matches = self.matcher.match(np.stack([f.embedding for f in faces]))
            self.timer.add("match", time.perf_counter() - t0, len(faces))
            recs = [Recognition(f.box, m.name, m.score, m.best, f.face_px) for f, m in zip(faces, matches, strict=True)]
        if small:
            floor = self._floor(rgb, still=False)
            recs += [Recognition(b, None, 0.0, None, min(b.w, b.h), quality=too_small(b, floor)) for b in small]
        return faces, recs

    def recognize(self, rgb: np.ndarray, aligned: bool = False) -> list[Recognition]:
        return self.recognize_faces(rgb, aligned=aligned)[1]
