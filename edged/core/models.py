"""The value types every part of frd shares: box, face, recognition, event, message.

Light on purpose: only the standard library and numpy. The event rules, the payload builders and
the tests import these without loading dlib, OpenCV or TensorFlow Lite (a test guards it).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np


@dataclass(frozen=True)
class Box:
    """A face rectangle in frame pixels, clipped to the frame."""

    x: int
    y: int
    w: int
    h: int
    #: The detector's own five landmarks ((5, 2) frame pixels: eyes, nose tip, mouth corners) when it gives
    #: them (YuNet); not part of the box's identity.
    points: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def area(self) -> int:
        return self.w * self.h

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes: how the tracker tells a face it follows from a new one."""
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    union = a.area + b.area - inter
    return inter / union if union else 0.0


@dataclass
class Face:
    """One detected face: its box, aligned chip and (once embedded) its embedding."""

    box: Box
    chip: np.ndarray
    embedding: np.ndarray | None = None
    points: np.ndarray | None = None  # the five landmarks, when the path kept them

    @property
    def face_px(self) -> int:
        return min(self.box.w, self.box.h)


@dataclass(frozen=True)
class Recognition:
    """Who a face is, in one frame."""

    box: Box
    name: str | None
    score: float
    best: str | None
    face_px: int
    #: The tracker has no verdict on this face yet: the event rules neither name it nor call it unknown.
    pending: bool = False
    #: The tracker's id of this face (one notion of "this face" from the tracker to the event rules);
    #: None on paths without a tracker (photos, ``--every-frame``).
    track: int | None = None
    #: Why this face is not named whoever it is (``face too small (33 px, at least 40)``): an input frd cannot
    #: make reliable; None when it was judged (named, or a stranger).
    quality: str | None = None


def utc_iso(wall: float | None = None) -> str:
    """UTC ISO 8601 with milliseconds and a Z, for ``wall`` (epoch seconds) or now."""
    t = datetime.now(UTC) if wall is None else datetime.fromtimestamp(wall, UTC)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Event:
    """One announcement; :meth:`payload` is the JSON published on ``<base>/event``."""

    event_id: str
    ts: str
    camera: str
    name: str | None
    score: float
    box: list[int]
    face_px: int
    frame: int
    mono: float  # monotonic time the frame was captured
    frame_ts: str  # the same as UTC ISO 8601: when the face was seen, not when it was announced
    track: int | None = None  # the tracker's id of the face (not in the payload: ids are per process)
    #: an unknown face held in memory (``unknown_faces.keep``), to be named with ``cmd/enroll``; else None
    face_id: str | None = None
    #: the face's aligned chip (RGB), for ``homeassistant.face_image``; never in the payload
    chip: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def event_type(self) -> str:
        return "unknown" if self.name is None else "recognized"

    def payload(self, device: str, model: str) -> dict:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "ts": self.ts,
            "device": device,
            "camera": self.camera,
            "name": self.name,
            "score": round(self.score, 4),
            "box": self.box,
            "face_px": self.face_px,
            "model": model,
            "frame_ts": self.frame_ts,
            "face_id": self.face_id,
        }


@dataclass(frozen=True)
class Message:
    """One MQTT publication, so that builders stay pure and the client can be swapped or faked."""

    topic: str
    payload: str | bytes  # bytes: a face image (JPEG)
    retain: bool = False
    qos: int = 0


#: The ids frd gives held unknown faces (``face_id``) and ignore-list entries (``ignore_id``): 12 hex digits.
SHORT_ID = re.compile(r"[0-9a-f]{12}")


def new_id() -> str:
    """A fresh :data:`SHORT_ID` (48 random bits: unguessable, short enough to type into a command)."""
    return secrets.token_hex(6)
