"""Video fast path: detect every few frames, follow faces in between, embed until settled.

On a 640×360 clip HOG detection is most of the cost of a frame and the
embedding most of the cost of a face (README, "Speed"). Neither is needed on
every frame: between detections a face is followed by refitting its 5
landmarks on the previous box (under half a millisecond), and once a face's
identity has been the same for ``settle_frames`` embeddings it is only
re-checked every ``reverify_frames`` frames. The shortcuts are bounded:

- a face that enters is found at the next detection, at most
  ``detect_every - 1`` frames late;
- a face that leaves is dropped at the next detection;
- a followed face that changes identity (two people crossing) is caught at the
  next re-check, and a disagreement unsettles it so it is embedded every frame
  again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import dlib
import numpy as np

from .align import Aligner
from .detect import Box, Detector
from .match import Matcher
from .pipeline import Embedder, Face, Recognition, StageTimer
from .vote import iou


@dataclass
class Track:
    id: int
    box: Box
    shape: dlib.full_object_detection
    name: str | None = None
    best: str | None = None
    score: float = 0.0
    settled: bool = False
    agree: int = 0  # consecutive embeddings with the same result
    last_embed: int = -(10**9)


@dataclass
class TrackedFace:
    """One face in one frame; ``face`` (chip + embedding) only when it was embedded in this frame."""

    track: int
    recognition: Recognition
    face: Face | None


def _center(shape: dlib.full_object_detection) -> tuple[float, float]:
    pts = [(shape.part(i).x, shape.part(i).y) for i in range(shape.num_parts)]
    return float(np.mean([p[0] for p in pts])), float(np.mean([p[1] for p in pts]))


@dataclass
class FaceTracker:
    """Per-camera state for the fast path; share detector/aligner/embedder/matcher between cameras."""

    detector: Detector
    aligner: Aligner
    embedder: Embedder
    matcher: Matcher
    detect_every: int = 3
    settle_frames: int = 3
    reverify_frames: int = 15
    min_iou: float = 0.3
    timer: StageTimer = field(default_factory=StageTimer)
    tracks: list[Track] = field(default_factory=list)
    _frame: int = 0
    _next_id: int = 0

    def process(self, rgb: np.ndarray, force_embed: bool = False) -> list[TrackedFace]:
        """Faces of the next frame of this camera; ``force_embed`` embeds every face (capture enrollment)."""
        index = self._frame
        self._frame += 1
        t0 = time.perf_counter()
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)  # HOG and landmarks work on grey: 30 % cheaper
        if index % self.detect_every == 0:

            self._detect(gray, index)
            t1 = time.perf_counter()
            self.timer.add("detect", t1 - t0)
        else:
            self._follow(gray)
            t1 = time.perf_counter()
            self.timer.add("track", t1 - t0, max(len(self.tracks), 1))
        due = [t for t in self.tracks if force_embed or not t.settled or index - t.last_embed >= self.reverify_frames]
        faces: dict[int, Face] = {}
        if due:
            chips = np.stack([np.ascontiguousarray(dlib.get_face_chip(rgb, t.shape, size=self.aligner.size,
                                                                       padding=self.aligner.padding)) for t in due])
            t2 = time.perf_counter()
            self.timer.add("align", t2 - t1, len(due))
            emb = self.embedder.embed(chips)
            t3 = time.perf_counter()
            self.timer.add("embed", t3 - t2, len(due))
            for t, chip, e, m in zip(due, chips, emb, self.matcher.match(emb), strict=True):
                self._update(t, m.name, m.best, m.score, index)
                faces[t.id] = Face(t.box, chip, e)
            self.timer.add("match", time.perf_counter() - t3, len(due))
        out = []
        for t in self.tracks:
            rec = Recognition(t.box, t.name, t.score, t.best, min(t.box.w, t.box.h))
            out.append(TrackedFace(t.id, rec, faces.get(t.id)))
        return out

    def _detect(self, gray: np.ndarray, index: int) -> None:
        boxes = self.detector.detect(gray)
        pairs = sorted(((iou(t.box, b), ti, bi) for ti, t in enumerate(self.tracks) for bi, b in enumerate(boxes)),
                       reverse=True)
        used_t, used_b, kept = set(), set(), []
        for overlap, ti, bi in pairs:
            if overlap < self.min_iou or ti in used_t or bi in used_b:
                continue
            used_t.add(ti)
            used_b.add(bi)
            t = self.tracks[ti]
            t.box = boxes[bi]
            t.shape = self.aligner.landmarks(gray, t.box)
            kept.append(t)
        for bi, b in enumerate(boxes):
            if bi not in used_b:
                kept.append(Track(self._next_id, b, self.aligner.landmarks(gray, b)))
                self._next_id += 1
        self.tracks = kept  # tracks no detection confirmed are gone

    def _follow(self, gray: np.ndarray) -> None:
        h, w = gray.shape[:2]
        for t in self.tracks:
            shape = self.aligner.landmarks(gray, t.box)
            (x0, y0), (x1, y1) = _center(t.shape), _center(shape)
            nx = round(min(max(t.box.x + x1 - x0, 0), w - t.box.w))
            ny = round(min(max(t.box.y + y1 - y0, 0), h - t.box.h))
            t.box = Box(nx, ny, t.box.w, t.box.h)
            t.shape = shape  # fitted on the previous box: a few pixels of motion do not disturb it


    def _update(self, t: Track, name: str | None, best: str | None, score: float, index: int) -> None:
        same = name == t.name
        if t.settled and not same:
            t.settled, t.agree = False, 0  # a re-check disagreed: back to embedding every frame
        t.agree = t.agree + 1 if same else 1
        t.name, t.best, t.score, t.last_embed = name, best, score, index
        if t.agree >= self.settle_frames:
            t.settled = True

    def reset(self) -> None:
        """Forget every face (after a gallery change, so identities are re-established)."""
        self.tracks = []
