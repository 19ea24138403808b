"""Face detection with dlib's HOG detector.

HOG is CPU-only, needs no model file and is what the 2018 design used; the
minimum face size keeps far-away passers-by (the seed ignored faces under 5 %
of the frame) from costing an embedding.
"""

from __future__ import annotations

import cv2
import dlib
import numpy as np

from .models import Box

__all__ = ["Box", "Detector", "to_dlib"]


def to_dlib(box: Box) -> dlib.rectangle:
    """The box as dlib's inclusive rectangle (the landmark predictor takes it)."""
    return dlib.rectangle(box.x, box.y, box.x + box.w - 1, box.y + box.h - 1)


class Detector:
    """dlib HOG frontal face detector with upsampling and a minimum face size.

    ``min_face_px`` is the smallest face side in pixels; ``min_face_frac`` the
    smallest face side as a fraction of the frame's shorter side. A face must
    pass both.
    """

    def __init__(
        self, upsample: int = 0, min_face_px: int = 40, min_face_frac: float = 0.0, max_side: int | None = None
    ) -> None:
        if upsample < 0:
            raise ValueError("upsample must be >= 0")
        self.upsample = upsample
        self.min_face_px = min_face_px
        self.min_face_frac = min_face_frac
        #: Larger images are shrunk for detection only (a 12 MP still costs
        #: seconds of HOG and gains nothing); landmarks use full resolution.
        self.max_side = max_side
        self._hog = dlib.get_frontal_face_detector()

    def detect(self, rgb: np.ndarray) -> list[Box]:
        """Faces in an RGB (or grey) uint8 image, largest first."""
        h, w = rgb.shape[:2]
        scale = 1.0
        small = rgb
        if self.max_side and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        rects = self._hog(small, self.upsample)
        min_side = max(self.min_face_px, self.min_face_frac * min(h, w))
        boxes = []
        for r in rects:
            x0, y0 = max(round(r.left() / scale), 0), max(round(r.top() / scale), 0)
            x1, y1 = min(round((r.right() + 1) / scale), w), min(round((r.bottom() + 1) / scale), h)
            box = Box(x0, y0, x1 - x0, y1 - y0)
            if box.w > 0 and box.h > 0 and min(box.w, box.h) >= min_side:
                boxes.append(box)
        boxes.sort(key=lambda b: b.area, reverse=True)
        return boxes
