"""Five-point landmark alignment to the embedder's square chip.

dlib's 5-point predictor (eye corners and the base of the nose) is small
(9 MB), fast (under a millisecond a face) and enough for a similarity
transform, which is all FaceNet needs.
"""

from __future__ import annotations

from pathlib import Path

import dlib
import numpy as np

from .detect import to_dlib
from .models import Box

#: Border around the landmark-normalised face, as a fraction of the face.
#: Chosen on data (models/README.md, "Alignment padding"): FaceNet 20180408
#: was trained on loose MTCNN crops, so a tight dlib chip loses accuracy.
DEFAULT_PADDING = 0.35
CHIP_SIZE = 160


def points(shape: dlib.full_object_detection) -> np.ndarray:
    """The fitted landmarks as a (parts, 2) float array of frame pixels."""
    return np.array([[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)], float)


class Aligner:
    """Fits 5 landmarks in a face box and warps the face to a square chip."""

    def __init__(self, predictor_path: Path | str, size: int = CHIP_SIZE, padding: float = DEFAULT_PADDING) -> None:
        self._predictor = dlib.shape_predictor(str(predictor_path))
        self.size = size
        self.padding = padding

    @property
    def recipe(self) -> str:
        """How the chip is cut (the manifest and embedding caches record it: another cut, other embeddings)."""
        return f"dlib get_face_chip padding {self.padding} size {self.size}"

    def landmarks(self, rgb: np.ndarray, box: Box) -> dlib.full_object_detection:
        return self._predictor(rgb, to_dlib(box))

    def chip(self, rgb: np.ndarray, box: Box) -> np.ndarray:
        """The aligned ``size``×``size`` RGB uint8 chip of the face in ``box``."""
        return self.chip_and_points(rgb, box)[0]

    def chip_and_points(self, rgb: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray]:
        """The chip and the five landmarks it was aligned on ((5, 2) frame pixels, for the quality check)."""
        shape = self.landmarks(rgb, box)
        chip = np.ascontiguousarray(dlib.get_face_chip(rgb, shape, size=self.size, padding=self.padding))
        return chip, points(shape)

    def chip_whole(self, rgb: np.ndarray) -> np.ndarray:
        """Chip of an image that already is a face crop: fit landmarks on all of it."""
        h, w = rgb.shape[:2]
        return self.chip(rgb, Box(0, 0, w, h))
