"""A stranger standing at the door: is a person announced more often than a photo is named?

``python benchmarks/video_strangers.py ../shared/data/faces/lfw [--folds test]``

LFW people have photos, not video, so each photo becomes a synthetic clip of someone standing still
in front of a camera for ten seconds (300 frames at 30 fps): the photo in a 640×360 frame, moved by
a pixel or two, scaled by ±2 %, its brightness changed by ±4 % and sensor noise added, frame after
frame (``--motion sway``: moved by up to 6 px, scaled by ±8 %, tilted by up to 6°, light ±10 % and a
little blur: frames less alike). Galleries of 50 people (5 photos each) are drawn from the chosen
folds (``tune``: 2–3, where the identity rule is chosen; ``test``: 4–5, the held-out people the
figures are reported on).

**The daemon's path, once per clip.** The clip's frames go through ``app.build_tracker`` at the
defaults (detection every 3rd frame, the follower, 5-point alignment, the quality gate) once, with
every face's chip kept for every frame; where faces are, and which chips the gate refuses, does
not depend on who they are. The identity rule is then replayed on those chips by the tracker's own
:meth:`~edged.video.track.FaceTracker.identify` (embed until settled, re-check every 15 frames, the
track's verdict) and the event rules (``app.build_engine``), embedding a chip only when the rule
asks for it, for each gallery and each variant of the rule (``--mean-frames``; 0 is the rule
before the track's mean had to agree). ``--check N`` runs N clips straight through the daemon's
path and fails if the replay announced anything else.

**Which clips.** Few stranger photos are named at all (about 1 %), so they are not drawn blindly:
every stranger photo that the still-photo matcher names in some gallery is run as a clip (stratum
1), and a random sample of the photos it names in none (stratum 2). A rate is then the two strata
weighted by their share of (photo, gallery) pairs; its interval combines the strata's Wilson
intervals in quadrature. "Per frame" is the share of the subject's frames (every ``--every``-th,
not gated) whose embedding alone would name someone, on the same clips. Only the clip's subject
(its largest face) counts; faces behind it are counted apart.

**Family.** Enrolled people's other photos as clips, in every gallery that holds them: the share
announced with their own name, and with a wrong one.

Frames, chips and embeddings live in memory for one clip at a time: nothing is written.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edged.config import DEFAULT_DETECTOR, RecognitionConfig
from edged.core.models import Recognition
from edged.daemon.app import build_engine, build_pipeline, build_tracker
from edged.tools.calibrate import SHOTS, TEST_FOLDS, TUNE_FOLDS, default_cache, embed_people
from edged.tools.datasets import Lfw
from edged.tools.distance import wilson
from edged.video.track import MEAN_FRAMES, Track
from edged.vision.images import load_image
from edged.vision.match import Matcher

FRAMES = 300  # ten seconds at 30 fps, as the issue says
W, H = 640, 360


#: How much a frame differs from the last: (scale, shift px, roll degrees, brightness, noise σ, blur σ up to).
MOTIONS = {"still": (0.02, 2, 0.0, 0.04, 2, 0.0), "sway": (0.08, 6, 6.0, 0.10, 3, 1.2)}


def standing_clip(photo: np.ndarray, seed: int, frames: int = FRAMES, motion: str = "still"):
    """Frames of ``photo`` (a face picture) held in front of a camera: small moves, light and noise
    (``still``), or a person swaying: larger moves, a tilt of the head and a little motion blur (``sway``)."""
    rng = np.random.default_rng(seed)
    cv2.setRNGSeed(seed)
    noise = np.empty((H, W, 3), np.float32)
    ds, shift, roll, light, sigma, blur = MOTIONS[motion]
    scale, h, w = 1.2, photo.shape[0], photo.shape[1]
    for _ in range(frames):
        s = scale * (1 + rng.uniform(-ds, ds))
        m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-roll, roll), s).astype(np.float32)
        m[:, 2] += (200 + scale * w / 2 - w / 2 + rng.uniform(-shift, shift),
                    40 + scale * h / 2 - h / 2 + rng.uniform(-shift, shift))
        frame = cv2.warpAffine(photo, m, (W, H), borderValue=(90, 90, 90))
        if blur:
            b = rng.uniform(0, blur)
            frame = cv2.GaussianBlur(frame, (0, 0), b) if b > 0.3 else frame
        cv2.randn(noise, 0, sigma)
        yield cv2.convertScaleAbs(cv2.scaleAdd(frame.astype(np.float32), float(1 + rng.uniform(-light, light)), noise))


class _NoEmbedding:
    """Stands in for the embedder while a clip's geometry is recorded: the chips are what is kept."""

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def embed(self, chips: np.ndarray) -> np.ndarray:
        return np.zeros((len(chips), self.dim), np.float32)


