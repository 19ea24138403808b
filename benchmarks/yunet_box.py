"""Fit how a YuNet box maps to the box dlib's 5-point shape predictor expects (a HOG box).

The shape predictor was trained on dlib HOG boxes; YuNet's are taller (forehead to chin) and
sit lower. On photos where HOG and YuNet find the same single face, this fits the HOG box's
centre offset (as fractions of YuNet's width and height) and its side (as a multiple of YuNet's
width) by medians, then checks the fit with YuNet's own landmarks: the eye centres dlib's
predictor puts on (a) the raw YuNet box, (b) the mapped box and (c) the HOG box are compared with
YuNet's eye points, in units of the distance between the eyes.

    .venv/bin/python benchmarks/yunet_box.py ../shared/data/faces/people ../shared/data/faces/lfw --lfw-per-fold 400

Prints JSON; the committed mapping is ``edged.vision.detect.yunet.YUNET_TO_HOG`` (models/README.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np

from edged.core.models import Box
from edged.vision.align import Aligner
from edged.vision.detect import yunet
from edged.vision.detect.hog import HogDetector
from edged.vision.detect.yunet import YuNetDetector
from edged.vision.images import load_image
from edged.vision.modelfiles import PREDICTOR_FILE, model_dir


def _photos(root: Path, limit: int | None) -> list[Path]:
    out = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if limit and len(out) > limit:  # an even spread, not the first people of the alphabet
        out = out[:: len(out) // limit][:limit]
    return out


def _iou(a: Box, b: Box) -> float:
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    return inter / (a.w * a.h + b.w * b.h - inter)


def _eye_error(aligner: Aligner, rgb: np.ndarray, box: Box, raw: np.ndarray) -> float:
    """Mean distance of dlib's eye centres from YuNet's, over the distance between YuNet's eyes."""
    pts = aligner.chip_and_points(rgb, box)[1]
    # dlib 5-point: 0,1 one eye's corners, 2,3 the other's, 4 the nose base; YuNet: right eye, left eye, ...
    dl = [pts[0:2].mean(0), pts[2:4].mean(0)]
    yn = [raw[4:6], raw[6:8]]
    iod = float(np.linalg.norm(yn[0] - yn[1]))
    d = min(np.linalg.norm(dl[0] - yn[0]) + np.linalg.norm(dl[1] - yn[1]),
            np.linalg.norm(dl[0] - yn[1]) + np.linalg.norm(dl[1] - yn[0]))
    return float(d / 2 / iod)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", type=Path, nargs="+")
    ap.add_argument("--lfw-per-fold", type=int, default=400, help="at most this many photos from each folder")
    args = ap.parse_args()
    hog = HogDetector(upsample=1, min_face_px=20)
    yun = YuNetDetector(min_face_px=20)
    aligner = Aligner(model_dir() / PREDICTOR_FILE)
    pairs = []
    for d in args.dirs:
        for p in _photos(d, args.lfw_per_fold):
            rgb = load_image(p)
            hb = hog.detect(rgb)
            saved = dict(yunet.YUNET_TO_HOG)
            yunet.YUNET_TO_HOG.update(dx=0.0, dy=0.0, side=1.0)
            try:
                yb = yun.detect(rgb)
            finally:
                yunet.YUNET_TO_HOG.update(saved)
            if len(hb) != 1 or not yb:
                continue
            raw = yun.last_raw[int(np.argmax(yun.last_raw[:, 2] * yun.last_raw[:, 3]))]
            y = Box(*(round(float(v)) for v in raw[:4]))
            if _iou(hb[0], y) < 0.3:
                continue
            pairs.append((rgb, hb[0], raw.astype(float)))
    h = [(b.x + b.w / 2, b.y + b.h / 2, b.w) for _, b, _ in pairs]
    y = [(r[0] + r[2] / 2, r[1] + r[3] / 2, r[2], r[3]) for _, _, r in pairs]
    dx = statistics.median((a[0] - b[0]) / b[2] for a, b in zip(h, y, strict=True))
    dy = statistics.median((a[1] - b[1]) / b[3] for a, b in zip(h, y, strict=True))
    side = statistics.median(a[2] / b[2] for a, b in zip(h, y, strict=True))
    errs: dict[str, list[float]] = {"raw yunet box": [], "mapped yunet box": [], "hog box": []}
    for rgb, hb, raw in pairs:
        x, yy, bw, bh = (float(v) for v in raw[:4])
        cx, cy, s = x + bw / 2 + dx * bw, yy + bh / 2 + dy * bh, side * bw
        mapped = Box(round(cx - s / 2), round(cy - s / 2), round(s), round(s))
        errs["raw yunet box"].append(_eye_error(aligner, rgb, Box(round(x), round(yy), round(bw), round(bh)), raw))
        errs["mapped yunet box"].append(_eye_error(aligner, rgb, mapped, raw))
        errs["hog box"].append(_eye_error(aligner, rgb, hb, raw))
    print(json.dumps({
        "faces": len(pairs), "fit": {"dx": round(dx, 3), "dy": round(dy, 3), "side": round(side, 3)},
        "yunet_aspect_h_over_w": round(statistics.median(b[3] / b[2] for b in y), 3),
        "eye_error_over_eye_distance": {k: {"median": round(statistics.median(v), 3),
                                            "p90": round(float(np.percentile(v, 90)), 3)} for k, v in errs.items()},
    }, indent=1))


if __name__ == "__main__":
    main()
