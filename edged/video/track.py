"""Video fast path: detect every few frames, follow faces in between, embed until settled.

On a 640×360 clip HOG detection is most of the cost of a frame and the
embedding most of the cost of a face (README, "Speed"). Neither is needed on
every frame: between detections a face is followed by refitting its 5
landmarks on the previous box (under half a millisecond), and once a face's
identity has been the same for ``settle_frames`` embeddings it is only
re-checked every ``reverify_frames`` frames. The shortcuts are bounded:

- a face that enters is found at the next detection, at most
  ``detect_every - 1`` frames late;
- a face that leaves is dropped at the next detection;
- a followed face that changes identity (a cut, two people crossing, someone
  stepping in front) is re-checked in the very frame its box jumps or its
  appearance changes (:func:`appearance`, compared frame to frame and with the
  last embedding's), and at the latest at the next regular re-check; a
  disagreement unsettles it so it is embedded every frame again, and drops its
  name in that frame; when the quality gate holds the re-check back, the name
  lapses (the face is followed without one) until a reliable chip votes again;
- with a motion gate (:class:`~edged.vision.motion.MotionGate`), a detection is skipped
  only when the picture has not changed since the last one, and never for longer
  than the gate's ``check_every_s``; an empty, unchanging picture then costs a
  thumbnail every ``detect_every`` frames and nothing else;
- a frame larger than the detector's working size is detected where it changed
  (and around the faces followed) at full detail, on no more pixels than the whole
  frame reduced: a far face keeps its pixels; the whole frame is detected at
  least every ``check_every_s``.

Faces are followed from ``min_face_px`` (a small floor); the quality gate keeps
the small, blurred and turned ones from naming anyone. The turn is read from the
detector's own five points when it gives them (YuNet: a profile reads as one,
dlib's points fitted on the box do not); between detections a followed face keeps
its last detection's reading (dlib's is another measure with another limit).

A track's name is the *track's* verdict, not the last frame's: a name is given
only when it won at least ``settle_frames`` of the track's recent embeddings and
more than half of them, *and* the mean of the track's embeddings (at least
``mean_frames`` of them) names the same person. A face that stands at the door
is embedded many times, each a noisy draw; the best few draws of a stranger
reach a family member's threshold far more often than one photo does, while
their mean is as likely to as the photo (``benchmarks/video_strangers.py``;
README, "Strangers stay strangers"). Until the vote and the mean agree the track
has no verdict (it is embedded every frame, so its mean settles the question); a
re-check that disagrees starts a new mean, so two people crossing are still told
apart.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import cv2
import dlib
import numpy as np

from ..config import RecognitionConfig, default
from ..core.models import Box, Face, Recognition, iou
from ..vision.align import Aligner, cut, landmark_box, points
from ..vision.detect.base import Detector
from ..vision.detect.resize import crop_factor
from ..vision.match import Matcher
from ..vision.motion import MotionGate
from ..vision.pipeline import Embedder, StageTimer
from ..vision.quality import Gate, assess, detector_yaw

#: Overlap at which a detection is a face already followed (box jitter between detections stays above it).
MIN_IOU = 0.3
#: Embeddings of a track that its verdict is drawn from (about a second while it is unsettled).
HISTORY = 30
#: The identity check (:meth:`FaceTracker._doubt`): a face's appearance (:func:`appearance`) must keep at least this
#: correlation with the last frame's ... Chosen on the clip (Lin's named track, frame to frame: at least 0.75; the cut
#: at frame 211: 0.31) and on tuning-fold LFW faces put in one another's place (different people at exactly the
#: same spot: at most 0.74); ``benchmarks/identity_check.py`` measures it.
SAME_FRAME_TO_FRAME = 0.8
#: ... and at least this with the appearance of its last embedding (a slow takeover: the clip's Lin drifts to 0.48
#: over the 15 frames between two re-checks, so this check costs him an embedding now and then).
SAME_SINCE_EMBEDDING = 0.5
#: A box that moves by more than this share of its side between two frames, or whose side changes by more than
#: this share, is another face until an embedding says otherwise.
JUMP = 0.5
#: The side of the grey thumbnail of the face (its landmark box, no margin) that :func:`appearance` compares.
APPEARANCE_PX = 24
#: Embeddings a track's mean is drawn from before it can name anyone: chosen on the tuning folds, where 10 or 30
#: named no fewer strangers beyond noise and cost family clips (``benchmarks/video_strangers.py --folds tune``).
MEAN_FRAMES = 3


@dataclass
class Track:
    id: int
    box: Box
    shape: dlib.full_object_detection
    name: str | None = None  # the track's verdict (see the module docstring)
    best: str | None = None
    score: float = 0.0
    settled: bool = False
    agree: int = 0  # consecutive embeddings with the same result
    last_embed: int = -(10**9)
    last: str | None = None  # the last embedding's own result
    pending: bool = True  # no verdict yet: neither a name nor "unknown"
    gated: str | None = None  # why the quality gate kept the last chip from voting ("small", "blurred", "turned")
    #: The detector's own five points at the last detection (YuNet's; None for HOG): the turn is read from
    #: them, and kept while the face is followed between detections (module docstring).
    points: np.ndarray | None = None
    detected: int = -1  # the frame of its last detection
    history: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    total: np.ndarray | None = None  # sum of the track's (ungated) embeddings since it began or last changed face
    count: int = 0
    #: The face's appearance (:func:`appearance`) in the last frame, and when it was last embedded.
    seen: np.ndarray | None = None
    embedded_as: np.ndarray | None = None
    #: The box jumped or the appearance changed since the track's verdict: it is re-checked now, and its name
    #: lapses until an embedding confirms it.
    doubt: bool = False


def verdict(history: deque | list, min_votes: int) -> tuple[str | None, bool]:
    """(name, decided): the result (a name, or None for unknown) that won at least ``min_votes`` and
    more than half of a track's embeddings; undecided while no result has."""
    if not history:
        return None, False
    result, votes = Counter(history).most_common(1)[0]
    if votes >= min_votes and 2 * votes > len(history):
        return result, True
    return None, False


