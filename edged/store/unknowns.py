"""Recent faces held in memory, so that a user can name a stranger without a photo and fix a wrong name.

With ``unknown_faces.keep: N`` the daemon hands this store the faces it follows. One
*track* (the tracker's id of one face, per camera) is one entry, holding its best few
chips and their embeddings. An entry gets a ``face_id`` when the event rules announce
its track, as ``unknown`` or with a name: unknown entries are listed
(``cmd/unknown/list``) and can be enrolled (``cmd/enroll {"name", "face_ids"}``); any
announced entry can be moved to another person (``cmd/reassign``), which is why faces
that were named are held too. Entries of tracks that are still undecided are held
(a track's first embeddings come before its verdict) but dropped as soon as the track
is no longer followed.

Privacy bounds: at most ``keep`` entries, each for at most ``ttl_s`` seconds from
when it was first held, nothing on disk (a restart forgets everything), and with
``keep == 0`` nothing is held at all. Pure logic with an injectable clock (no
OpenCV, no model): the daemon computes each chip's quality.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..config import UnknownFacesConfig, default
from ..core.errors import InputError
from ..core.models import Box, Face, new_id, utc_iso

if TYPE_CHECKING:
    from ..vision.match import Matcher

log = logging.getLogger(__name__)

#: Chips kept per entry: the best by quality (a few good ones enroll better than many poor ones).
CHIPS_PER_FACE = 5
#: Event ids remembered per entry (a track is announced again only when its name changes).
EVENT_IDS_PER_FACE = 4


@dataclass(frozen=True, eq=False)
class Sample:
    """One aligned chip of a held face, its embedding and how good it is for enrollment."""

    chip: np.ndarray
    embedding: np.ndarray
    box: Box
    sharpness: float
    #: passes the enrollment screen (size and sharpness) and the camera's quality gate (not turned aside):
    #: ranked before any sample that does not
    usable: bool = True

    @property
    def face_px(self) -> int:
        return min(self.box.w, self.box.h)

    def rank(self) -> tuple:
        return (self.usable, self.face_px, self.sharpness)


@dataclass
class Held:
    """One unknown track's entry."""

    camera: str
    track: int
    since: float  # the store's clock when first held
    wall: float  # epoch seconds when first held
    seen: float  # the store's clock when last offered a chip
    samples: list[Sample] = field(default_factory=list)
    face_id: str | None = None  # set once the track is announced
    #: the name its last announcement gave it (None: unknown)
    name: str | None = None
    #: the person it was enrolled under (``cmd/enroll`` with its face_id, ``cmd/reassign``), if any
    enrolled: str | None = None
    #: the announcements' event ids (``cmd/reassign {"event_id"}``), the latest few
    event_ids: list[str] = field(default_factory=list)

    @property
    def who(self) -> str | None:
        """Whom the face counts as now: the person it was enrolled under, else the name it was announced with."""
        return self.enrolled or self.name

    @property
    def label(self) -> str:
        """The source label of its samples in the gallery (``Person.sources``): finds them again."""
        return f"unknown:{self.face_id}"

    def best(self) -> Sample | None:
        return max(self.samples, key=Sample.rank) if self.samples else None

    def faces(self) -> list[Face]:
        return [Face(s.box, s.chip, s.embedding) for s in sorted(self.samples, key=Sample.rank, reverse=True)]


def group_visitors(entries: list[tuple[str, np.ndarray]], matcher: Matcher) -> dict[str, str]:
    """``{face_id: visitor id}`` for ``(face_id, embeddings)`` entries, oldest first.

    No new distance: each entry is judged as the daemon would judge that face had every visitor seen
    before it been enrolled as a person — ``matcher`` (built like the recognition matcher: same
    calibration, strictness and threshold, which follows the number of visitors) matches each of the
    entry's samples, and the entry joins the visitor that more than half of them are named as; else it
    is a new visitor. A visitor's id is the face_id of its first entry.
    """
    members: dict[str, list[np.ndarray]] = {}
    out: dict[str, str] = {}
    for face_id, embeddings in entries:
        visitor = face_id
        if members:
            matcher.set_gallery({v: np.concatenate(e) for v, e in members.items()})
            votes = Counter(m.name for m in matcher.match(embeddings) if m.name is not None)
            if votes:
                best, n = votes.most_common(1)[0]
                if 2 * n > len(embeddings):
                    visitor = best
        members.setdefault(visitor, []).append(np.asarray(embeddings, np.float32))
        out[face_id] = visitor
    return out


