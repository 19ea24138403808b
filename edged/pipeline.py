"""Detect → align → embed → match for one frame, with per-stage timing.

The pieces are handed in (``app.py`` and the CLI build them), so the same
pipeline serves the daemon, the CLI, the evaluation and the benchmark.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .align import Aligner
from .detect import Detector
from .match import Matcher
from .models import Box, Face, Recognition

__all__ = ["Embedder", "Face", "Pipeline", "Recognition", "StageTimer"]


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

    def faces(self, rgb: np.ndarray, aligned: bool = False, largest_only: bool = False, still: bool = False
              ) -> list[Face]:
        """Aligned, embedded faces of a frame, largest first.

        ``aligned``: the frame is one face crop; ``still``: a photo, not a video frame.
        """
        t0 = time.perf_counter()
        if aligned:
            h, w = rgb.shape[:2]
            boxes = [Box(0, 0, w, h)]
        else:
            detector = self.still_detector if still and self.still_detector else self.detector
            boxes = detector.detect(rgb)
        t1 = time.perf_counter()
        self.timer.add("detect", t1 - t0)
        if not boxes:
            return []
        if largest_only:
            boxes = boxes[:1]
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
        """The faces of a frame and who they are (faces are kept for capture enrollment)."""
        faces = self.faces(rgb, aligned=aligned)
        if not faces:
            return [], []
        t0 = time.perf_counter()
        matches = self.matcher.match(np.stack([f.embedding for f in faces]))
        self.timer.add("match", time.perf_counter() - t0, len(faces))
        recs = [Recognition(f.box, m.name, m.score, m.best, f.face_px) for f, m in zip(faces, matches, strict=True)]
        return faces, recs

    def recognize(self, rgb: np.ndarray, aligned: bool = False) -> list[Recognition]:
        return self.recognize_faces(rgb, aligned=aligned)[1]
