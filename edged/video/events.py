"""From tracked faces to events: vote per track, then cooldown, per camera.

A single frame can put the wrong name on a face; requiring the same name in
``vote_frames`` of the last ``vote_window`` sightings of a face (the 2018
design's 3-frame vote) removes most of those mistakes at the cost of a few
frames of latency. "A face" is the tracker's: the votes are kept per
``Recognition.track``, the id :class:`~edged.video.track.FaceTracker` gives it, so
the rules never match faces up again on their own.

Pure logic with an injectable clock, so the rules (announce once confirmed,
not again within the cooldown, unknowns with the same patience and
rate-limited) are tested without video or a broker. Imports no dlib or OpenCV (its defaults come from
the config, which imports neither).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import RecognitionConfig, default
from ..core.models import Event, Recognition, utc_iso


@dataclass
class _Votes:
    """What the rules remember of one track."""

    last_fed: int  # the engine's count of frames fed when the track was last among them
    votes: deque = field(default_factory=deque)
    confirmed: str | None = None
    unknown_confirmed: bool = False


class EventEngine:
    """Per-camera rules: ``vote_frames`` of ``vote_window`` to confirm, ``cooldown_s`` between repeats.

    A track missing from ``max_gap`` processed frames in a row is forgotten (the tracker does not reuse ids).
    Processed frames, not the camera's: a slow board processes one frame in many (a Pi Zero at 2 fps behind a
    30 fps camera, an emulated Pi at one in 30), and a person it follows in every frame it processes must not
    be forgotten between two of them before the votes add up.
    """

    def __init__(
        self,
        camera: str,
        vote_frames: int = default(RecognitionConfig, "vote_frames"),
        vote_window: int = default(RecognitionConfig, "vote_window"),
        cooldown_s: float = float(default(RecognitionConfig, "cooldown_s")),
        unknown_cooldown_s: float = float(default(RecognitionConfig, "unknown_cooldown_s")),
        clock: Callable[[], float] = time.monotonic,
        max_gap: int = 10,
    ) -> None:
        if not 1 <= vote_frames <= vote_window:
            raise ValueError("need 1 <= vote_frames <= vote_window")
        self.camera = camera
        self.vote_frames, self.vote_window, self.max_gap = vote_frames, vote_window, max_gap
        self.cooldown_s = cooldown_s
        self.unknown_cooldown_s = unknown_cooldown_s
        self._clock = clock
        self._tracks: dict[int, _Votes] = {}
        self._fed = 0  # frames fed so far: a track's age is counted in these
        self._last_named: dict[str, float] = {}
        self._last_unknown = float("-inf")

    def feed(self, frame: int, recognitions: list[Recognition], mono: float | None = None) -> list[Event]:
        """Events of one frame's tracked faces; each recognition must carry its tracker id."""
        now = self._clock()
        mono = now if mono is None else mono
        if any(r.track is None for r in recognitions):
            raise ValueError("the event rules need the tracker's id of every face (Recognition.track)")
        self._fed += 1
        self._tracks = {k: t for k, t in self._tracks.items() if self._fed - t.last_fed <= self.max_gap}
        events = []
        for r in recognitions:
            t = self._tracks.get(r.track)
            if t is None:
                t = self._tracks[r.track] = _Votes(self._fed, deque(maxlen=self.vote_window))
            t.last_fed = self._fed  # still followed, with or without a verdict
            if r.pending:
                continue  # no verdict yet: neither a vote for a name nor for "unknown"
            decided = self._vote(t, r.name)
            if decided == "named":
                last = self._last_named.get(r.name, float("-inf"))
                if now - last < self.cooldown_s:
                    continue
                self._last_named[r.name] = now
                events.append(self._event(r.name, r, frame, mono))
            elif decided == "unknown":
                if now - self._last_unknown < self.unknown_cooldown_s:
                    continue
                self._last_unknown = now
                events.append(self._event(None, r, frame, mono))
        return events

    def _vote(self, t: _Votes, name: str | None) -> str | None:
        """Record one sighting; say what it newly decided: "named", "unknown" or nothing.

        A stranger is reported once per track when its last ``vote_frames`` sightings all matched
        nobody: the same patience as a name, so one blurred frame of a family member is no "unknown".
        """
        t.votes.append(name)
        if name is not None:
            if t.confirmed != name and Counter(t.votes)[name] >= self.vote_frames:
                t.confirmed = name
                return "named"
            return None
        recent = list(t.votes)[-self.vote_frames :]
        if (t.confirmed is None and not t.unknown_confirmed and len(recent) == self.vote_frames
                and all(v is None for v in recent)):
            t.unknown_confirmed = True
            return "unknown"
        return None

    def _event(self, name: str | None, r: Recognition, frame: int, mono: float) -> Event:
        frame_wall = time.time() - (time.monotonic() - mono)
        return Event(uuid.uuid4().hex, utc_iso(), self.camera, name, r.score, r.box.as_list(), r.face_px,
                     frame, mono, utc_iso(frame_wall), r.track)
