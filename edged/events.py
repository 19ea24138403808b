"""From per-frame matches to events: vote, then cooldown, per camera.

Pure logic with an injectable clock, so the rules (announce once confirmed,
not again within the cooldown, unknowns rate-limited) are tested without
video or a broker.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from .pipeline import Recognition
from .vote import Vote


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
        }


def utc_iso(wall: float | None = None) -> str:
    """UTC ISO 8601 with milliseconds and a Z, for ``wall`` (epoch seconds) or now."""
    t = datetime.now(timezone.utc) if wall is None else datetime.fromtimestamp(wall, timezone.utc)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")



class EventEngine:
    """Per-camera rules: ``vote_frames`` of ``vote_window`` to confirm, ``cooldown_s`` between repeats."""

    def __init__(
        self,
        camera: str,
        vote_frames: int = 3,
        vote_window: int = 5,
        cooldown_s: float = 60.0,
        unknown_cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.camera = camera
        self.cooldown_s = cooldown_s
        self.unknown_cooldown_s = unknown_cooldown_s
        self._vote = Vote(vote_frames, vote_window)
        self._clock = clock
        self._last_named: dict[str, float] = {}
        self._last_unknown = float("-inf")

    def feed(self, frame: int, recognitions: list[Recognition], mono: float | None = None) -> list[Event]:
        now = self._clock()
        mono = now if mono is None else mono
        recognitions = [r for r in recognitions if not r.pending]
        decisions = self._vote.update(frame, [(r.box, r.name, r.score) for r in recognitions])
        events = []
        for r, d in zip(recognitions, decisions, strict=True):
            if d.newly_confirmed and d.confirmed is not None:
                last = self._last_named.get(d.confirmed, float("-inf"))
                if now - last < self.cooldown_s:
                    continue
                self._last_named[d.confirmed] = now
                events.append(self._event(d.confirmed, r, frame, mono))
            elif d.newly_unknown:
                if now - self._last_unknown < self.unknown_cooldown_s:
                    continue
                self._last_unknown = now
                events.append(self._event(None, r, frame, mono))
        return events

    def _event(self, name: str | None, r: Recognition, frame: int, mono: float) -> Event:
        frame_wall = time.time() - (time.monotonic() - mono)
        return Event(uuid.uuid4().hex, utc_iso(), self.camera, name, r.score, r.box.as_list(), r.face_px,
                     frame, mono, utc_iso(frame_wall))

