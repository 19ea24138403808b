"""A stranger standing at the door: is a person announced more often than a photo is named? (issue 10)

``python benchmarks/video_strangers.py ../shared/data/faces/lfw``

The held-out LFW people (folds 4–5) have photos, not video, so each stranger photo becomes a short
synthetic clip of someone standing still in front of a camera: the photo in a 640×360 frame, moved
by a pixel or two, scaled by ±2 %, its brightness changed by ±4 % and sensor noise added, frame after
frame. The clip runs through the daemon's own video path (``app.build_tracker`` and
``app.build_engine`` at the shipped defaults: detection every 3rd frame, follow, embed until settled,
the track's verdict, the event vote), with galleries of 50 held-out people enrolled from 5 photos.

Few stranger photos are named at all (about 1 %), so they are not drawn blindly: every stranger
photo that the still-photo matcher names is run as a clip, and a random sample of the others. The
rate of announced strangers is then ``p·A + (1 − p)·B`` with ``p`` the share of stranger photos
named, ``A`` the share of clips announcing the photo's subject (its largest face, the one the photo
path judges) among those, ``B`` among the others. Faces behind the subject (LFW photos often show
other people) are counted apart: the photo path never judged them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from edged.app import build_engine, build_pipeline, build_tracker
from edged.calibrate import SHOTS, TEST_FOLDS, Lfw, default_cache, embed_people
from edged.config import DEFAULT_DETECTOR, RecognitionConfig
from edged.images import load_image

CACHE = Path.home() / ".cache/frd"
FRAMES = 90  # three seconds at 30 fps: the vote, the settling and five re-checks
W, H = 640, 360


def standing_clip(photo: np.ndarray, rng: np.random.Generator, frames: int = FRAMES):
    """Frames of ``photo`` (a face picture) held in front of a camera: small moves, light and noise."""
    scale = 1.2
    for _ in range(frames):
        s = scale * (1 + rng.uniform(-0.02, 0.02))
        dx, dy = 200 + rng.uniform(-2, 2), 40 + rng.uniform(-2, 2)
        m = np.float32([[s, 0, dx], [0, s, dy]])
        frame = cv2.warpAffine(photo, m, (W, H), borderValue=(90, 90, 90)).astype(np.float32)
        frame = frame * (1 + rng.uniform(-0.04, 0.04)) + rng.normal(0, 2, frame.shape)
        yield np.clip(frame, 0, 255).astype(np.uint8)


def announced(photo: np.ndarray, pipeline, rc: RecognitionConfig, rng) -> tuple[str | None, bool]:
    """The first name the daemon's path announces for this clip (None: nobody), and whether it was the
    largest face of the clip (the photo's subject: LFW photos often show other people behind)."""
    tracker, engine = build_tracker(pipeline, rc), build_engine("door", rc)
    for i, rgb in enumerate(standing_clip(photo, rng)):
        tracked = tracker.process(rgb, now=i / 30)
        largest = max((t.recognition.face_px for t in tracked), default=0)
        for ev in engine.feed(i, [t.recognition for t in tracked], mono=i / 30):
            if ev.name is not None:
                return ev.name, ev.face_px >= largest
    return None, False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lfw", type=Path)
    ap.add_argument("--galleries", type=int, default=3)
    ap.add_argument("--people", type=int, default=50)
    ap.add_argument("--others", type=int, default=60, help="clips of stranger photos not named, per gallery")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    lfw = Lfw.load(args.lfw)
    photos = lfw.photos_in(TEST_FOLDS)
    still = build_pipeline(still=True)
    e = embed_people(lfw.people, build_pipeline(still=True, calibrated=False), default_cache(DEFAULT_DETECTOR))
    split = e.by_person(lfw.people_in(TEST_FOLDS))
    paths = {(p, int(n)): path for p, v in photos.items() for path, n in
             ((path, int(path.stem.rsplit("_", 1)[-1])) for path in v)}
    video = build_pipeline(still=False)
    rc = RecognitionConfig()
    rng = np.random.default_rng(11)
    big = sorted(p for p, v in split.items() if len(v) > SHOTS)
    n_photos = n_named = a_named = a_other = n_other = background = 0
    for g in range(args.galleries):
        gal = list(rng.choice(big, args.people, replace=False))
        enrolled = {p: e.emb[split[p][:SHOTS]] for p in gal}
        still.matcher.set_gallery(enrolled)
        video.matcher.set_gallery(enrolled)
        strangers = np.concatenate([v for p, v in split.items() if p not in set(gal)])
        named = [i for i, r in zip(strangers, still.matcher.match(e.emb[strangers]), strict=True) if r.name]
        others = rng.choice([i for i in strangers if i not in set(named)], args.others, replace=False)
        n_photos, n_named = n_photos + len(strangers), n_named + len(named)
        for group, idx in (("named", named), ("other", others)):
            hits = behind = 0
            for i in idx:
                photo = load_image(paths[(str(e.person[i]), int(e.number[i]))])
                name, subject = announced(photo, video, rc, rng)
                hits += name is not None and subject
                behind += name is not None and not subject
            if group == "named":
                a_named += hits
            else:
                a_other, n_other = a_other + hits, n_other + len(idx)
            background += behind
            print(f"gallery {g + 1}: {group} stranger photos {len(idx)}, clips announcing the photo's subject "
                  f"{hits}, a face behind them {behind}", file=sys.stderr)
    p = n_named / n_photos
    a = a_named / max(n_named, 1)
    b = a_other / max(n_other, 1)
    print(f"{args.galleries} galleries of {args.people} held-out people, {n_photos} stranger photos")
    print(f"  stranger photos named (one photo):           {100 * p:.2f} %  ({n_named})")
    print(f"  clips announced, of those named photos:      {100 * a:.1f} %  ({a_named} of {n_named})")
    print(f"  clips announced, of the others (sampled):    {100 * b:.1f} %  ({a_other} of {n_other})")
    print(f"  strangers announced standing at the door:    {100 * (p * a + (1 - p) * b):.2f} %  (p·A + (1-p)·B)")
    print(f"  clips where a face behind the subject was announced instead: {background}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