@dataclass
class Clip:
    """One clip as the tracker saw it: per frame, each face's (track id, recognition, chip or None if gated)."""

    frames: list[list[tuple[int, Recognition, np.ndarray | None]]]
    embedder: object
    cache: dict = field(default_factory=dict)
    embedded: int = 0

    def embeddings(self, keys: list[tuple[int, int]]) -> np.ndarray:
        """Embeddings of the chips of (frame, track), each made once per clip, when first asked for."""
        missing = [k for k in keys if k not in self.cache]
        if missing:
            chips = {(i, tid): chip for i in {k[0] for k in missing} for tid, _, chip in self.frames[i]}
            for k, e in zip(missing, self.embedder.embed(np.stack([chips[k] for k in missing])), strict=True):
                self.cache[k] = e
            self.embedded += len(missing)
        return np.stack([self.cache[k] for k in keys])


def record(photo: np.ndarray, seed: int, video, rc: RecognitionConfig, frames: int, motion: str) -> Clip:
    """The daemon's tracker over the clip, keeping every face's chip of every frame (re-check every frame)."""
    tracker = build_tracker(video, rc)
    tracker.reverify_frames = 1  # every face is due every frame: its chip is made (and gated) each time
    tracker.embedder = _NoEmbedding(video.embedder.manifest.embedding_dim)
    tracker.matcher = Matcher(video.matcher.calibration, threshold=0.0)  # empty: the geometry is all we want
    out = []
    for i, rgb in enumerate(standing_clip(photo, seed, frames, motion)):
        out.append([(t.track, t.recognition, None if t.face is None else t.face.chip)
                     for t in tracker.process(rgb, now=i / 30)])
    return Clip(out, video.embedder)


def replay(clip: Clip, video, rc: RecognitionConfig, mean_frames: int) -> tuple[str | None, bool]:
    """The first name the daemon's identity rule and event rules announce (None: nobody), and whether it
    was the subject (the largest face)."""
    tracker = build_tracker(video, rc)
    tracker.mean_frames = mean_frames
    engine = build_engine("door", rc)
    tracks: dict[int, Track] = {}
    for i, faces in enumerate(clip.frames):
        tracks = {tid: tracks.get(tid) or Track(tid, rec.box, None) for tid, rec, _ in faces}
        due = [(tracks[tid], (i, tid)) for tid, _, chip in faces if chip is not None
               and (not tracks[tid].settled or i - tracks[tid].last_embed >= tracker.reverify_frames)]
        if due:
            tracker.identify([t for t, _ in due], clip.embeddings([k for _, k in due]), i)
        recs = []
        for tid, rec, _ in faces:
            t = tracks[tid]
            recs.append(Recognition(rec.box, t.name, t.score, t.best, rec.face_px, pending=t.pending, track=tid))
        largest = max((r.face_px for r in recs), default=0)
        for ev in engine.feed(i, recs, mono=i / 30):
            if ev.name is not None:
                return ev.name, ev.face_px >= largest
    return None, False


def direct(photo: np.ndarray, seed: int, video, rc: RecognitionConfig, frames: int, motion: str
           ) -> tuple[str | None, bool]:
    """:func:`replay`'s answer the daemon's way: every frame through the tracker, its faces to the events."""
    tracker, engine = build_tracker(video, rc), build_engine("door", rc)
    for i, rgb in enumerate(standing_clip(photo, seed, frames, motion)):
        tracked = tracker.process(rgb, now=i / 30)
        largest = max((t.recognition.face_px for t in tracked), default=0)
        for ev in engine.feed(i, [t.recognition for t in tracked], mono=i / 30):
            if ev.name is not None:
                return ev.name, ev.face_px >= largest
    return None, False


def subject_frames(clip: Clip, every: int) -> list[tuple[int, int]]:
    """(frame, track) of the largest face in every ``every``-th frame, where the gate let it through."""
    out = []
    for i in range(0, len(clip.frames), every):
        if clip.frames[i]:
            tid, _, chip = max(clip.frames[i], key=lambda f: f[1].face_px)
            if chip is not None:
                out.append((i, tid))
    return out


