"""A look through the camera: one frame, downscaled, with the faces frd follows and its working size drawn.

For aiming and focusing a door camera (``cmd/snapshot``, ``snapshot.enabled``): where the faces are, which of
them are big enough to be named, and how large a face must be. A pure function of the frame and what the
tracker knows, so it is tested without a camera; the frame itself is only drawn on and encoded here, never
kept (the caller publishes the JPEG once, not retained, and drops it).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..core.models import Box

#: JPEG quality of a snapshot: enough to judge focus at a glance, small on the wire (a 640 px frame: ~40 kB).
SNAPSHOT_JPEG_QUALITY = 80
#: Box colours (BGR): a face big enough to be named, a face only followed (too small: never named).
NAMEABLE = (80, 200, 80)
FOLLOWED = (0, 165, 255)
TEXT = (255, 255, 255)


@dataclass(frozen=True)
class SnapshotFace:
    """One face in the frame: its box (frame pixels), what it is called now, and whether it may be named."""

    box: Box
    label: str
    nameable: bool


@dataclass(frozen=True)
class Snapshot:
    """The JPEG and what it shows (the command's reply)."""

    jpeg: bytes
    size: tuple[int, int]  # the snapshot, (width, height)
    frame: tuple[int, int]  # the camera's frame
    detection: tuple[int, int]  # what the detector sees: the frame reduced to its working size
    named_from_px: int
    faces: int

    def info(self) -> dict:
        return {"size": list(self.size), "frame": list(self.frame), "detection": list(self.detection),
                "named_from_px": self.named_from_px, "faces": self.faces, "bytes": len(self.jpeg)}


def _fit(w: int, h: int, max_side: int | None) -> float:
    """The scale that brings a ``w`` × ``h`` picture to ``max_side`` on its long side (never enlarging it)."""
    return 1.0 if not max_side or max(w, h) <= max_side else max_side / max(w, h)


def render(image: np.ndarray, *, bgr: bool, faces: list[SnapshotFace], working_side: int | None,
           named_from_px: int, max_side: int, quality: int = SNAPSHOT_JPEG_QUALITY) -> Snapshot:
    """The frame reduced to ``max_side``, each face's box (green: may be named, orange: too small, only
    followed) and label, a line saying the frame's size, the detector's working size and the smallest face
    named, and a square that size in the corner, to hold a face against."""
    h, w = image.shape[:2]
    scale = _fit(w, h, max_side)
    out = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    if out.ndim == 2:
        out = cv2.cvtColor(out, cv2.COLOR_GRAY2BGR)
    elif not bgr:
        out = cv2.cvtColor(out, cv2.COLOR_RGB2BGR)
    out = np.ascontiguousarray(out)
    ds = _fit(w, h, working_side)
    detection = (round(w * ds), round(h * ds))
    for f in faces:
        colour = NAMEABLE if f.nameable else FOLLOWED
        x0, y0 = round(f.box.x * scale), round(f.box.y * scale)
        x1, y1 = round((f.box.x + f.box.w) * scale), round((f.box.y + f.box.h) * scale)
        cv2.rectangle(out, (x0, y0), (x1, y1), colour, 2)
        _label(out, f"{f.label} {min(f.box.w, f.box.h)}px", (x0, max(y0 - 4, 12)), colour)
    _label(out, f"frame {w}x{h}, detection at {detection[0]}x{detection[1]}, named from {named_from_px}px",
           (4, 14), (40, 40, 40))
    side = max(2, round(named_from_px * scale))
    oh = out.shape[0]
    cv2.rectangle(out, (4, oh - 4 - side), (4 + side, oh - 4), NAMEABLE, 1)
    _label(out, "smallest face named", (8 + side, oh - 6), (40, 40, 40))
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not encode a {out.shape} snapshot as JPEG")
    return Snapshot(buf.tobytes(), (out.shape[1], out.shape[0]), (w, h), detection, named_from_px, len(faces))


def _label(img: np.ndarray, text: str, at: tuple[int, int], background: tuple[int, int, int]) -> None:
    """``text`` on a filled band, readable on any picture."""
    font, size, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1
    (tw, th), base = cv2.getTextSize(text, font, size, thick)
    x, y = at
    cv2.rectangle(img, (x - 1, y - th - 2), (x + tw + 1, y + base), background, -1)
    cv2.putText(img, text, (x, y), font, size, TEXT, thick, cv2.LINE_AA)
