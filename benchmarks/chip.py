"""Which chip FaceNet should see: the dlib chip against MTCNN-like crops, on LFW through the real path.

FaceNet 20180408 was trained on MTCNN crops: an axis-aligned face box plus a margin, resized to
160 px, not a landmark-rotated dlib chip. Every variant here starts from the same detection (the
still-photo detector's largest face, ``--detector``) and the same dlib 5 points on its box, and
only the cut differs; chips go through the int8 model as shipped (chip and mirror averaged).

Chosen ONLY on tuning people (LFW folds 2-3; fold 1 the cohort): pair verification on folds 2-3,
and enrolled people named with 50 people enrolled at the normalised-score threshold that names 1 %
of stranger photos (random tuning galleries). ``--held-out NAME`` reports one variant on folds 4-5.

    nice .venv/bin/python benchmarks/chip.py ../shared/data/faces/lfw [--variants a,b] [--held-out NAME]

Detections and embeddings are cached under ``~/.cache/frd/`` (keyed by detector, variant and folds).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import dlib
import numpy as np

from edged.align import Aligner
from edged.app import build_pipeline
from edged.calibrate import (
    COHORT_FOLDS,
    COHORT_PER_PERSON,
    TARGETS,
    TEST_FOLDS,
    TUNE_FOLDS,
    Embedded,
    K,
    Lfw,
    _trials_for,
    build_cohort,
    open_set_at,
    stranger_maxima,
    verification,
)
from edged.embed import PREDICTOR_FILE, model_dir
from edged.images import load_image
from edged.match import LEVELS, Calibration, Level

CACHE = Path.home() / ".cache/frd"
SIZE = 160


def detections(lfw: Lfw, detector: str, rows: list[tuple[str, Path]]) -> dict[str, np.ndarray]:
    """Per photo: the largest face's box, the dlib 5 points on it and (YuNet) its raw row."""
    key = hashlib.sha256((detector + "\n".join(f"{n}/{p.name}" for n, p in rows)).encode()).hexdigest()[:16]
    path = CACHE / f"chip-detections-{detector}-{key}.npz"
    if path.is_file():
        return dict(np.load(path))
    pipe = build_pipeline(still=True, calibrated=False, detector=detector)
    det, al = pipe.still_detector, pipe.aligner
    n = len(rows)
    out = {"found": np.zeros(n, bool), "box": np.zeros((n, 4)), "pts": np.zeros((n, 5, 2)),
           "raw": np.full((n, 15), np.nan)}
    t0 = time.perf_counter()
    for i, (_, p) in enumerate(rows):
        rgb = load_image(p)
        boxes = det.detect(rgb)
        if not boxes:
            continue
        b = boxes[0]
        shape = al.landmarks(rgb, b)
        out["found"][i] = True
        out["box"][i] = (b.x, b.y, b.w, b.h)
        out["pts"][i] = [[shape.part(k).x, shape.part(k).y] for k in range(5)]
        raw = getattr(det, "last_raw", None)
        if raw is not None and len(raw):
            cx, cy = b.x + b.w / 2, b.y + b.h / 2
            d = (raw[:, 0] + raw[:, 2] / 2 - cx) ** 2 + (raw[:, 1] + raw[:, 3] / 2 - cy) ** 2
            out["raw"][i] = raw[int(np.argmin(d))]
        if i and i % 1000 == 0:
            print(f"  detect {i}/{n}, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)
    return out


def _warp(rgb: np.ndarray, cx: float, cy: float, w: float, h: float, angle: float = 0.0) -> np.ndarray:
    """The ``w``×``h`` rectangle centred on (cx, cy), turned by ``angle`` (radians), resized to SIZE×SIZE."""
    c, s = np.cos(angle), np.sin(angle)
    # output (u, v) -> source: centre + R·((u/SIZE - 0.5)·w, (v/SIZE - 0.5)·h)
    m = np.array([[c * w / SIZE, -s * h / SIZE, 0.0], [s * w / SIZE, c * h / SIZE, 0.0]])
    m[:, 2] = [cx, cy] - m[:, :2] @ [SIZE / 2, SIZE / 2]
    return cv2.warpAffine(rgb, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def _eyes(pts: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Mid-point of the eye centres, their distance and the eye line's roll (dlib 5 points: 0-1, 2-3 eyes)."""
    a, b = pts[0:2].mean(0), pts[2:4].mean(0)
    if a[0] > b[0]:
        a, b = b, a
    d = b - a
    return (a + b) / 2, float(np.hypot(*d)), float(np.arctan2(d[1], d[0]))


def variant(name: str, predictor: Path) -> Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """A chip maker ``(rgb, box, pts, raw) -> chip`` from a name:

    ``dlib:P`` get_face_chip at padding P; ``eyes:S:V`` the axis-aligned square of side S eye-distances
    centred V eye-distances below the eyes' mid-point (MTCNN-like, the photo's roll kept); ``eyesroll:S:V``
    the same turned so the eyes are level; ``yunet:M`` YuNet's own box with a margin of M of its size
    on every side, resized to a square as facenet's MTCNN alignment does.
    """
    kind, *args = name.split(":")
    a = [float(x) for x in args]
    if kind == "dlib":
        al = Aligner(predictor, padding=a[0])

        def f(rgb, box, pts, raw):
            shape = dlib.full_object_detection(dlib.rectangle(int(box[0]), int(box[1]), int(box[0] + box[2] - 1),
                                                              int(box[1] + box[3] - 1)),
                                               [dlib.point(int(x), int(y)) for x, y in pts])
            return np.ascontiguousarray(dlib.get_face_chip(rgb, shape, size=SIZE, padding=al.padding))
        return f
    if kind in ("eyes", "eyesroll"):
        side, down = a

        def f(rgb, box, pts, raw):
            mid, d, roll = _eyes(pts)
            r = roll if kind == "eyesroll" else 0.0
            c = mid + down * d * np.array([-np.sin(r), np.cos(r)])
            return _warp(rgb, c[0], c[1], side * d, side * d, r)
        return f
    if kind == "yunet":
        m = a[0]

        def f(rgb, box, pts, raw):
            x, y, w, h = raw[:4]
            return _warp(rgb, x + w / 2, y + h / 2, w * (1 + 2 * m), h * (1 + 2 * m))
        return f
    raise ValueError(f"unknown variant {name!r}")


def embed_variant(name: str, detector: str, rows, det: dict, keep: np.ndarray, embedder) -> Embedded:
    """Embeddings of the photos in ``keep`` cut by variant ``name`` (others: not found)."""
    key = hashlib.sha256((embedder.sha256 + detector + name + "\n".join(f"{n}/{p.name}" for n, p in rows)
                          + keep.tobytes().hex()).encode()).hexdigest()[:16]
    path = CACHE / f"chip-emb-{detector}-{name.replace(':', '_')}-{key}.npz"
    person = np.array([n for n, _ in rows])
    number = np.array([int(p.stem.rsplit("_", 1)[-1]) for _, p in rows])
    if path.is_file():
        z = np.load(path)
        return Embedded(person, number, z["emb"], z["found"])
    cut = variant(name, model_dir() / PREDICTOR_FILE)
    found = det["found"] & keep
    if name.startswith("yunet"):
        found &= ~np.isnan(det["raw"][:, 0])
    emb = np.zeros((len(rows), embedder.manifest.embedding_dim), np.float32)
    t0 = time.perf_counter()
    for j, i in enumerate(np.nonzero(found)[0]):
        rgb = load_image(rows[i][1])
        emb[i] = embedder.embed(cut(rgb, det["box"][i], det["pts"][i], det["raw"][i]))[0]
        if j and j % 1000 == 0:
            print(f"  {name}: {j}/{int(found.sum())}, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    np.savez(path, emb=emb, found=found)
    return Embedded(person, number, emb, found)


def measure(e: Embedded, lfw: Lfw, sha: str, folds: tuple[int, ...], n: int = 50) -> dict:
    """Verification on ``folds`` and the named rate with ``n`` people at 1 % strangers (cohort: fold 1)."""
    center, cohort = build_cohort(e, lfw.people_in(COHORT_FOLDS))
    cal = Calibration(sha, center, cohort, K, {k: Level(TARGETS[k], 0.0, 0.0) for k in LEVELS})
    split = e.by_person(lfw.people_in(folds))
    maxima = stranger_maxima(cal, e, split, n, _trials_for(n), np.random.default_rng(1))
    t = float(np.quantile(maxima, 0.99))
    r = open_set_at(cal, e, split, n, _trials_for(n), None, threshold=t)
    v = verification(e, lfw.pairs, tuple(folds))
    return {"verification": v["accuracy"], "named_50_at_1pct": r["named"], "strangers": r["strangers"],
            "wrong": r["wrong"], "found": int(e.found.sum())}


DEFAULT_VARIANTS = ("dlib:0.35,dlib:0.5,eyes:3.2:0.5,eyes:3.6:0.5,eyes:4.0:0.5,eyes:3.6:0.3,eyes:3.6:0.7,"
                    "eyesroll:3.6:0.5,yunet:0.15,yunet:0.25")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("lfw", type=Path)
    ap.add_argument("--detector", default="yunet", choices=["yunet", "hog"])
    ap.add_argument("--variants", default=DEFAULT_VARIANTS)
    ap.add_argument("--held-out", default=None, help="report this variant on held-out folds 4-5 as well")
    ap.add_argument("--float", action="store_true", help="also embed with the float model (edged.reference)")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    lfw = Lfw.load(args.lfw)
    rows = [(name, p) for name, photos in lfw.people.items() for p in photos]
    person = np.array([n for n, _ in rows])
    fold = np.array([lfw.folds[n] for n in person])
    first = np.zeros(len(rows), bool)  # the cohort uses at most COHORT_PER_PERSON photos a person
    seen: dict[str, int] = {}
    for i, n in enumerate(person):
        seen[n] = seen.get(n, 0) + 1
        first[i] = seen[n] <= COHORT_PER_PERSON
    tune = (np.isin(fold, COHORT_FOLDS) & first) | np.isin(fold, TUNE_FOLDS)
    det = detections(lfw, args.detector, rows)
    embedder = build_pipeline(still=True, calibrated=False).embedder
    if args.float:
        from edged.reference import FloatFaceNet

        flt = FloatFaceNet()
        mirror = embedder.manifest.mirror

        class _Float:  # the float model with the shipped mirror rule, for a like-for-like row
            sha256, manifest = "float-" + flt.sha256, embedder.manifest

            def embed(self, chips):
                chips = np.asarray(chips)[None] if np.ndim(chips) == 3 else np.asarray(chips)
                out = flt.embed(chips) + (flt.embed(chips[:, :, ::-1]) if mirror else 0)
                return out / np.linalg.norm(out, axis=1, keepdims=True)
        embedder = _Float()
    results = {}
    for name in args.variants.split(","):
        e = embed_variant(name, args.detector, rows, det, tune, embedder)
        results[name] = measure(e, lfw, embedder.sha256, TUNE_FOLDS)
        print(f"tuning {args.detector} {name}: {json.dumps(results[name])}", flush=True)
    if args.held_out:
        test = (np.isin(fold, COHORT_FOLDS) & first) | np.isin(fold, TEST_FOLDS)
        e = embed_variant(args.held_out, args.detector, rows, det, test, embedder)
        r = measure(e, lfw, embedder.sha256, TEST_FOLDS)
        print(f"held-out {args.detector} {args.held_out}: {json.dumps(r)}", flush=True)


if __name__ == "__main__":
    main()
