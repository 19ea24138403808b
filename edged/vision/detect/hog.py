"""dlib's HOG face detector.

HOG is CPU-only, needs no model file and is what the 2018 design used; the minimum face size keeps far-away
passers-by (the seed ignored faces under 5 % of the frame) from costing an embedding (video passes its own,
smaller floor to :meth:`~.base.Detector.detect_in` and leaves naming to the quality gate).
"""

from __future__ import annotations

import dlib
import numpy as np

from ...config import RecognitionConfig, default
from ...core.models import Box
from .base import Detector
from .resize import kept_boxes, region_part


class HogDetector(Detector):
    """dlib HOG frontal face detector with upsampling and a minimum face size (:class:`~.base.Detector`)."""

    #: The video tracker gives HOG the grey frame (30 % cheaper, same faces).
    colour = False
    #: Its name in ``recognition.detector`` (recorded in the calibration it made).
    name = "hog"

    def __init__(
        self, upsample: int = default(RecognitionConfig, "upsample"),
        min_face_px: int = default(RecognitionConfig, "min_face_px"), min_face_frac: float = 0.0,
        max_side: int | None = None,
    ) -> None:
        if upsample < 0:
            raise ValueError("upsample must be >= 0")
        # Larger images are shrunk for detection only (a 12 MP still or a 1080p frame costs many times the HOG
        # of its reduced version; the price is that HOG's smallest face, 80 px at upsample 0, is 80 px of the
        # reduced image); landmarks use full resolution.
        super().__init__(min_face_px, min_face_frac, max_side)
        self.upsample = upsample
        self._hog = dlib.get_frontal_face_detector()

    def with_max_side(self, max_side: int | None) -> HogDetector:
        """The same detector at another working size (a camera's own ``detect_max_side``)."""
        return HogDetector(self.upsample, self.min_face_px, self.min_face_frac, max_side)

    @property
    def working_side(self) -> int | None:
        """The long side images are reduced to for detection (None: never reduced)."""
        return self.max_side

    def detect_in(self, image: np.ndarray, region: Box | None, min_side: float, bgr: bool = False) -> list[Box]:
        """Faces of at least ``min_side`` px inside ``region`` of the image (None: all of it), in image pixels
        (``bgr``: a camera's colour order, which HOG's gradients do not depend on).

        The region is cut at full resolution and reduced only when it is larger than the working size (or
        has more pixels than the whole frame reduced to it: the cost stays bounded), so a small region
        keeps the detail the whole frame reduced would lose (the video tracker's moving parts,
        :class:`~edged.vision.motion.MotionGate`)."""
        h, w = image.shape[:2]
        small, scale, ox, oy = region_part(image, region, self.max_side)
        rects = self._hog(small, self.upsample)
        self.calls += 1
        self.last_size = small.shape[:2]
        corners = [(ox + r.left() / scale, oy + r.top() / scale, ox + (r.right() + 1) / scale,
                    oy + (r.bottom() + 1) / scale) for r in rects]
        return kept_boxes(corners, h, w, min_side)

    @property
    def recipe(self) -> str:
        """What decides the boxes it gives (a cache of embeddings keys on it)."""
        return f"hog upsample {self.upsample} max_side {self.max_side} min {self.min_face_px}/{self.min_face_frac}"
