"""A name belongs to a face: what the tracker's identity check costs, and what it catches.

``python benchmarks/identity_check.py ../shared/data/faces [--folds test] [--pairs 20] [--repeat 5]``

The tracker follows a box between detections and re-checks a named face only every ``reverify_frames``
frames, so a cut, two people crossing or someone stepping in front could carry a name to another face for
up to half a second. The identity check (:meth:`edged.video.track.FaceTracker._doubt`) compares each named
face's look (:func:`edged.video.track.appearance`, a 24 px grey thumbnail) with the last frame's and with
its last embedding's, and watches for jumping boxes; a change is re-checked with an embedding in that frame.

1. **Its limits**: the correlation of a named face's look from one frame to the next on the clip (Lin's
   track), at the clip's cut (frame 211), and between different people of the chosen LFW folds put at
   exactly the same spot (``--folds tune`` chose :data:`~edged.video.track.SAME_FRAME_TO_FRAME`).
2. **Its cost**: the clip (Lin enrolled) through the daemon's tracker with and without the check, in this
   process, interleaved ``--repeat`` times: milliseconds per frame (median), their ratio, the embeddings made.
3. **What it catches**: frames printing a name on another person's face, with and without it: on the clip
   after the cut, and on ``--pairs`` pairs of the folds' people per scene of :mod:`edged.tools.clips`
   (crossing, cut, stepping in front).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from edged.config import RecognitionConfig
from edged.daemon.app import build_pipeline, build_tracker
from edged.tools.calibrate import TEST_FOLDS, TUNE_FOLDS
from edged.tools.clips import SCENES, background, compose, on, same_spot, sprite
from edged.tools.datasets import Lfw
from edged.video.track import appearance
from edged.vision.align import points
from edged.vision.camera import read_video
from edged.vision.images import load_image
from edged.vision.pipeline import subject

CUT = 211  # the clip's cut to the audience: the track that followed Lin follows Barack Obama from here


def clip_frames(data: Path) -> list[np.ndarray]:
    return [f.rgb for f in read_video(str(data / "video/short_hamilton_clip.mp4"))]


def run(tracker, frames: list[np.ndarray]) -> tuple[float, list[list]]:
    """Seconds for the frames through the tracker, and each frame's recognitions."""
    out = []
    t0 = time.perf_counter()
    for f in frames:
        out.append([t.recognition for t in tracker.process(f)])
    return time.perf_counter() - t0, out


def cost(video, frames: list[np.ndarray], repeat: int) -> dict:
    """Both trackers over the clip, interleaved, in this process."""
    ms = {True: [], False: []}
    embedded, after_cut = {}, {}
    for _ in range(repeat):
        for check in (False, True):
            tracker = build_tracker(video, RecognitionConfig())
            tracker.identity_check = check
            seconds, recs = run(tracker, frames)
            ms[check].append(1000 * seconds / len(frames))
            embedded[check] = tracker.timer.calls["embed"]
            after_cut[check] = sum(r.name is not None for rs in recs[CUT:] for r in rs)
    off, on_ = statistics.median(ms[False]), statistics.median(ms[True])
    return {"ms_per_frame_without": round(off, 2), "ms_per_frame_with": round(on_, 2), "ratio": round(on_ / off, 3),
            "embedded_without": embedded[False], "embedded_with": embedded[True],
            "named_after_cut_without": after_cut[False], "named_after_cut_with": after_cut[True]}


def clip_looks(video, frames: list[np.ndarray]) -> dict:
    """Frame-to-frame correlation of the named track's look on the clip, apart from and at the cut."""
    tracker = build_tracker(video, RecognitionConfig())
    tracker.identity_check = False
    last: dict[int, np.ndarray] = {}
    same, at_cut = [], []
    for i, f in enumerate(frames):
        tracker.process(f)
        for t in tracker.tracks:
            look = appearance(f, points(t.shape))
            if t.id in last and t.name is not None:
                (at_cut if CUT <= i <= CUT + 1 else same).append(float(look @ last[t.id]))
            last[t.id] = look
    return {"named_frame_to_frame_min": round(min(same), 3), "named_frames": len(same),
            "at_the_cut": [round(x, 3) for x in at_cut]}


