"""How reliable one face's embedding is: size, sharpness and how far it is turned.

Measured on LFW through frd's path (README, "Enrollment quality"): shrinking a face to 40 px
moves its embedding to a cosine of 0.948 from the full-size one (60 px: 0.983), a Gaussian blur of
2 px to 0.875 and of 3 px to 0.69 (the chip's sharpness, the variance of its Laplacian, falls
from a median of 44 to 6.6 and 4.3), and faces turned by more than 0.3 eye distances match
their own other photos at 0.765 instead of 0.81. A photo that bad makes a weak template that
strangers match more easily, so enrollment refuses the worst and warns about the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..config import QualityGateConfig, default
from ..core.models import Box

#: Refused below these (the embedding is too far from the person's own): the quality gate's default limits
#: (``recognition.quality_gate``, where the measurements are), which enrollment always applies.
MIN_SHARPNESS = default(QualityGateConfig, "min_sharpness")
MIN_FACE_PX = default(QualityGateConfig, "min_face_px")
#: Warned below / above these.
WARN_SHARPNESS = 10.0
WARN_FACE_PX = 60
WARN_YAW = 0.3
#: Video: a face turned further than this (in eye distances) is followed but not named
#: (``recognition.quality_gate.max_yaw``; the measurement is there) ...
GATE_YAW = default(QualityGateConfig, "max_yaw")
#: ... and the same limit for the turn read from YuNet's own points (:func:`detector_yaw`, the nose *tip*: a
#: larger reading for the same turn; ``recognition.quality_gate.max_yaw_yunet``).
GATE_YAW_DETECTOR = default(QualityGateConfig, "max_yaw_yunet")
#: Photos per person that the strictness levels were measured with (README).
RECOMMENDED_PHOTOS = 5
MIN_RECOMMENDED_PHOTOS = 3


@dataclass(frozen=True)
class Quality:
    face_px: int
    sharpness: float  # variance of the Laplacian of the grey chip
    yaw: float | None  # sideways offset of the nose from between the eyes, in eye distances

    def as_dict(self) -> dict:
        return {"face_px": self.face_px, "sharpness": round(self.sharpness, 1),
                "yaw": None if self.yaw is None else round(self.yaw, 3)}


def sharpness(chip: np.ndarray) -> float:
    grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY) if chip.ndim == 3 else chip
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def _offset(e1: np.ndarray, e2: np.ndarray, nose: np.ndarray) -> float | None:
    """The nose's offset from between the eyes along the line through them, in eye distances."""
    across = e2 - e1
    dist = float(np.linalg.norm(across))
    if dist < 1e-6:
        return None
    return float((nose - (e1 + e2) / 2) @ (across / dist) / dist)


def yaw(points: np.ndarray | None) -> float | None:
    """From dlib's 5 points (two corners of each eye, then the base of the nose)."""
    if points is None or len(points) != 5:
        return None
    p = np.asarray(points, float)
    return _offset(p[0:2].mean(axis=0), p[2:4].mean(axis=0), p[4])


def detector_yaw(points: np.ndarray | None) -> float | None:
    """From YuNet's own 5 points (the eyes' centres, the nose tip, the mouth corners: ``Box.points``).

    dlib's points are fitted on the box by a predictor trained on frontal faces: on a full profile they
    stay where a frontal face's would be and read a small turn. YuNet places its points on the face
    it found, in profile too (Alex Lacamoire at the piano in the clip: 1.0-2.7 here, 0.1-0.3 from dlib's
    points). Its nose point is the tip, which stands further out than dlib's base of the nose, so the
    same turn reads larger: :data:`GATE_YAW_DETECTOR` is this measure's own limit.
    """
    if points is None or len(points) != 5:
        return None
    p = np.asarray(points, float)
    return _offset(p[0], p[1], p[2])


def assess(face_px: int, chip: np.ndarray, points: np.ndarray | None) -> Quality:
    return Quality(int(face_px), sharpness(chip), yaw(points))


@dataclass(frozen=True)
class Gate:
    """Video: a face whose embedding is unreliable is followed and counted, but its embedding names nobody.

    A far, blurred or turned face matches strangers more easily and its own person less (the
    measurements above), so letting it vote could only add wrong names; the same person facing
    the camera a moment later is named from good frames.
    """

    min_face_px: int = MIN_FACE_PX
    min_sharpness: float = MIN_SHARPNESS
    max_yaw: float = GATE_YAW
    #: Video: also smaller than this fraction of the frame's shorter side is "small" (the 2018 design's 5 %).
    min_face_frac: float = 0.0
    #: The turn limit when the turn is read from the detector's own points (:func:`detector_yaw`).
    max_detector_yaw: float = GATE_YAW_DETECTOR

    def small(self, face_px: int, frame_side: int = 0) -> bool:
        """Too small to name: under ``min_face_px``, or under ``min_face_frac`` of ``frame_side`` (the frame's
        shorter side). Decided before a chip is cut: a far face costs no chip."""
        return face_px < max(self.min_face_px, self.min_face_frac * frame_side)

    def reason(self, q: Quality, frame_side: int = 0, detector_points: bool = False) -> str | None:
        """Why this face's embedding is not used to name it, or None when it is. ``detector_points``: the
        turn was read from the detector's own points (:func:`detector_yaw`), not from dlib's."""
        if self.small(q.face_px, frame_side):
            return "small"
        if q.sharpness < self.min_sharpness:
            return "blurred"
        if q.yaw is not None and abs(q.yaw) > (self.max_detector_yaw if detector_points else self.max_yaw):
            return "turned"
        return None


def too_small(box: Box, minimum: float) -> str:
    """Why a face the detector found is not used: said with its size and the minimum, never "no face"."""
    return f"face too small ({min(box.w, box.h)} px, at least {math.ceil(minimum)})"


def enrollment_verdict(q: Quality) -> tuple[str | None, list[str]]:
    """(why the photo is refused, or None; warnings) for one enrollment face."""
    if q.face_px < MIN_FACE_PX:
        return f"face too small ({q.face_px} px, at least {MIN_FACE_PX})", []
    if q.sharpness < MIN_SHARPNESS:
        return f"face too blurred (sharpness {q.sharpness:.1f}, at least {MIN_SHARPNESS:g} needed)", []
    warnings = []
    if q.face_px < WARN_FACE_PX:
        warnings.append(f"small face ({q.face_px} px): {WARN_FACE_PX} px or more gives a steadier embedding")
    if q.sharpness < WARN_SHARPNESS:
        warnings.append(f"blurred face (sharpness {q.sharpness:.1f}): a sharper photo gives a steadier embedding")
    if q.yaw is not None and abs(q.yaw) > WARN_YAW:
        warnings.append(f"face turned aside ({abs(q.yaw):.2f} eye distances): a photo facing the camera is better")
    return None, warnings


def photos_advice(name: str, samples: int) -> str | None:
    if samples >= MIN_RECOMMENDED_PHOTOS:
        return None
    return (f"{name} has {samples} photo{'s' if samples != 1 else ''}: {MIN_RECOMMENDED_PHOTOS} to "
            f"{RECOMMENDED_PHOTOS} photos (other days, light, a slight turn) name a person more reliably")
