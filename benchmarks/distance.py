"""Faces at door distance: strangers named, enrolled named and wrong names when the face is 40-80 px.

People are enrolled from full-size LFW photos (5 each, the still-photo path, as ``frd eval`` does) and
probed with the photos shrunk (OpenCV's area filter) so the detected face is 40, 45, 50, 60 and 80 px,
through the same path (:mod:`edged.tools.distance`). Galleries of 5, 20 and 50 people at the shipped
calibration and a strictness level; Wilson 95 % intervals; the enrolled person who drew the most
strangers. ``--folds tune`` measures LFW's tuning people (where a size floor may be chosen), ``--folds test``
the held-out ones (where it is reported). Each face size is measured whatever the floor (``--floor 0``, the
default) or with the floor applied (a face under it is not named).

    .venv/bin/python benchmarks/distance.py ../shared/data/faces/lfw --folds test
    .venv/bin/python benchmarks/distance.py ../shared/data/faces/lfw --folds tune --json
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from edged.daemon.app import build_pipeline
from edged.tools.calibrate import SHOTS, TEST_FOLDS, TUNE_FOLDS, default_cache, embed_people
from edged.tools.datasets import Lfw
from edged.tools.distance import SIZES, door_open_set, probe, probed_rows, probed_split
from edged.vision.pipeline import SMALLEST_FACE_PX


def _pct(r: dict) -> str:
    return f"{100 * r['rate']:.2f} % ({100 * r['low']:.2f}-{100 * r['high']:.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("lfw", type=Path)
    ap.add_argument("--folds", choices=("tune", "test"), default="test")
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES),
                    help="face sizes (px); 0: the photos at full size")
    ap.add_argument("--people", type=int, nargs="+", default=[5, 20, 50], help="gallery sizes")
    ap.add_argument("--level", default="balanced")
    ap.add_argument("--every", type=int, default=1,
                    help="probe every Nth person who cannot be enrolled (5 photos or fewer) as a stranger (default: "
                         "every one; 2 halves the work of a sweep)")
    ap.add_argument("--floor", type=int, default=0, help="faces under this (px) are not named (default: none)")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/frd-distance"),
                    help="folder of the embeddings caches (full-size: a copy of the calibration's, if there is one)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    lfw = Lfw.load(args.lfw)
    enroll = build_pipeline(still=True)
    cal = enroll.matcher.calibration
    detector = cal.info["detector"]
    if detector != enroll.detector.name:
        enroll = build_pipeline(still=True, detector=detector)
    args.cache.mkdir(parents=True, exist_ok=True)
    full_cache = args.cache / f"lfw-embeddings-{detector}.npz"
    if not full_cache.is_file() and default_cache(detector).is_file():
        shutil.copy(default_cache(detector), full_cache)
    everyone = embed_people(lfw.people, enroll, full_cache, progress=not args.json)
    people = lfw.people_in(TUNE_FOLDS if args.folds == "tune" else TEST_FOLDS)
    paths = [p for ph in lfw.people.values() for p in ph]
    big = {p for p in people if len(lfw.people[p]) > SHOTS}
    rest = sorted(people - big)[::args.every]
    rows = probed_rows(everyone) & np.isin(everyone.person, sorted(big | set(rest)))
    small = build_pipeline(still=True, detector=detector, min_face_px=SMALLEST_FACE_PX, min_face_frac=0.0,
                           calibrated=False)
    shrunk = probe(everyone, paths, small, tuple(s for s in args.sizes if s), rows, args.cache,
                   progress=not args.json)
    if 0 in args.sizes:  # size 0: the photos as they are (the full-size embeddings), on the same rows
        shrunk.emb[0], shrunk.face_px[0] = everyone.emb, np.where(rows & everyone.found, 10**6, -1)
    split = probed_split(everyone, people, rows)
    out = {"folds": args.folds, "level": args.level, "floor": args.floor, "every": args.every, "people": len(split),
           "probed_photos": int(rows.sum()), "sizes": {}}
    for s in args.sizes:
        px = shrunk.face_px[s]
        found = px[rows] > 0
        out["sizes"][s] = {
            "found": round(float(found.mean()), 4),
            "face_px_median": float(np.median(px[rows][found])) if found.any() else 0.0,
            "galleries": {n: door_open_set(cal, everyone, split, shrunk.emb[s], px, n, args.level, args.floor)
                          for n in args.people}}
    out["seconds"] = round(time.perf_counter() - t0)
    if args.json:
        print(json.dumps(out))
        return
    print(f"LFW {args.folds} folds: {len(split)} people (every {args.every} of those with 5 photos or fewer), "
          f"{out['probed_photos']} photos shrunk; enrolled from full-size "
          f"photos; level {args.level}; floor {args.floor} px ({out['seconds']} s)")
    print("face px  found  people  strangers named (95 %)      enrolled named            wrong name           "
          "worst person")
    for s, r in out["sizes"].items():
        for n, g in r["galleries"].items():
            w = g["worst_person"]
            size = "full" if s == 0 else f"{s} ({r['face_px_median']:.0f})"
            print(f"{size:>7}  {r['found']:.3f}  {n:>4}  {_pct(g['strangers_named']):26s} "
                  f"{_pct(g['enrolled_named']):26s} {_pct(g['wrong_name']):20s} {w['name']} "
                  f"{100 * w['rate']:.2f} % of {w['n']}")


if __name__ == "__main__":
    main()