def sprites(lfw: Lfw, people: list[str], still) -> list:
    out = []
    for p in people:
        rgb = load_image(lfw.people[p][0])
        boxes = still.detector.detect(rgb)
        out.append(sprite(rgb, subject(boxes, rgb.shape[1], rgb.shape[0])) if boxes else None)
    return out


def swapped_looks(lfw: Lfw, folds: tuple[int, ...], still, n: int, seed: int = 3) -> dict:
    """Different people of ``folds`` at exactly the same spot: the correlation of their looks (what the check
    must stay under to notice a cut)."""
    rng = np.random.default_rng(seed)
    people = sorted(lfw.people_in(folds))
    values = []
    for k in range(n):
        a, b = sprites(lfw, list(rng.choice(people, 2, replace=False)), still)
        if a is None or b is None:
            continue
        xa, ya, xb, yb = same_spot(a, b)
        wall, noise = background(k), np.random.default_rng(k)
        fa, _ = compose(wall, [("a", a, xa, ya)], noise)
        fb, _ = compose(wall, [("b", b, xb, yb)], noise)
        boxes = still.detector.detect(fa)
        if not boxes:
            continue
        la = appearance(fa, points(still.aligner.landmarks(fa, boxes[0])))
        lb = appearance(fb, points(still.aligner.landmarks(fb, boxes[0])))  # the box the tracker still holds
        values.append(float(la @ lb))
    v = np.array(values)
    return {"pairs": len(v), "max": round(float(v.max()), 3), "p99": round(float(np.quantile(v, 0.99)), 3),
            "median": round(float(np.median(v)), 3)}


def scenes(lfw: Lfw, folds: tuple[int, ...], still, video, pairs: int, seed: int = 26) -> dict:
    """Per scene: frames printing a name on another person's face, with and without the check."""
    rng = np.random.default_rng(seed)
    people = sorted(lfw.people_in(folds))
    family = [p for p in people if len(lfw.people[p]) >= 6]
    out = {s: {"with": 0, "without": 0, "clips_wrong_without": 0, "family_named_frames": 0} for s in SCENES}
    for k in range(pairs):
        fam = str(rng.choice(family))
        other = str(rng.choice([p for p in people if p != fam]))
        a, b = sprites(lfw, [fam, other], still)
        if a is None or b is None:
            continue
        photos = [load_image(p) for p in lfw.people[fam][1:6]]
        enrolled = [f.embedding for rgb in photos for f in still.faces(rgb, subject_only=True)[:1]]
        video.matcher.set_gallery({"family": np.stack(enrolled)})
        for scene, make in SCENES.items():
            for check in (True, False):
                tracker = build_tracker(video, RecognitionConfig())
                tracker.identity_check = check
                wrong = 0
                for frame, placed in make(a, b, seed=k):
                    for t in tracker.process(frame):
                        if t.recognition.name is not None:
                            who = on(placed, t.recognition.box.as_list())
                            wrong += who is None or who.who != "family"
                            out[scene]["family_named_frames"] += check and who is not None and who.who == "family"
                out[scene]["with" if check else "without"] += wrong
                out[scene]["clips_wrong_without"] += (not check) and wrong > 0
    return {**out, "pairs": pairs}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="the shared face data folder (its clip and lfw/)")
    ap.add_argument("--folds", choices=("tune", "test"), default="test",
                    help="LFW people of the tuning folds (which chose the limits) or the held-out ones")
    ap.add_argument("--pairs", type=int, default=20, help="family/stranger pairs per scene")
    ap.add_argument("--looks", type=int, default=300, help="pairs of people put in one another's place")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    still, video = build_pipeline(still=True), build_pipeline(still=False)
    lin = still.faces(load_image(args.data / "video/enroll/lin_manuel_miranda_1.png"), subject_only=True)[0]
    video.matcher.set_gallery({"lin_manuel_miranda": lin.embedding[None]})
    frames = clip_frames(args.data)
    print("the clip's named face, frame to frame:", clip_looks(video, frames))
    print("cost on the clip (Lin enrolled):", cost(video, frames, args.repeat))
    lfw = Lfw.load(args.data / "lfw")
    folds = TUNE_FOLDS if args.folds == "tune" else TEST_FOLDS
    print(f"different people at the same spot ({args.folds} folds):", swapped_looks(lfw, folds, still, args.looks))
    print(f"frames with a name on another face ({args.folds} folds):", scenes(lfw, folds, still, video, args.pairs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
