"""The embedder's chip: the detector's face box with a margin, resized to a square.

FaceNet 20180408 was trained on faces cut as its authors cut them: MTCNN's box plus a fixed
margin, resized to 160×160 without keeping the aspect ratio. On LFW, through frd's photo path
and the int8 model, that cut is what separates 97.5 % from 98.6 % verification
(``benchmarks/chip.py``; models/README.md, "Which chip"): a landmark-aligned square chip
(dlib's ``get_face_chip``, frd's earlier cut) loses a point, the model does not. YuNet's own
box is MTCNN's on average (the same size, 1.32 times as tall as wide), so frd cuts the chip from
it: the box plus :data:`CHIP_MARGIN` of its width on every side, squashed to a square.

dlib's 5-point landmarks (eye corners, base of the nose) are still fitted on every face: the
quality check reads the turn from them and the video tracker follows a face by them.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import dlib
import numpy as np

from .detect import YUNET_TO_HOG, to_dlib
from .models import Box

CHIP_SIZE = 160
#: The margin around the detector's face box on every side, as a fraction of the box's width. Chosen on the
#: LFW tuning folds (``benchmarks/chip.py --variants yunetw:M``): verification rises from 0.969 with no
#: margin to a plateau of 0.984-0.986 at 0.08-0.12 and falls back to 0.980-0.982 at 0.17-0.23 (facenet's own
#: 16 px of an LFW face is about 0.17); 50 people named at 1 % strangers is flat (0.957-0.966) from 0.05 on.
#: The middle of the plateau, the best three-point mean.
CHIP_MARGIN = 0.10
#: YuNet's box is this many times as tall as it is wide (600 LFW photos: median 1.32, sd 0.07). A detector
#: that gives only a square box (HOG) gets a YuNet-shaped one from it (:func:`face_rect`).
FACE_ASPECT = 1.32
#: Chips cut before this recipe (dlib's landmark chip, padding 0.35): a gallery sample with such a chip
#: cannot be embedded again for today's chip (:class:`edged.gallery.Gallery`).
LEGACY_CHIP = "dlib-0.35-160"


def chip_id(margin: float = CHIP_MARGIN, size: int = CHIP_SIZE) -> str:
    """A short name of a cut (:attr:`Aligner.chip_id`)."""
    return f"box-{margin}-{size}"


def recipe(margin: float = CHIP_MARGIN, size: int = CHIP_SIZE) -> str:
    """How a chip is cut, in words (:attr:`Aligner.recipe`; the model manifest's preprocessing)."""
    return (f"the detector's face box + {margin} of its width on every side, squashed to {size}x{size} "
            f"(a detector's square box is first made {FACE_ASPECT} times as tall: edged.align.face_rect)")


def points(shape: dlib.full_object_detection) -> np.ndarray:
    """The fitted landmarks as a (parts, 2) float array of frame pixels."""
    return np.array([[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)], float)


def face_rect(box: Box) -> tuple[float, float, float, float]:
    """The face rectangle (x, y, w, h) the chip is cut from: the detector's own (``Box.cut``), or for a box
    without one (HOG's square, a whole face crop) the YuNet box that :data:`YUNET_TO_HOG` maps to it."""
    if box.cut is not None:
        return box.cut
    m = YUNET_TO_HOG
    w = max(box.w, box.h) / m["side"]
    h = FACE_ASPECT * w
    cx, cy = box.x + box.w / 2 - m["dx"] * w, box.y + box.h / 2 - m["dy"] * h
    return cx - w / 2, cy - h / 2, w, h


def whole_box(w: int, h: int, margin: float = CHIP_MARGIN) -> Box:
    """The box of an image that already is a face crop (``--aligned``): the face rectangle whose chip is the
    whole image (it plus ``margin`` of its width on every side is exactly the image), resized."""
    fw = w / (1 + 2 * margin)
    pad = margin * fw
    return Box(0, 0, w, h, cut=(pad, pad, fw, h - 2 * pad))


def crop_box(rgb: np.ndarray, detector) -> Box:
    """The box of an image that already is one face crop (``--aligned``): the whole image, with the face's
    rectangle found by ``detector`` on the crop given a border of its own edge pixels (a tight crop leaves
    the detector no context), so the chip is framed as a photo's is. With no face found: :func:`whole_box`.

    On aligned112's tight crops (15 people, 40 crops each, reported, never used to choose) frd names 0.870 at
    <= 1 % strangers this way, 0.682 when the crop is resized whole (the cohort is photo chips)."""
    h, w = rgb.shape[:2]
    pad = max(w, h) // 2
    faces = detector.detect(cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE))
    if not faces or faces[0].cut is None:
        return whole_box(w, h)
    x, y, fw, fh = faces[0].cut
    return Box(0, 0, w, h, cut=(x - pad, y - pad, fw, fh))


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
    if f >= 2:
        ih, iw = image.shape[:2]
        ix0, iy0 = max(math.floor(x0) - f, 0), max(math.floor(y0) - f, 0)
        ix1, iy1 = min(math.ceil(x0 + cw) + f, iw), min(math.ceil(y0 + ch) + f, ih)
        ix1, iy1 = ix0 + max((ix1 - ix0) // f, 1) * f, iy0 + max((iy1 - iy0) // f, 1) * f
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

    def landmarks(self, rgb: np.ndarray, box: Box) -> dlib.full_object_detection:
        return self._predictor(rgb, to_dlib(box))

    def chip(self, rgb: np.ndarray, box: Box) -> np.ndarray:
        """The ``size``×``size`` chip (in the image's channel order) of the face in ``box``."""
        return cut(rgb, face_rect(box), self.size, self.margin)

    def chip_and_points(self, rgb: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray]:
        """The chip and the five landmarks fitted in the box ((5, 2) frame pixels, for the quality check)."""
        return self.chip(rgb, box), points(self.landmarks(rgb, box))

    def chip_whole(self, rgb: np.ndarray, detector=None) -> np.ndarray:
        """Chip of an image that already is a face crop: framed by ``detector``'s box (:func:`crop_box`), or
        without one the whole crop resized (:func:`whole_box`)."""
        h, w = rgb.shape[:2]
        return self.chip(rgb, whole_box(w, h, self.margin) if detector is None else crop_box(rgb, detector))
