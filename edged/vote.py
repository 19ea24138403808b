"""Multi-frame confirmation for video: the 2018 design's 3-frame vote.

A single frame can put the wrong name on a face; requiring the same name in
``frames`` of the last ``window`` sightings of a face track removes most of
those mistakes at the cost of a few frames of latency. Faces are followed
between frames by box overlap, which is enough at camera frame rates.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from .detect import Box


def iou(a: Box, b: Box) -> float:
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    union = a.area + b.area - inter
    return inter / union if union else 0.0


@dataclass
class Track:
    id: int
    box: Box
    last_frame: int
    votes: deque = field(default_factory=deque)
    confirmed: str | None = None
    unknown_confirmed: bool = False


@dataclass(frozen=True)
class Decision:
    """Outcome for one face in one frame: ``confirmed`` set once the vote passes.

    ``newly_unknown`` is set once per track when its last ``frames`` sightings
    all matched nobody: a stranger is reported with the same patience as a
    name, so one blurred frame of a family member is not an "unknown".
    """

    track: int
    box: Box
    name: str | None
    score: float
    confirmed: str | None
    newly_confirmed: bool
    newly_unknown: bool = False


class Vote:
    """Follows faces across frames and confirms a name after ``frames`` of ``window`` agreeing sightings."""

    def __init__(self, frames: int = 3, window: int = 5, max_gap: int = 10, min_iou: float = 0.3) -> None:
        if not 1 <= frames <= window:
            raise ValueError("need 1 <= frames <= window")
        self.frames, self.window, self.max_gap, self.min_iou = frames, window, max_gap, min_iou
        self._tracks: list[Track] = []
        self._next = 0

    def update(self, frame: int, faces: list[tuple[Box, str | None, float]]) -> list[Decision]:
        """Feed one frame's faces (box, name or None, score); returns a decision per face."""
        self._tracks = [t for t in self._tracks if frame - t.last_frame <= self.max_gap]
        free = list(self._tracks)
        out = []
        for box, name, score in faces:
            best = max(free, key=lambda t: iou(t.box, box), default=None)
            if best is None or iou(best.box, box) < self.min_iou:
                best = Track(self._next, box, frame, deque(maxlen=self.window))
                self._next += 1
                self._tracks.append(best)
            else:
                free.remove(best)
            best.box, best.last_frame = box, frame
            best.votes.append(name)
            newly = unknown = False
            if name is not None and best.confirmed != name and Counter(best.votes)[name] >= self.frames:
                best.confirmed, newly = name, True
            recent = list(best.votes)[-self.frames :]
            if (
                name is None
                and best.confirmed is None
                and not best.unknown_confirmed
                and len(recent) == self.frames
                and all(v is None for v in recent)
            ):
                best.unknown_confirmed = unknown = True
            out.append(Decision(best.id, box, name, score, best.confirmed, newly, unknown))
        return out
