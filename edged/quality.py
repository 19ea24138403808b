"""How reliable one face's embedding is: size, sharpness and how far it is turned.

Measured on LFW through frd's path (README, "Enrollment quality"): shrinking a face to 40 px
moves its embedding to a cosine of 0.948 from the full-size one (60 px: 0.983), a Gaussian blur of
2 px to 0.875 and of 3 px to 0.69 (the chip's sharpness, the variance of its Laplacian, falls
from a median of 44 to 6.6 and 4.3), and faces turned by more than 0.3 eye distances match
their own other photos at 0.765 instead of 0.81. A photo that bad makes a weak template that
strangers match more easily, so enrollment refuses the worst and warns about the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Refused below these (the embedding is too far from the person's own).
MIN_SHARPNESS = 5.0
MIN_FACE_PX = 40
#: Warned below / above these.
WARN_SHARPNESS = 10.0
WARN_FACE_PX = 60
WARN_YAW = 0.3
#: Video: a face turned further than this (in eye distances) is followed but not named. On the clip
#: (benchmarks/quality_gate.py) one embedding disagrees with its own track's verdict 5 % of the time
#: at 0.1-0.2, 17 % at 0.2-0.3, 53 % at 0.3-0.4 and 80 % at 0.4-0.5: beyond 0.3 it is a coin toss.
GATE_YAW = 0.3
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


def yaw(points: np.ndarray | None) -> float | None:
    """From dlib's 5 points (two corners of each eye, then the base of the nose)."""
    if points is None or len(points) != 5:
        return None
    p = np.asarray(points, float)
    e1, e2 = p[0:2].mean(axis=0), p[2:4].mean(axis=0)
    across = e2 - e1
    dist = float(np.linalg.norm(across))
    if dist < 1e-6:
        return None
    return float((p[4] - (e1 + e2) / 2) @ (across / dist) / dist)


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

    def reason(self, q: Quality) -> str | None:
        """Why this face's embedding is not used to name it, or None when it is."""
        if q.face_px < self.min_face_px:
            return "small"
        if q.sharpness < self.min_sharpness:
            return "blurred"
        if q.yaw is not None and abs(q.yaw) > self.max_yaw:
            return "turned"
        return None


def enrollment_verdict(q: Quality) -> tuple[str | None, list[str]]:
    """(why the photo is refused, or None; warnings) for one enrollment face."""
    if q.face_px < MIN_FACE_PX:
        return f"face too small ({q.face_px} px, at least {MIN_FACE_PX} needed)", []
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
