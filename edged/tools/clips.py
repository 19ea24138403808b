"""Synthetic clips of real faces: LFW photos moved over a background, with where each face is in every frame.

A name must belong to a face, not to a box the tracker follows: two people crossing, a cut, someone stepping
in front. Video of strangers doing that is not in the shared data, so these clips are made from photos (each
face an oval cut from its photo, blended over a smooth background), and each frame comes with the truth:
each face's box and whether another face covers it. ``tests/integration/test_crossing.py`` runs them through
``frd recognize``; ``benchmarks/identity_check.py`` through the tracker with and without its identity check.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from ..core.models import Box

W, H = 640, 360


@dataclass(frozen=True)
class Sprite:
    """A face cut from a photo: its pixels, an oval alpha, and the face box inside it."""

    rgb: np.ndarray
    alpha: np.ndarray  # (h, w, 1) float32 in [0, 1]
    face: tuple[float, float, float, float]  # x, y, w, h in the sprite


def sprite(rgb: np.ndarray, face: Box, side: int = 100) -> Sprite:
    """The face at ``face`` in a photo, scaled so that its box is ``side`` px wide, with half a face of head and
    shoulders around it, faded out at an oval's edge."""
    s = side / face.w
    img = cv2.resize(rgb, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    bx, by, bw, bh = face.x * s, face.y * s, face.w * s, face.h * s
    g = 0.55 * bw
    x0, y0 = int(max(bx - g, 0)), int(max(by - g, 0))
    x1, y1 = int(min(bx + bw + g, img.shape[1])), int(min(by + bh + 1.4 * g, img.shape[0]))
    part = img[y0:y1, x0:x1]
    h, w = part.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    r = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
    alpha = np.clip((1.0 - r) / 0.15, 0, 1)[..., None].astype(np.float32)
    return Sprite(part, alpha, (bx - x0, by - y0, bw, bh))


def background(seed: int) -> np.ndarray:
    """A smooth, slightly textured wall (float32 RGB)."""
    rng = np.random.default_rng(seed)
    wall = np.linspace(70, 150, W)[None, :, None] * np.ones((H, 1, 3))
    wall = wall + cv2.GaussianBlur(rng.normal(0, 25, (H, W, 3)), (0, 0), 9)
    return np.clip(wall, 0, 255).astype(np.float32)


@dataclass(frozen=True)
class Placed:
    """One face in one frame: who, its face box in the frame, and whether a face in front of it covers its middle."""

    who: str
    box: tuple[float, float, float, float]
    covered: bool


def _contains(box: tuple[float, float, float, float], x: float, y: float) -> bool:
    return box[0] <= x <= box[0] + box[2] and box[1] <= y <= box[1] + box[3]


def on(placed: list[Placed], box: list[int]) -> Placed | None:
    """The visible face a box (x, y, w, h) is on: the front one whose face box holds the box's centre."""
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    for p in reversed(placed):  # front first
        if _contains(p.box, cx, cy):
            return p
    return None


def compose(wall: np.ndarray, faces: list[tuple[str, Sprite, int, int]], rng: np.random.Generator
            ) -> tuple[np.ndarray, list[Placed]]:
    """A frame: each (who, sprite, x, y) drawn over ``wall`` in order (the last in front), with sensor noise."""
    frame = wall.copy()
    placed: list[Placed] = []
    for who, sp, x, y in faces:
        h, w = sp.rgb.shape[:2]
        x0, x1, y0, y1 = max(x, 0), min(x + w, W), max(y, 0), min(y + h, H)
        if x1 > x0 and y1 > y0:
            a = sp.alpha[y0 - y:y1 - y, x0 - x:x1 - x]
            frame[y0:y1, x0:x1] = frame[y0:y1, x0:x1] * (1 - a) + sp.rgb[y0 - y:y1 - y, x0 - x:x1 - x] * a
        box = (x + sp.face[0], y + sp.face[1], sp.face[2], sp.face[3])
        placed = [Placed(p.who, p.box, p.covered or _contains(box, *_centre(p.box))) for p in placed]
        placed.append(Placed(who, box, False))
    frame += rng.normal(0, 2, frame.shape)
    return np.clip(frame, 0, 255).astype(np.uint8), placed


def _centre(box: tuple[float, float, float, float]) -> tuple[float, float]:
    return box[0] + box[2] / 2, box[1] + box[3] / 2


Frames = Iterator[tuple[np.ndarray, list[Placed]]]


def crossing(family: Sprite, stranger: Sprite, seed: int = 0, speed: int = 7) -> Frames:
    """Two people walk across the picture towards each other at ``speed`` px a frame, the stranger in front."""
    wall, rng = background(seed), np.random.default_rng(seed)
    frames = (W - 80) // speed // 2 + 30
    for i in range(frames):
        xa = 40 + speed * i
        xb = W - 40 - stranger.rgb.shape[1] - speed * i
        yield compose(wall, [("family", family, xa, 60), ("stranger", stranger, xb, 60)], rng)


def same_spot(family: Sprite, stranger: Sprite) -> tuple[int, int, int, int]:
    """(family x, y; stranger x, y) that put the two faces' boxes at the same place, mid-picture."""
    xa, ya = W // 2 - family.rgb.shape[1] // 2, 60
    return xa, ya, xa + round(family.face[0] - stranger.face[0]), ya + round(family.face[1] - stranger.face[1])


def cut(family: Sprite, stranger: Sprite, seed: int = 0, frames: int = 60) -> Frames:
    """The family member stands; from the middle frame on, the stranger stands in their place (a cut, or a stream
    that skipped the moment they swapped)."""
    wall, rng = background(seed), np.random.default_rng(seed)
    xa, ya, xb, yb = same_spot(family, stranger)
    for i in range(frames):
        yield compose(wall, [("family", family, xa, ya)] if i < frames // 2 else [("stranger", stranger, xb, yb)],
                      rng)


def step_in(family: Sprite, stranger: Sprite, seed: int = 0, speed: int = 9, frames: int = 90) -> Frames:
    """The family member stands; the stranger walks in from the side and stops in front of them, face on face."""
    wall, rng = background(seed), np.random.default_rng(seed)
    xa, ya, xb, yb = same_spot(family, stranger)
    for i in range(frames):
        x = max(W - speed * i, xb)
        yield compose(wall, [("family", family, xa, ya), ("stranger", stranger, x, yb)], rng)


SCENES = {"crossing": crossing, "cut": cut, "step_in": step_in}