def appearance(image: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """A face's look, cheaply: its landmark box (no margin) as an :data:`APPEARANCE_PX` px grey thumbnail, zero
    mean and unit norm, so that the dot product of two is their correlation (light changes its gain, not this).

    Not an identity: two people at exactly the same spot correlate up to 0.74 (:data:`SAME_FRAME_TO_FRAME`);
    it says when to ask the embedder, which does say who it is."""
    thumb = cut(image, landmark_box(pts), APPEARANCE_PX, 0.0).astype(np.float32)
    grey = (thumb.mean(axis=2) if thumb.ndim == 3 else thumb).ravel()
    grey -= grey.mean()
    return grey / max(float(np.linalg.norm(grey)), 1e-6)


def jumped(old: Box, new: Box) -> bool:
    """Whether ``new`` is too far from ``old``, or too differently sized, to be taken for the same face unchecked."""
    side = max(min(old.w, old.h), 1)
    dx = (new.x + new.w / 2) - (old.x + old.w / 2)
    dy = (new.y + new.h / 2) - (old.y + old.h / 2)
    return (dx * dx + dy * dy) ** 0.5 > JUMP * side or abs(min(new.w, new.h) - side) > JUMP * side


def associate(old: list[Box], new: list[Box], min_iou: float) -> list[tuple[int, int]]:
    """(old index, new index) pairs of the same face: greedily by overlap, at least ``min_iou``.

    The one rule by which frd decides that a detection is a face it already follows.
    """
    pairs = sorted(((iou(a, b), i, j) for i, a in enumerate(old) for j, b in enumerate(new)), reverse=True)
    used_old, used_new, out = set(), set(), []
    for overlap, i, j in pairs:
        if overlap < min_iou or i in used_old or j in used_new:
            continue
        used_old.add(i)
        used_new.add(j)
        out.append((i, j))
    return out


class FrameIds:
    """Track ids for a path that detects every frame (``frd bench``'s reference, per-frame evaluations).

    The tracker's own rule (:func:`associate` at the same overlap) on each frame's detections: a face
    overlapping one of the previous frame keeps its id, any other gets a new one. The event rules then
    vote per id exactly as they do behind :class:`FaceTracker`.
    """

    def __init__(self, min_iou: float = MIN_IOU) -> None:
        self.min_iou = min_iou
        self._prev: list[tuple[int, Box]] = []
        self._next = 0

    def __call__(self, recognitions: list[Recognition]) -> list[Recognition]:
        """The same recognitions, each with its ``track`` id."""
        ids: list[int | None] = [None] * len(recognitions)
        for i, j in associate([b for _, b in self._prev], [r.box for r in recognitions], self.min_iou):
            ids[j] = self._prev[i][0]
        for j, v in enumerate(ids):
            if v is None:
                ids[j], self._next = self._next, self._next + 1
        self._prev = [(v, r.box) for v, r in zip(ids, recognitions, strict=True)]
        return [replace(r, track=v) for v, r in zip(ids, recognitions, strict=True)]


@dataclass
class TrackedFace:
    """One face in one frame; ``face`` (chip + embedding) only when it was embedded in this frame."""

    track: int
    recognition: Recognition
    face: Face | None
    #: Why the quality gate keeps ``face``'s embedding from naming anyone ("small", "blurred", "turned"), or
    #: None; a capture embeds such faces too, and must not enroll them.
    gated: str | None = None


def _center(shape: dlib.full_object_detection) -> tuple[float, float]:
    x, y = points(shape).mean(axis=0)
    return float(x), float(y)


def _union(boxes: list[Box], h: int, w: int, grow: float = 0.0) -> Box:
    """The smallest box holding all ``boxes``, each grown by ``grow`` of its side on every side, in the frame."""
    x0 = min(b.x - grow * b.w for b in boxes)
    y0 = min(b.y - grow * b.h for b in boxes)
    x1 = max(b.x + b.w + grow * b.w for b in boxes)
    y1 = max(b.y + b.h + grow * b.h for b in boxes)
    x0, y0 = max(int(x0), 0), max(int(y0), 0)
    return Box(x0, y0, min(int(x1 + 0.5), w) - x0, min(int(y1 + 0.5), h) - y0)


#: A followed face is looked for again within this much of its side around it (it moves between detections).
TRACK_MARGIN = 0.5
#: Under this side in the detector's input YuNet misses faces often (the clip's faces shrunk: 25 % found at
#: 12-15 px, 50 % at 16-19, 63 % at 20-23, 85 % from 24 px; README, "Far faces").
SMALL_PX = 24


@dataclass
class FaceTracker:
    """Per-camera state for the fast path; share detector/aligner/embedder/matcher between cameras."""

    detector: Detector
    aligner: Aligner
    embedder: Embedder
    matcher: Matcher
    detect_every: int = default(RecognitionConfig, "detect_every")
    #: Embeddings a name needs to settle: the event rules' ``vote_frames`` (the daemon sets both from it).
    settle_frames: int = default(RecognitionConfig, "vote_frames")
    reverify_frames: int = default(RecognitionConfig, "reverify_frames")
    min_iou: float = MIN_IOU
    #: A name also needs the mean of at least this many of the track's embeddings to match it (0: no such rule).
    mean_frames: int = MEAN_FRAMES
    #: Skips detections while the picture does not change (None: detect every ``detect_every`` frames).
    motion: MotionGate | None = None
    #: Faces too small, blurred or turned are followed but their embeddings name nobody (None: no gate).
    gate: Gate | None = None
    #: The smallest face side (frame pixels) detected and followed; None: the detector's own minimums. The
    #: daemon sets a small floor and lets the gate's size limits decide which faces may be named.
    min_face_px: int | None = None
    #: The motion gate's clock when :meth:`process` is given no ``now``.
    clock: Callable[[], float] = time.monotonic
    #: Re-check a face with a verdict in the frame its box jumps or its look changes (:meth:`_doubt`); off only to
    #: measure what it costs (``benchmarks/identity_check.py``).
    identity_check: bool = True
    timer: StageTimer = field(default_factory=StageTimer)
    tracks: list[Track] = field(default_factory=list)
    #: Chips the quality gate kept from voting (for ``frd bench`` and the tests).
    gated: int = 0
    _frame: int = 0
    _next_detect: int = 0
    _next_id: int = 0

    def process(self, image: np.ndarray, force_embed: bool = False, now: float | None = None, bgr: bool = False,
                skipped: int = 0) -> list[TrackedFace]:
        """Faces of the next frame of this camera; ``force_embed`` embeds every face (capture enrollment,
        which also bypasses the motion gate). ``now``: the frame's time in seconds for the motion gate's
        periodic check (default: ``clock()``). ``bgr``: the frame is a camera's BGR (else RGB); it is never
        converted (only the chips cut from it are turned to RGB). ``skipped``: frames
        of this camera passed over just before this one, unread, because :meth:`idle_frames` said so."""
        index = self._frame + skipped
        self._frame = index + 1
        t0 = time.perf_counter()
        detect, changed, t0 = self._detection_due(image, index, force_embed, now, bgr, t0)
        if not detect and not self.tracks:
            return []  # nothing to detect, nothing to follow: not even the grey image
        t1 = self._locate(image, index, detect, changed, bgr, t0)
        if self.identity_check:
            t1 = self._doubt(image, t1)
        # a face gated as turned on the detector's reading stays so until its next detection (the reading is
        # the last detection's): no chip is cut to find that out again
        due = [t for t in self.tracks if (force_embed or t.doubt or not t.settled
                                          or index - t.last_embed >= self.reverify_frames)
               and (force_embed or t.gated != "turned" or t.points is None or t.detected == index)]
        side = min(image.shape[:2])
        if due and self.gate is not None and not force_embed:
            due = self._not_small(due, side)
        chips, t2 = None, t1
        if due:
            due, chips, t2 = self._chips(image, due, force_embed, bgr, side, t1)
        self._lapse_unconfirmed(index)
        faces = self._embed(due, chips, index, t2) if due else {}
        for t in self.tracks:
            if t.doubt and t.name is not None:  # a doubt no reliable chip could settle in this frame
                t.name, t.pending = None, True
        out = []
        for t in self.tracks:
            rec = Recognition(t.box, t.name, t.score, t.best, min(t.box.w, t.box.h), pending=t.pending, track=t.id)
            face = faces.get(t.id)
            out.append(TrackedFace(t.id, rec, face, t.gated if face is not None else None))
        return out

    def _detection_due(self, image: np.ndarray, index: int, force_embed: bool, now: float | None, bgr: bool,
                       t0: float) -> tuple[bool, Box | None, float]:
        """(detect in frame ``index``?, where the picture changed, when this step ended).

        Due rather than every n-th: frames the camera passed over (``skipped``) or dropped cannot make it miss
        the check; the motion gate may then skip it (not for a capture)."""
        detect = index >= self._next_detect
        if detect:
            self._next_detect = index + self.detect_every
        changed: Box | None = None
        if detect and self.motion is not None and not force_embed:
            detect, changed = self.motion.check(image, self.clock() if now is None else now, bgr=bgr,
                                                idle=not self.tracks)
            t1 = time.perf_counter()
            self.timer.add("motion", t1 - t0)
            t0 = t1
        return detect, changed, t0

    def _locate(self, image: np.ndarray, index: int, detect: bool, changed: Box | None, bgr: bool, t0: float
                ) -> float:
        """Detect the faces, or follow the ones followed; returns when this step ended.

        The frame stays in the camera's colour order: converting a 1080p frame to RGB costs 0.5 ms, and
        nothing needs it. Landmarks are fitted on the colour frame, as for photos (enrollment, the
        calibration): dlib reads the few pixels it needs as they are (their mean over the channels, the
        same in either order), where a grey copy of a 1080p frame costs 0.8 ms; YuNet takes BGR itself;
        only the chips are turned to RGB, the model's order. HOG detects on grey (30 % cheaper)."""
        if detect:
            grey = cv2.COLOR_BGR2GRAY if bgr else cv2.COLOR_RGB2GRAY
            self._detect(image if self.detector.colour else cv2.cvtColor(image, grey), image, changed, bgr)
            for t in self.tracks:
                t.detected = index
            t1 = time.perf_counter()
            self.timer.add("detect", t1 - t0)
        else:
            self._follow(image)
            t1 = time.perf_counter()
            self.timer.add("track", t1 - t0, max(len(self.tracks), 1))
        return t1

    def _doubt(self, image: np.ndarray, t0: float) -> float:
        """Mark the faces with a verdict whose look changed (:func:`appearance`: from the last frame, or since their
        last embedding) as doubtful: they are embedded in this frame, and lose their name in it unless a reliable
        chip confirms it. A box that jumped was marked when it was placed (:meth:`_detect`, :meth:`_follow`).

        The tracker follows a box; a cut, two people crossing or someone stepping in front can put another face
        in it, and the regular re-check (``reverify_frames``) would notice only up to half a second later, while
        the name flowed to the wrong face."""
        for t in self.tracks:
            look = appearance(image, points(t.shape))
            changed = t.seen is not None and float(look @ t.seen) < SAME_FRAME_TO_FRAME
            drifted = t.embedded_as is not None and float(look @ t.embedded_as) < SAME_SINCE_EMBEDDING
            t.doubt = t.doubt or (not t.pending and (changed or drifted))
            t.seen = look
        t1 = time.perf_counter()
        self.timer.add("identity", t1 - t0, max(len(self.tracks), 1))
        return t1

    def _not_small(self, due: list[Track], side: int) -> list[Track]:
        """A face too small to name is followed and counted, and costs no chip."""
        assert self.gate is not None
        small = {t.id for t in due if self.gate.small(min(t.box.w, t.box.h), side)}
        for t in due:
            if t.id in small:
                t.gated = "small"
        self.gated += len(small)
        return [t for t in due if t.id not in small]

    def _chips(self, image: np.ndarray, due: list[Track], force_embed: bool, bgr: bool, side: int, t1: float
               ) -> tuple[list[Track], np.ndarray, float]:
        """The chips of the ``due`` faces, with those the quality gate holds back left out (but for a capture):
        (the faces to embed, their chips, when this step ended)."""
        marks = [points(t.shape) for t in due]  # the chip is placed by them, the gate reads the turn from them
        chips = np.stack([self.aligner.chip_at(image, pts) for pts in marks])
        chips = np.ascontiguousarray(chips[..., ::-1] if bgr else chips)  # a chip's pixels: the same either way
        aligned = len(due)
        if self.gate is not None:
            for t, chip, pts in zip(due, chips, marks, strict=True):
                q = assess(min(t.box.w, t.box.h), chip, pts)
                if t.points is not None:  # the detector's own points read a profile (quality.detector_yaw)
                    q = replace(q, yaw=detector_yaw(t.points))
                t.gated = self.gate.reason(q, side, detector_points=t.points is not None)
                self.gated += t.gated is not None
            # a gated face is still followed and counted, and embedded only for a capture
            keep = [i for i, t in enumerate(due) if force_embed or t.gated is None]
            due, chips = [due[i] for i in keep], chips[keep]
        t2 = time.perf_counter()
        self.timer.add("align", t2 - t1, aligned)
        return due, chips, t2

    def _lapse_unconfirmed(self, index: int) -> None:
        """A named face whose re-check is due while the gate holds it back: the name can no longer be confirmed
        (after a cut, a turned stranger followed in the named face's place kept it), so it lapses until a
        reliable chip votes again."""
        for t in self.tracks:
            if t.gated is not None and t.name is not None and index - t.last_embed >= self.reverify_frames:
                t.name, t.pending = None, True

    def _embed(self, due: list[Track], chips: np.ndarray, index: int, t2: float) -> dict[int, Face]:
        """Embed the chips; the reliable ones vote (:meth:`identify`). Returns each embedded face by track id."""
        emb = self.embedder.embed(chips)
        t3 = time.perf_counter()
        self.timer.add("embed", t3 - t2, len(due))
        # an unreliable embedding never votes for a name (nor for "unknown")
        self.identify([t for t in due if t.gated is None], emb[[t.gated is None for t in due]], index)
        faces = {t.id: Face(t.box, chip, e) for t, chip, e in zip(due, chips, emb, strict=True)}
        self.timer.add("match", time.perf_counter() - t3, len(due))
        return faces

    def _detect(self, image: np.ndarray, frame: np.ndarray, changed: Box | None = None, bgr: bool = False) -> None:
        """Detect in ``image`` (grey for HOG; colour for a detector that wants it: YuNet loses a quarter of
        the clip's faces on grey), fit landmarks on ``frame`` (``bgr``: both in the camera's BGR order).

        A frame larger than the detector's working size is reduced for a whole-frame detection, and a far
        face shrinks with it below what the detector finds. So where the motion gate says the picture
        changed (``changed``), joined with the faces already followed, the detector looks at that part of
        the frame at full detail (reduced only if it is itself larger than the working size: the cost
        stays bounded). After a whole-frame detection (the first, the periodic check, no motion gate), the
        followed faces it did not confirm are looked for once more in a crop around them.
        """
        h, w = image.shape[:2]
        working = self.detector.working_side
        floor = self.detector.min_side(h, w) if self.min_face_px is None else self.min_face_px
        crops = working is not None and max(h, w) > working
        region = None
        if crops and changed is not None:
            region = _union([changed] + [_union([t.box], h, w, TRACK_MARGIN) for t in self.tracks], h, w)
            if crop_factor((region.h, region.w), (h, w), working) * working >= max(h, w):
                region = None  # no more detail than the whole frame: detect all of it
        boxes = self.detector.detect_in(image, region, floor, bgr)
        if crops and region is None and self.tracks:
            # a face the reduced frame makes too small for the detector is looked for at full detail; a larger
            # one it did not find has left (or turned away)
            confirmed = {ti for ti, _ in associate([t.box for t in self.tracks], boxes, self.min_iou)}
            missing = [t.box for ti, t in enumerate(self.tracks)
                       if ti not in confirmed and min(t.box.w, t.box.h) * working < SMALL_PX * max(h, w)]
            if missing:
                again = self.detector.detect_in(image, _union(missing, h, w, TRACK_MARGIN), floor, bgr)
                boxes += [b for b in again if all(iou(a, b) < self.min_iou for a in boxes)]
        used_b, kept = set(), []
        for ti, bi in associate([t.box for t in self.tracks], boxes, self.min_iou):
            used_b.add(bi)
            t = self.tracks[ti]
            t.doubt = t.doubt or (not t.pending and self.identity_check and jumped(t.box, boxes[bi]))
            t.box = boxes[bi]
            t.points = t.box.points
            t.shape = self.aligner.landmarks(frame, t.box)
            kept.append(t)
        for bi, b in enumerate(boxes):
            if bi not in used_b:
                kept.append(Track(self._next_id, b, self.aligner.landmarks(frame, b), points=b.points))
                self._next_id += 1
        self.tracks = kept  # tracks no detection confirmed are gone

    def _follow(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        for t in self.tracks:
            shape = self.aligner.landmarks(frame, t.box)
            (x0, y0), (x1, y1) = _center(t.shape), _center(shape)
            nx = round(min(max(t.box.x + x1 - x0, 0), w - t.box.w))
            ny = round(min(max(t.box.y + y1 - y0, 0), h - t.box.h))
            box = Box(nx, ny, t.box.w, t.box.h)
            t.doubt = t.doubt or (not t.pending and self.identity_check and jumped(t.box, box))
            t.box = box
            t.shape = shape  # fitted on the previous box: a few pixels of motion do not disturb it


    def identify(self, tracks: list[Track], embeddings: np.ndarray, index: int) -> None:
        """The identity rule: each track's new embedding (made in frame ``index``) updates its verdict.

        The one place where embeddings become names (``benchmarks/video_strangers.py`` replays it)."""
        if not tracks:
            return
        own = self.matcher.match(embeddings)
        for t, m, e in zip(tracks, own, embeddings, strict=True):
            if (t.settled or t.doubt) and m.name != t.last:
                t.total, t.count = None, 0  # a re-check disagreed (two people crossing?): a new mean begins
            t.total = e.astype(np.float64) if t.total is None else t.total + e
            t.count += 1
        means = self.matcher.match(np.stack([t.total / t.count for t in tracks]))
        for t, m, mean in zip(tracks, own, means, strict=True):
            self._update(t, m.name, m.best, m.score, index, mean.name)

    def _update(self, t: Track, name: str | None, best: str | None, score: float, index: int,
                mean_name: str | None) -> None:
        same = name == t.last
        if (t.settled or t.doubt) and not same:
            # a re-check disagreed (two people crossing, or a doubt): embed every frame again, and let
            # the verdict be drawn from the last few results, not from the long agreement before
            t.settled, t.agree = False, 0
            while len(t.history) >= self.settle_frames:
                t.history.popleft()
        t.doubt, t.embedded_as = False, t.seen  # this embedding settles the doubt, either way
        t.agree = t.agree + 1 if same else 1
        t.last, t.best, t.score, t.last_embed = name, best, score, index
        t.history.append(name)
        t.name, decided = verdict(t.history, self.settle_frames)
        if self.mean_frames and t.name is not None and (t.count < self.mean_frames or mean_name != t.name):
            # the frames' vote names someone the track's evidence as a whole does not (yet): no verdict
            # rather than "unknown", so it is embedded every frame and its mean settles the question
            t.name, decided = None, False
        t.pending = not decided
        # settled (re-checked only now and then) once the verdict stands and the recent results agree with it
        t.settled = decided and t.agree >= self.settle_frames and t.name == name

    def idle_frames(self) -> int:
        """How many of the camera's next frames this tracker will not look at: with nobody followed and the
        motion gate on, the frames before the next motion check. The camera need not even turn them into
        images (:meth:`edged.vision.camera.CameraReader.skip_ahead`); they are passed as ``skipped``."""
        if self.tracks or self.motion is None or not self.motion.skip:
            return 0
        return max(self._next_detect - self._frame, 0)

    def reset(self) -> None:
        """Forget every face (after a gallery change, so identities are re-established)."""
        self.tracks = []
        if self.motion is not None:
            self.motion.reset()
