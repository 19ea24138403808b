"""What a detector sees of a large image: reduced to its working size, or a part of it at full detail.

The cost of detection follows the pixel count, so large frames are reduced to a working size for detection
only, or only a part of the frame is detected, at full detail; the boxes are mapped back to the full frame
(:func:`kept_boxes`).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ...core.models import Box


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` reduced to ``size`` (width, height): halved by area averaging while it is at least twice
    the size, the rest (a factor under 2) bilinear. OpenCV's 2× area reduction is vectorised (0.56 ms for
    a 1080p frame) where its 3× one is not (2.4 ms, a tenth of an idle camera's frame loop); after the
    halving every pixel still contributes to the bilinear samples, so small faces keep what area averaging
    gives them (the clip at 1080p: the same faces found and named, see README "Door cameras"). The
    bilinear step is OpenCV's bit-exact one (0.9 ms for 960 → 640 px, against 0.4): its plain one rounds
    differently on x86_64 and aarch64, and moved a photo's enrolled chip by 2.7 grey levels between them."""
    while image.shape[1] >= 2 * size[0] and image.shape[0] >= 2 * size[1]:
        h, w = image.shape[:2]
        image = cv2.resize(image[: h - h % 2, : w - w % 2], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    if (image.shape[1], image.shape[0]) != tuple(size):
        image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR_EXACT)
    return image


def reduced(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float]:
    """The image shrunk to ``max_side`` on its long side (never enlarged) for detection, and the scale used."""
    h, w = image.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return image, 1.0
    scale = max_side / max(h, w)
    return shrink(image, (round(w * scale), round(h * scale))), scale


def crop_factor(part: tuple[int, int], frame: tuple[int, int], max_side: int | None) -> int:
    """By how much a part (height, width) of a frame is reduced for detection: the smallest whole factor
    that brings it to ``max_side`` and to no more pixels than the whole frame reduced to ``max_side``
    (the cost stays bounded). A whole factor maps the part's pixels exactly onto the detector's."""
    if not max_side:
        return 1
    (ph, pw), (h, w) = part, frame
    budget = h * w * min(max_side / max(h, w), 1.0) ** 2
    return max(1, math.ceil(max(ph, pw) / max_side - 1e-9), math.ceil((ph * pw / budget) ** 0.5 - 1e-9))


def region_part(image: np.ndarray, region: Box | None, max_side: int | None) -> tuple[np.ndarray, float, int, int]:
    """What the detector sees of ``region`` (None: the whole image reduced to ``max_side``): the part cut at
    full resolution, reduced by :func:`crop_factor`; the scale, and the part's corner in the image."""
    if region is None:
        small, scale = reduced(image, max_side)
        return small, scale, 0, 0
    h, w = image.shape[:2]
    x0, y0 = min(max(region.x, 0), w - 1), min(max(region.y, 0), h - 1)
    x1, y1 = min(max(region.x + region.w, x0 + 1), w), min(max(region.y + region.h, y0 + 1), h)
    f = crop_factor((y1 - y0, x1 - x0), (h, w), max_side)
    if f == 1:
        return image[y0:y1, x0:x1], 1.0, x0, y0
    x1, y1 = x0 + max((x1 - x0) // f, 1) * f, y0 + max((y1 - y0) // f, 1) * f  # whole multiples of f
    part = image[y0:y1, x0:x1]
    size = (part.shape[1] // f, part.shape[0] // f)
    return shrink(part, size), 1.0 / f, x0, y0


def kept_boxes(corners: list[tuple[float, float, float, float]], h: int, w: int, min_side: float,
          points: list[np.ndarray] | None = None) -> list[Box]:
    """Boxes from full-frame ``(x0, y0, x1, y1)`` clipped to the frame, at least ``min_side``, largest first
    (each with its detector's five ``points`` when given)."""
    boxes = []
    for i, (x0, y0, x1, y1) in enumerate(corners):
        left, top = max(round(x0), 0), max(round(y0), 0)
        box = Box(left, top, min(round(x1), w) - left, min(round(y1), h) - top,
                  points=None if points is None else points[i])
        if box.w > 0 and box.h > 0 and min(box.w, box.h) >= min_side:
            boxes.append(box)
    boxes.sort(key=lambda b: b.area, reverse=True)
    return boxes
