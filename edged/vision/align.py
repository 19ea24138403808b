"""The embedder's chip: the face's box, placed by its landmarks, with a margin, squashed to a square.

FaceNet 20180408 was trained on faces cut as its authors cut them: MTCNN's box plus a fixed
margin, resized to 160×160 without keeping the aspect ratio. On LFW, through frd's photo path
and the int8 model, that cut is what separates 97.5 % from 98.5 % verification
(``benchmarks/chip.py``; models/README.md, "Which chip"): the landmark-rotated square chip of
dlib's ``get_face_chip`` (frd's earlier cut) loses a point, the model does not.

A detector's own box is that box, but a noisy one: YuNet's changes shape with the face's size in
its input (a photo and the same photo in a video frame gave chips whose embeddings agree at a cosine
of 0.980, against 0.997 for the landmark chip), and in video every frame is a new draw, so strangers
were announced four times as often as their photos were named. So the box is placed by dlib's five
landmarks, which are fitted on every face anyway (the quality check reads the turn from them, the
tracker follows faces by them): centred and sized on the points as YuNet's box is on average
(:data:`LANDMARK_BOX`), axis-aligned, plus :data:`CHIP_MARGIN` of its width on every side, squashed.
Any detector gives the same chip (HOG too).
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import dlib
import numpy as np

from ..core.models import Box

CHIP_SIZE = 160
#: The margin around the face box on every side, as a fraction of the box's width. Chosen on the LFW tuning
#: folds (models/README.md, "Which chip"): verification 0.9826 at 0.06, 0.9853 at 0.10, 0.9792 at 0.14.
CHIP_MARGIN = 0.10
#: YuNet's face box (forehead to chin) in units of the five landmarks' spread (the root mean square of their
#: distances from their centroid): its centre's offset from the centroid (``dx``, ``dy``) and its width and
#: height. Medians over the LFW tuning folds' photos (the spread varies 6 % around the box's width; the eye
#: distance 7 %).
LANDMARK_BOX = {"dx": 0.014, "dy": 0.357, "w": 4.01, "h": 5.30}


def to_dlib(box: Box) -> dlib.rectangle:
    """The box as dlib's inclusive rectangle (the landmark predictor takes it)."""
    return dlib.rectangle(box.x, box.y, box.x + box.w - 1, box.y + box.h - 1)


def chip_id(margin: float = CHIP_MARGIN, size: int = CHIP_SIZE) -> str:
    """A short name of a cut (:attr:`Aligner.chip_id`)."""
    return f"landmarkbox-{margin}-{size}"


def recipe(margin: float = CHIP_MARGIN, size: int = CHIP_SIZE) -> str:
    """How a chip is cut, in words (:attr:`Aligner.recipe`; the model manifest's preprocessing).

    The text is recorded (the shipped calibration, the model manifest) and keys the embedding caches, so it
    names this module as it was called when the text was first written (``edged.align``)."""
    return (f"the face box placed by dlib's 5 landmarks (edged.align.LANDMARK_BOX {LANDMARK_BOX}) + {margin} "
            f"of its width on every side, squashed to {size}x{size}")


def landmark_box(pts: np.ndarray) -> tuple[float, float, float, float]:
    """The face box (x, y, w, h) that five landmarks ((5, 2) frame pixels, dlib's) place (:data:`LANDMARK_BOX`)."""
    p = np.asarray(pts, float)
    c = p.mean(axis=0)
    spread = float(np.sqrt(((p - c) ** 2).sum(axis=1).mean()))
    m = LANDMARK_BOX
    w, h = m["w"] * spread, m["h"] * spread
    return c[0] + m["dx"] * spread - w / 2, c[1] + m["dy"] * spread - h / 2, w, h


def points(shape: dlib.full_object_detection) -> np.ndarray:
    """The fitted landmarks as a (parts, 2) float array of frame pixels."""
    return np.array([[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)], float)