class UnknownFaces:
    """The store: fed by the frame loop, read by the command thread (its own lock guards both)."""

    def __init__(self, keep: int, ttl_s: float = float(default(UnknownFacesConfig, "ttl_s")), *,
                 per_face: int = CHIPS_PER_FACE, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        if keep < 0 or ttl_s <= 0 or per_face < 1:
            raise ValueError("need keep >= 0, ttl_s > 0 and per_face >= 1")
        self.keep = keep
        self.ttl_s = ttl_s
        self.per_face = per_face
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._held: dict[tuple[str, int], Held] = {}
        self._forget_listeners: list[Callable[[list[str]], None]] = []

    def on_forget(self, listener: Callable[[list[str]], None]) -> None:
        """``listener(face_ids)`` hears the ids forgotten on request (``cmd/unknown/forget``, ``cmd/ignore``),
        after the store's lock is released: a face shown in Home Assistant is blanked."""
        self._forget_listeners.append(listener)

    def _forgotten(self, face_ids: list[str]) -> None:
        for listener in self._forget_listeners if face_ids else []:
            try:
                listener(face_ids)
            except Exception:  # the entries are gone already; one listener's bug must not say otherwise
                log.exception("a listener of forgotten faces failed")

    @property
    def enabled(self) -> bool:
        return self.keep > 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._held)

    def chips_held(self) -> int:
        """How many chips are in memory (what ``keep: 0`` must keep at zero)."""
        with self._lock:
            return sum(len(h.samples) for h in self._held.values())

    # -- the frame loop ------------------------------------------------------------------
    def offer(self, camera: str, track: int, sample: Sample) -> None:
        """A chip of a followed track (named or not): kept if it is among the track's best few."""
        if not self.enabled:
            return
        with self._lock:
            now = self._clock()
            self._expire(now)
            key = (camera, track)
            h = self._held.get(key)
            if h is None:
                if len(self._held) >= self.keep:
                    self._evict()
                h = self._held[key] = Held(camera, track, now, self._wall(), now)
            h.seen = now
            h.samples.append(sample)
            if len(h.samples) > self.per_face:
                worst = min(range(len(h.samples)), key=lambda i: h.samples[i].rank())
                del h.samples[worst]

    def followed(self, camera: str, tracks: Iterable[int]) -> None:
        """The tracks ``camera`` still follows: undecided entries of the others are dropped."""
        live = set(tracks)
        with self._lock:
            for key in [k for k, h in self._held.items() if k[0] == camera and h.face_id is None and k[1] not in live]:
                del self._held[key]

    def announce(self, camera: str, track: int | None, name: str | None = None, event_id: str | None = None
                 ) -> str | None:
        """The track was announced (as ``name``, None: unknown): its entry's ``face_id`` (None when nothing is
        held of it). A track keeps its id when it is announced again under another name."""
        if track is None:
            return None
        with self._lock:
            self._expire(self._clock())
            h = self._held.get((camera, track))
            if h is None or not h.samples:
                return None
            if h.face_id is None:
                h.face_id = new_id()
            h.name = name
            if event_id is not None:
                h.event_ids = [*h.event_ids, event_id][-EVENT_IDS_PER_FACE:]
            return h.face_id

    def _evict(self) -> None:
        """Make room: an undecided entry first (nobody was told its id), else the oldest announced one."""
        victim = min(self._held.items(), key=lambda kv: (kv[1].face_id is not None, kv[1].since))
        del self._held[victim[0]]

    def _expire(self, now: float) -> None:
        for key in [k for k, h in self._held.items() if now - h.since >= self.ttl_s]:
            del self._held[key]

    def expire(self) -> None:
        """Drop entries older than ``ttl_s`` (the daemon calls this even when no face is offered)."""
        with self._lock:
            self._expire(self._clock())

    # -- the commands ------------------------------------------------------------------------
    def _unknown_snapshot(self) -> list[tuple[str, np.ndarray]]:
        """(face_id, embeddings) of the unknown entries, oldest first. Under the lock."""
        return [(h.face_id or "", np.stack([s.embedding for s in h.samples]))
                for h in sorted(self._unknown(), key=lambda h: h.since)]

    def visitor_faces(self, face_ids: list[str], matcher: Matcher) -> list[str]:
        """Every unknown entry of the visitors of ``face_ids`` (``cmd/enroll {..., "visitor": true}``), oldest
        first; InputError for an id not held."""
        with self._lock:
            self._expire(self._clock())
            found = [h.face_id or "" for h in self._find(list(dict.fromkeys(face_ids)))]
            entries = self._unknown_snapshot()
        groups = group_visitors(entries, matcher)  # outside the lock: the frame loop is not held up
        wanted = {groups.get(f, f) for f in found}
        return list(dict.fromkeys([f for f, v in groups.items() if v in wanted] + found))

    def listing(self, matcher: Matcher | None = None) -> dict:
        """``cmd/unknown/list``: the entries announced as unknown and not enrolled since, newest first, without
        chips or embeddings; entries of one visitor (``matcher``: :func:`group_visitors`) share ``visitor``."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            entries = self._unknown_snapshot()
            out = []
            for h in sorted(self._unknown(), key=lambda h: h.since, reverse=True):
                best = h.best()
                out.append({"face_id": h.face_id, "visitor": h.face_id, "camera": h.camera,
                            "ts": utc_iso(h.wall),
                            "expires_in_s": round(max(0.0, self.ttl_s - (now - h.since))), "chips": len(h.samples),
                            "face_px": best.face_px if best else None,
                            "sharpness": round(best.sharpness, 1) if best else None})
        if matcher is not None:  # outside the lock: the frame loop is not held up
            groups = group_visitors(entries, matcher)
            for f in out:
                f["visitor"] = groups.get(f["face_id"], f["face_id"])
        return {"keep": self.keep, "ttl_s": self.ttl_s, "faces": out}

    def _announced(self) -> list[Held]:
        return [h for h in self._held.values() if h.face_id is not None]

    def _unknown(self) -> list[Held]:
        return [h for h in self._announced() if h.who is None]

    def _find(self, face_ids: list[str], what: str = "unknown face") -> list[Held]:
        by_id = {h.face_id: h for h in self._announced()}
        missing = [f for f in face_ids if f not in by_id]
        if missing:
            shown = ", ".join(repr(f[:40]) for f in missing[:5])
            raise InputError(f"no {what} {shown} is held (they are kept in memory only, for at most "
                             f"unknown_faces.ttl_s = {self.ttl_s:g} s and not across restarts; see cmd/unknown/list)")
        return [by_id[f] for f in face_ids]

    def recent(self, face_id: str | None = None, event_id: str | None = None) -> tuple[str, str | None, str,
                                                                                        list[tuple[str, Face]]]:
        """``cmd/reassign``: (face_id, whom it counts as now, its samples' label, its faces best first) of the
        entry with ``face_id`` or announced with ``event_id``; InputError when it is not held."""
        if not self.enabled:
            raise InputError("recent faces are not kept on this device (unknown_faces.keep is 0), so a "
                             "recognition cannot be moved; remove its samples with cmd/samples/remove instead")
        with self._lock:
            self._expire(self._clock())
            if event_id is not None:
                found = [h for h in self._announced() if event_id in h.event_ids]
                if not found:
                    raise InputError(f"no recent face of event {event_id[:40]!r} is held (faces are kept in memory "
                                     f"only, for at most unknown_faces.ttl_s = {self.ttl_s:g} s and not across "
                                     "restarts)")
                h = found[0]
            else:
                [h] = self._find([face_id or ""], "recent face")
            return h.face_id or "", h.who, h.label, [(h.label, f) for f in h.faces()]

    def enrolled(self, face_ids: list[str], name: str) -> None:
        """The entries were enrolled under ``name``: no longer listed as unknown, but still held (until
        forgotten or expired) so that a wrong name can be fixed with ``cmd/reassign``."""
        ids = set(face_ids)
        with self._lock:
            for h in self._announced():
                if h.face_id in ids:
                    h.enrolled = name

    def faces(self, face_ids: list[str]) -> list[tuple[str, Face]]:
        """(label, face) of every chip of the given entries, best first; InputError names ids not held."""
        if not self.enabled:
            raise InputError("unknown faces are not kept on this device (unknown_faces.keep is 0)")
        with self._lock:
            self._expire(self._clock())
            found = self._find(list(dict.fromkeys(face_ids)))
            return [(h.label, f) for h in found for f in h.faces()]

    def held(self, face_id: str) -> tuple[str, np.ndarray]:
        """(camera, embeddings) of one announced entry; InputError when it is not held."""
        if not self.enabled:
            raise InputError("unknown faces are not kept on this device (unknown_faces.keep is 0)")
        with self._lock:
            self._expire(self._clock())
            [h] = self._find([face_id])
            return h.camera, np.stack([s.embedding for s in h.samples])

    def discard(self, face_ids: list[str]) -> None:
        """Drop the given entries if they are still held (after they were enrolled)."""
        ids = set(face_ids)
        with self._lock:
            for key in [k for k, h in self._held.items() if h.face_id in ids]:
                del self._held[key]

    def forget(self, face_ids: list[str] | None) -> list[str]:
        """Forget the given entries (None: every entry, announced or not); returns the ids forgotten."""
        with self._lock:
            if face_ids is None:
                gone = sorted(h.face_id for h in self._announced() if h.face_id is not None)
                self._held.clear()
            else:
                found = self._find(list(dict.fromkeys(face_ids)))
                for h in found:
                    del self._held[(h.camera, h.track)]
                gone = [h.face_id for h in found if h.face_id is not None]
        self._forgotten(gone)
        return gone
