"""How a face's quality changes what the matcher says: the measurement behind the video quality gate.

``python benchmarks/quality_gate.py ../shared/data/faces/lfw``

Every LFW photo goes through frd's still-photo path (detector, 5 landmarks, chip, int8 embedding;
embeddings from ``edged.tools.calibrate``'s cache). Each face's quality (:func:`edged.vision.quality.assess`:
size, sharpness, how far it is turned) is binned, and for random galleries of 20 and 50 people
(5 photos each, the shipped calibration at the default strictness) it prints, per bin, how often a
stranger's photo is named and how often an enrolled person's other photo is named correctly.

The gate's thresholds are chosen on the tuning folds (2–3) and reported on the held-out folds
(4–5), as for every other default (README, "Strangers stay strangers").
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import sys
from pathlib import Path

import numpy as np

from edged.config import DEFAULT_DETECTOR
from edged.daemon.app import build_pipeline
from edged.tools.calibrate import SHOTS, TEST_FOLDS, TUNE_FOLDS, default_cache, embed_people
from edged.tools.datasets import Lfw
from edged.vision.images import load_image
from edged.vision.match import Matcher
from edged.vision.quality import assess

CACHE = Path.home() / ".cache/frd"
YAW_BINS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 10.0)
SHARP_BINS = (0.0, 5.0, 10.0, 20.0, 40.0, 1e9)


def qualities(people: dict[str, list[Path]], pipeline, progress: bool = True) -> np.ndarray:
    """(n, 3) face px, sharpness, |yaw| of the largest face of each photo (NaN where none), cached."""
    rows = [p for photos in people.values() for p in photos]
    key = hashlib.sha256(("q1" + "\n".join(str(p) for p in rows)).encode()).hexdigest()[:16]
    cache = CACHE / f"lfw-quality-{key}.npy"
    if cache.is_file():
        return np.load(cache)
    out = np.full((len(rows), 3), np.nan)
    det = pipeline.still_detector or pipeline.detector
    for i, path in enumerate(rows):
        rgb = load_image(path)
        boxes = det.detect(rgb)
        if boxes:
            b = boxes[0]
            chip, pts = pipeline.aligner.chip_and_points(rgb, b)
            q = assess(min(b.w, b.h), chip, pts)
            out[i] = (q.face_px, q.sharpness, abs(q.yaw) if q.yaw is not None else np.nan)
        if progress and i and i % 500 == 0:
            print(f"  quality {i}/{len(rows)}", file=sys.stderr)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(cache, out)
    return out


def rates(e, q: np.ndarray, people: set[str], cal, n: int, trials: int, col: int, bins, seed: int = 7) -> list:
    """Per quality bin of column ``col``: (probes, named-correct rate of enrolled, strangers, stranger-named rate)."""
    rng = np.random.default_rng(seed)
    split = e.by_person(people)
    big = sorted(p for p, v in split.items() if len(v) > SHOTS)
    gen_ok = np.zeros(len(bins) - 1)
    gen_n = np.zeros(len(bins) - 1)
    str_named = np.zeros(len(bins) - 1)
    str_n = np.zeros(len(bins) - 1)
    for _ in range(trials):
        gal = list(rng.choice(big, n, replace=False))
        m = Matcher(cal)
        m.set_gallery({p: e.emb[split[p][:SHOTS]] for p in gal})
        g = set(gal)
        probes = np.concatenate([split[p][SHOTS:] for p in gal])
        truth = np.concatenate([[p] * (len(split[p]) - SHOTS) for p in gal])
        strangers = np.concatenate([v for p, v in split.items() if p not in g])
        for idx, correct, acc_ok, acc_n in ((probes, truth, gen_ok, gen_n), (strangers, None, str_named, str_n)):
            res = m.match(e.emb[idx])
            b = np.digitize(q[idx, col], bins) - 1
            for i, (r, bi) in enumerate(zip(res, b, strict=True)):
                if 0 <= bi < len(bins) - 1:
                    acc_n[bi] += 1
                    # enrolled: named as themselves; strangers: named at all
                    acc_ok[bi] += (r.name == correct[i]) if correct is not None else (r.name is not None)
    return [(int(gen_n[i] / trials), gen_ok[i] / max(gen_n[i], 1), int(str_n[i] / trials),
             str_named[i] / max(str_n[i], 1)) for i in range(len(bins) - 1)]


def clip(data: Path, detector: str, bins=YAW_BINS, turn: str = "detector") -> None:
    """Per |yaw| bin on the real clip: how often one embedding disagrees with its face track's verdict.

    LFW holds few turned faces (under 2 % beyond 0.3), so the clip, where people turn, says how
    far an embedding can be trusted: Lin and Alex enrolled from their photos, every face embedded
    on every frame (no gate), and each embedding's own result compared with the track's majority.
    ``turn``: read from the detector's own five points (YuNet's, as the tracker's gate does), or from
    dlib's (``dlib``: the measure before YuNet's points were used).
    """
    from collections import Counter, defaultdict

    from edged.video.track import FaceTracker
    from edged.vision.align import points
    from edged.vision.camera import read_video
    from edged.vision.quality import detector_yaw
    from edged.vision.quality import yaw as yaw_of

    still, video = build_pipeline(still=True), build_pipeline(still=False, detector=detector, detect_max_side=640)
    gallery = {}
    for name in ("lin_manuel_miranda", "alex_lacamoire"):
        photo = load_image(data / f"video/enroll/{name}_1.png")
        gallery[name] = still.faces(photo, subject_only=True)[0].embedding[None]
    video.matcher.set_gallery(gallery)
    t = FaceTracker(video.detector, video.aligner, video.embedder, video.matcher, detect_every=1, reverify_frames=1)
    seen: dict[int, list[tuple[float, str | None]]] = defaultdict(list)
    frames_of: dict[int, list[tuple[int, float, str | None]]] = defaultdict(list)
    for frame in read_video(str(data / "video/short_hamilton_clip.mp4")):
        for tf in t.process(frame.rgb):
            tr = next(x for x in t.tracks if x.id == tf.track)
            y = detector_yaw(tr.points) if turn == "detector" and tr.points is not None else yaw_of(points(tr.shape))
            if tf.face is not None and y is not None:
                seen[tf.track].append((abs(y), tr.last))
                frames_of[tf.track].append((frame.index, abs(y), tr.last))
    n, off = np.zeros(len(bins) - 1), np.zeros(len(bins) - 1)
    for rows in seen.values():
        majority = Counter(r for _, r in rows).most_common(1)[0][0]
        for y, r in rows:
            b = int(np.digitize(y, bins)) - 1
            n[b] += 1
            off[b] += r != majority
    total = sum(len(v) for v in seen.values())
    print(f"\nclip, {detector} at 640 px, turn from {turn} points, {total} embeddings in {len(seen)} tracks, by |yaw|:")
    print("  bin            embeddings  disagree with their track")
    for (lo, hi), k, d in zip(itertools.pairwise(bins), n, off, strict=True):
        print(f"  {lo:5.2f}-{hi:<7.2f} {int(k):10d} {100 * d / max(k, 1):10.1f} %")
    print("frames 25-43 (Alex Lacamoire in profile at the piano): frame, |yaw|, the embedding's result")
    for rows in frames_of.values():
        for i, y, r in rows:
            if 25 <= i <= 43:
                print(f"  {i:3d} {y:6.2f} {r}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lfw", type=Path)
    ap.add_argument("--sizes", type=int, nargs="*", default=[20, 50])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--clip", type=Path, help="the test data folder: also measure on its video clip")
    ap.add_argument("--detector", default="yunet", help="the clip's detector (yunet finds the turned faces)")
    ap.add_argument("--bins", type=float, nargs="*", help="the clip's |yaw| bin edges (default: YAW_BINS)")
    ap.add_argument("--turn", choices=("detector", "dlib"), default="detector",
                    help="read the turn from the detector's own points (YuNet; the gate's) or from dlib's")
    args = ap.parse_args()
    if args.clip:
        clip(args.clip, args.detector, tuple(args.bins) if args.bins else YAW_BINS, turn=args.turn)
        return 0
    lfw = Lfw.load(args.lfw)
    pipeline = build_pipeline(still=True)
    cal = pipeline.matcher.calibration
    e = embed_people(lfw.people, build_pipeline(still=True, calibrated=False), default_cache(DEFAULT_DETECTOR),
                     progress=True)
    q = qualities(lfw.people, pipeline)
    for label, folds in (("tuning folds 2-3", TUNE_FOLDS), ("held-out folds 4-5", TEST_FOLDS)):
        people = lfw.people_in(folds)
        for col, name, bins in ((2, "|yaw| (eye distances)", YAW_BINS), (1, "sharpness", SHARP_BINS)):
            for n in args.sizes:
                print(f"\n{label}, {n} people enrolled, by {name}:")
                print("  bin            enrolled probes  named correctly  stranger probes  strangers named")
                for (lo, hi), (gn, gr, sn, sr) in zip(itertools.pairwise(bins), rates(e, q, people, cal, n, args.trials,
                                                                                   col, bins), strict=True):
                    print(f"  {lo:5.2f}-{hi:<7.2f} {gn:15d} {100 * gr:15.1f} % {sn:15d} {100 * sr:14.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