def stratified(strata: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    """(estimate, low, high) from strata of (weight, successes, trials): Wilson per stratum, in quadrature."""
    est = lo2 = hi2 = 0.0
    for w, k, n in strata:
        if n == 0:
            continue
        p = k / n
        lo, hi = wilson(k, n)
        est += w * p
        lo2 += (w * (p - lo)) ** 2
        hi2 += (w * (hi - p)) ** 2
    return est, max(0.0, est - math.sqrt(lo2)), est + math.sqrt(hi2)


def pct(est: float, lo: float, hi: float) -> str:
    return f"{100 * est:.2f} % [{100 * lo:.2f}, {100 * hi:.2f}]"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lfw", type=Path)
    ap.add_argument("--folds", choices=("tune", "test"), default="test")
    ap.add_argument("--galleries", type=int, default=10)
    ap.add_argument("--people", type=int, default=50)
    ap.add_argument("--others", type=int, default=100, help="clips of stranger photos named in no gallery")
    ap.add_argument("--family", type=int, default=40, help="clips of enrolled people's other photos")
    ap.add_argument("--frames", type=int, default=FRAMES)
    ap.add_argument("--motion", choices=sorted(MOTIONS), default="still")
    ap.add_argument("--every", type=int, default=10, help="per-frame rate: every n-th frame of the subject")
    ap.add_argument("--mean-frames", default=f"0,{MEAN_FRAMES}", help="rule variants (0: no mean rule)")
    ap.add_argument("--check", type=int, default=0, help="clips also run straight through the daemon's path")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--report", type=int, default=20, help="print the figures so far every n clips")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    variants = [int(v) for v in args.mean_frames.split(",")]
    folds = TUNE_FOLDS if args.folds == "tune" else TEST_FOLDS
    lfw = Lfw.load(args.lfw)
    e = embed_people(lfw.people, build_pipeline(still=True, calibrated=False), default_cache(DEFAULT_DETECTOR))
    split = e.by_person(lfw.people_in(folds))
    paths = {(p, int(path.stem.rsplit("_", 1)[-1])): path for p, v in lfw.photos_in(folds).items() for path in v}
    still, video, rc = build_pipeline(still=True), build_pipeline(still=False), RecognitionConfig()
    rng = np.random.default_rng(args.seed)
    big = sorted(p for p, v in split.items() if len(v) > SHOTS)
    galleries = [sorted(rng.choice(big, args.people, replace=False)) for _ in range(args.galleries)]
    enrolled = [{p: e.emb[split[p][:SHOTS]] for p in gal} for gal in galleries]
    rows = np.concatenate(list(split.values()))
    member = np.array([[str(e.person[i]) in set(gal) for gal in galleries] for i in rows])  # (photo, gallery)
    named = np.zeros_like(member)
    for g, gal in enumerate(enrolled):
        still.matcher.set_gallery(gal)
        named[:, g] = [r.name is not None for r in still.matcher.match(e.emb[rows])]
    stranger = ~member
    pairs = int(stranger.sum())
    stratum1 = np.nonzero((named & stranger).any(axis=1))[0]
    rest = np.setdiff1d(np.nonzero(stranger.any(axis=1))[0], stratum1)
    stratum2 = rng.choice(rest, min(args.others, len(rest)), replace=False)
    w1 = stranger[stratum1].sum() / pairs
    fam = [(r, g) for r in range(len(rows)) for g in range(len(galleries))
           if member[r, g] and int(np.nonzero(split[str(e.person[rows[r]])] == rows[r])[0][0]) >= SHOTS]
    fam = [fam[i] for i in rng.choice(len(fam), min(args.family, len(fam)), replace=False)]
    fam_rows = sorted({r for r, _ in fam})
    print(f"folds {args.folds}: {len(split)} people, {len(rows)} photos; {args.galleries} galleries of "
          f"{args.people}; {pairs} stranger (photo, gallery) pairs, {int((named & stranger).sum())} named by "
          f"the still path; clips: {len(stratum1)} named somewhere (all), {len(stratum2)} of {len(rest)} others, "
          f"{len(fam_rows)} family photos", file=sys.stderr)

    # per stratum, per variant: [announced the subject, announced a face behind]; per-frame: [named, frames]
    ann = {(s, v): np.zeros(2) for s in (1, 2) for v in variants}
    perframe = {s: np.zeros(2) for s in (1, 2)}
    done = {1: 0, 2: 0}  # stranger pairs run, per stratum
    fam_stats = {v: np.zeros(3) for v in variants}  # right name, wrong name, pairs
    fam_frames = np.zeros(2)
    still_fam = np.zeros(2)
    checked = mismatched = 0
    t0 = time.perf_counter()
    # named photos first, then the others and the family interleaved: a summary at any point is usable
    mixed = [(2, r) for r in stratum2] + [(3, r) for r in fam_rows]
    order = rng.permutation(len(mixed))
    jobs = [(1, r) for r in stratum1] + [mixed[k] for k in order]
    fam_set = set(fam)
    for n, (s, r) in enumerate(jobs):
        i = rows[r]
        person = str(e.person[i])
        seed = args.seed * 1_000_003 + int(i)
        photo = load_image(paths[(person, int(e.number[i]))])
        clip = record(photo, seed, video, rc, args.frames, args.motion)
        keys = subject_frames(clip, args.every)
        embs = clip.embeddings(keys) if keys else None
        gals = [g for g in range(len(galleries)) if (stranger[r, g] if s < 3 else (r, g) in fam_set)]
        for g in gals:
            video.matcher.set_gallery(enrolled[g])
            if embs is not None:
                m = video.matcher.match(embs)
                if s < 3:
                    perframe[s] += (sum(x.name is not None for x in m), len(m))
                else:
                    fam_frames += (sum(x.name == person for x in m), len(m))
            if s == 3:
                still.matcher.set_gallery(enrolled[g])
                still_fam += (still.matcher.match(e.emb[i][None])[0].name == person, 1)
            else:
                done[s] += 1
            for v in variants:
                name, subject = replay(clip, video, rc, v)
                if s < 3:
                    ann[(s, v)] += (name is not None and subject, name is not None and not subject)
                else:
                    fam_stats[v] += (name == person and subject, name is not None and name != person and subject, 1)
            if checked < args.check and g == gals[0]:
                checked += 1
                want = replay(clip, video, rc, MEAN_FRAMES)
                got = direct(photo, seed, video, rc, args.frames, args.motion)
                mismatched += want != got
                if want != got:
                    print(f"  replay {want} != daemon's path {got} for {person} {e.number[i]}", file=sys.stderr)
        if (n + 1) % args.report == 0 or n + 1 == len(jobs):
            print(f"  {n + 1}/{len(jobs)} clips, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
            summary(args, variants, pairs, int((named & stranger).sum()), (len(stratum1), len(stratum2), len(rest)),
                    w1, done, perframe, ann, still_fam, fam_frames, fam_stats, checked, mismatched)
    return 1 if mismatched else 0


def summary(args, variants, pairs, named_pairs, sizes, w1, done, perframe, ann, still_fam, fam_frames, fam_stats,
            checked, mismatched) -> None:
    """The figures so far (the strata weighted by their share of all stranger pairs, not of those run)."""
    n1, n2 = done[1], done[2]
    print(f"{args.galleries} galleries of {args.people} people of folds {args.folds} "
          f"({'held out' if args.folds == 'test' else 'tuning'}), {args.frames}-frame {args.motion} clips; "
          "95 % intervals")
    print(f"strangers: {pairs} (photo, gallery) pairs; clips: {sizes[0]} photos named in some gallery "
          f"({n1} pairs run), {sizes[1]} sampled of the {sizes[2]} others ({n2} pairs run)")
    print(f"  photo named (still path, one photo):  {pct(*stratified([(1, named_pairs, pairs)]))}")
    pf = stratified([(w1, *perframe[1]), (1 - w1, *perframe[2])])
    print(f"  frame named (one frame of the clip):  {pct(*pf)}")
    for v in variants:
        c = stratified([(w1, ann[(1, v)][0], n1), (1 - w1, ann[(2, v)][0], n2)])
        rule = "vote only" if v == 0 else f"vote + mean of >= {v} embeddings"
        print(f"  clip announced ({rule}): {pct(*c)}  [named photos {int(ann[(1, v)][0])}/{n1}, "
              f"others {int(ann[(2, v)][0])}/{n2}; a face behind the subject {int(ann[(1, v)][1] + ann[(2, v)][1])}]")
    if still_fam[1]:
        print(f"family: {int(still_fam[1])} (photo, own gallery) pairs")
        print(f"  photo named right (still path):       {pct(still_fam[0] / still_fam[1], *wilson(*still_fam))}")
        print(f"  frame named right:                    {pct(fam_frames[0] / fam_frames[1], *wilson(*fam_frames))}")
        for v in variants:
            right, wrong, k = fam_stats[v]
            rule = "vote only" if v == 0 else f"vote + mean of >= {v}"
            print(f"  clip announced right ({rule}): {pct(right / k, *wilson(right, k))}, "
                  f"wrong name {pct(wrong / k, *wilson(wrong, k))}")
    if args.check:
        print(f"replay vs the daemon's path: {checked - mismatched} of {checked} clips agree")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