def cut(image: np.ndarray, rect: tuple[float, float, float, float], size: int = CHIP_SIZE,
        margin: float = CHIP_MARGIN) -> np.ndarray:
    """The ``size``×``size`` chip of ``rect`` (x, y, w, h) plus ``margin`` of its width on every side,
    resized without keeping its aspect; outside the image the edge pixels are repeated.

    A face much larger than the chip (a door camera's 1080p close-up) is first reduced by a whole factor,
    averaging whole blocks of pixels, so the bilinear resampling does not skip most of them (aliasing)."""
    x, y, w, h = rect
    pad = margin * w
    x0, y0, cw, ch = x - pad, y - pad, w + 2 * pad, h + 2 * pad
    f = int(min(cw, ch) // size)
    ox = oy = 0
    ih, iw = image.shape[:2]
    ix0, iy0 = max(math.floor(x0) - f, 0), max(math.floor(y0) - f, 0)
    ix1, iy1 = min(math.ceil(x0 + cw) + f, iw), min(math.ceil(y0 + ch) + f, ih)
    if f >= 2 and ix1 - ix0 >= f and iy1 - iy0 >= f:  # (a box mostly outside the image is not reduced)
        ix1, iy1 = ix0 + (ix1 - ix0) // f * f, iy0 + (iy1 - iy0) // f * f
        part = image[iy0:iy1, ix0:ix1]
        image = cv2.resize(part, (part.shape[1] // f, part.shape[0] // f), interpolation=cv2.INTER_AREA)
        ox, oy = ix0, iy0
    else:
        f = 1
    # In edge coordinates (pixel i spans [i, i + 1]) the reduced image's x is (x - ox) / f; chip pixel u's
    # centre u + 0.5 lies at x0 + (u + 0.5)·sx there, which is pixel index x0 + (u + 0.5)·sx - 0.5 (so a
    # whole face crop comes out exactly as cv2.resize makes it).
    sx, sy = cw / f / size, ch / f / size
    rx, ry = (x0 - ox) / f, (y0 - oy) / f
    m = np.array([[sx, 0.0, rx + 0.5 * sx - 0.5], [0.0, sy, ry + 0.5 * sy - 0.5]])
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


class Aligner:
    """Fits 5 landmarks in a face box (for the quality check and the tracker) and cuts the face's chip."""

    def __init__(self, predictor_path: Path | str, size: int = CHIP_SIZE, margin: float = CHIP_MARGIN) -> None:
        self._predictor = dlib.shape_predictor(str(predictor_path))
        self.size = size
        self.margin = margin

    @property
    def recipe(self) -> str:
        """How the chip is cut (the calibration and embedding caches record it: another cut, other embeddings)."""
        return recipe(self.margin, self.size)

    @property
    def chip_id(self) -> str:
        """A short name of the cut, stored with each gallery sample (its chip is re-embedded only for the same cut)."""
        return chip_id(self.margin, self.size)

    def landmarks(self, image: np.ndarray, box: Box) -> dlib.full_object_detection:
        return self._predictor(image, to_dlib(box))

    def chip(self, image: np.ndarray, box: Box) -> np.ndarray:
        """The ``size``×``size`` chip (in the image's channel order) of the face in ``box``."""
        return self.chip_and_points(image, box)[0]

    def chip_and_points(self, image: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray]:
        """The chip and the five landmarks it was placed by ((5, 2) frame pixels, for the quality check)."""
        pts = points(self.landmarks(image, box))
        return self.chip_at(image, pts), pts

    def chip_at(self, image: np.ndarray, pts: np.ndarray) -> np.ndarray:
        """The chip of the face whose five landmarks are ``pts`` (the tracker's followed faces)."""
        return cut(image, landmark_box(pts), self.size, self.margin)

    def chip_whole(self, image: np.ndarray) -> np.ndarray:
        """Chip of an image that already is a face crop: landmarks fitted on all of it."""
        h, w = image.shape[:2]
        return self.chip(image, Box(0, 0, w, h))
