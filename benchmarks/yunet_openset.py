"""The held-out open-set figures with YuNet boxes, beside HOG's, at the shipped (HOG-made) calibration.

LFW folds 4-5 (the held-out people of ``edged.tools.calibrate``) through the still-photo path with
``detector="yunet"`` (detect, map the box, align, int8 embed), then ``open_set_at`` at a
strictness level and gallery sizes, exactly as the calibration reports its held-out figures.
HOG's embeddings come from the calibration's cache (``~/.cache/frd/lfw-embeddings-hog.npz``, made by
``python -m edged.tools.calibrate --detector hog``) or are computed. Also on the photos where both found a face.

    .venv/bin/python benchmarks/yunet_openset.py ../shared/data/faces/lfw --sizes 5 50 --level balanced
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from edged.daemon.app import build_pipeline
from edged.tools.calibrate import TEST_FOLDS, Embedded, _trials_for, default_cache, embed_people, open_set_at
from edged.tools.datasets import Lfw
from edged.vision.match import load_calibration


def _restricted(e: Embedded, people: set[str], also: np.ndarray | None = None) -> dict[str, np.ndarray]:
    found = e.found if also is None else e.found & also
    return Embedded(e.person, e.number, e.emb, found).by_person(people)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("lfw", type=Path)
    ap.add_argument("--sizes", type=int, nargs="+", default=[5, 50])
    ap.add_argument("--level", default="balanced")
    ap.add_argument("--hog-cache", type=Path, default=default_cache("hog"))
    ap.add_argument("--yunet-cache", type=Path, default=Path.home() / ".cache/frd/lfw-yunet-heldout.npz")
    args = ap.parse_args()
    lfw = Lfw.load(args.lfw)
    test_people = lfw.people_in(TEST_FOLDS)
    photos = lfw.photos_in(TEST_FOLDS)
    hog_pipe = build_pipeline(still=True, calibrated=False)
    cal = load_calibration(hog_pipe.embedder.sha256)
    hog_all = embed_people(lfw.people, hog_pipe, args.hog_cache, progress=True)
    keep = np.isin(hog_all.person, sorted(test_people))
    hog = Embedded(hog_all.person[keep], hog_all.number[keep], hog_all.emb[keep], hog_all.found[keep])
    yun = embed_people(photos, build_pipeline(still=True, calibrated=False, detector="yunet"), args.yunet_cache,
                       progress=True)
    assert list(hog.person) == list(yun.person) and list(hog.number) == list(yun.number)
    out = {"photos": len(yun.person), "found": {"hog": int(hog.found.sum()), "yunet": int(yun.found.sum()),
                                                     "both": int((hog.found & yun.found).sum())}, "level": args.level}
    for label, e, also in (("hog", hog, None), ("yunet", yun, None), ("hog, both found", hog, yun.found),
                           ("yunet, both found", yun, hog.found)):
        split = _restricted(e, test_people, also)
        out[label] = {str(n): open_set_at(cal, e, split, n, _trials_for(n), args.level) for n in args.sizes}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
