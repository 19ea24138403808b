"""What every face detector is to the pipeline and the tracker (:class:`Detector`)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ...core.models import Box


class Detector(ABC):
    """A face detector: faces of at least a minimum size, largest first, as boxes in image pixels.

    ``min_face_px`` is the smallest face side in pixels; ``min_face_frac`` the smallest face side as a
    fraction of the frame's shorter side. A face must pass both. Images larger than the working size
    (:attr:`working_side`, from ``max_side``) are reduced for detection only; landmarks and chips are cut at
    full resolution.
    """

    #: Whether the video tracker gives it the colour frame (else the grey one).
    colour: bool
    #: Its name in ``recognition.detector`` (:data:`edged.config.DETECTORS`; recorded in the calibration it made).
    name: str

    def __init__(self, min_face_px: int, min_face_frac: float, max_side: int | None) -> None:
        self.min_face_px = min_face_px
        self.min_face_frac = min_face_frac
        self.max_side = max_side
        #: Detector runs so far, and the (height, width) of the last image it saw (after reduction).
        self.calls = 0
        self.last_size: tuple[int, int] | None = None

    @abstractmethod
    def with_max_side(self, max_side: int | None) -> Detector:
        """The same detector at another working size (a camera's own ``detect_max_side``)."""

    @property
    @abstractmethod
    def working_side(self) -> int | None:
        """The long side images are reduced to for detection (None: never reduced)."""

    @property
    @abstractmethod
    def recipe(self) -> str:
        """What decides the boxes it gives (a cache of embeddings keys on it)."""

    def min_side(self, h: int, w: int) -> float:
        """The smallest face side kept in an ``h`` × ``w`` image (``min_face_px`` and ``min_face_frac``)."""
        return max(self.min_face_px, self.min_face_frac * min(h, w))

    def detect(self, image: np.ndarray) -> list[Box]:
        """Faces in an RGB (or grey) uint8 image, largest first, of at least :meth:`min_side`."""
        h, w = image.shape[:2]
        return self.detect_in(image, None, self.min_side(h, w))

    @abstractmethod
    def detect_in(self, image: np.ndarray, region: Box | None, min_side: float, bgr: bool = False) -> list[Box]:
        """Faces of at least ``min_side`` px inside ``region`` of the image (None: all of it), in image pixels,
        largest first. ``bgr``: the image is a camera's BGR (else RGB or grey)."""
