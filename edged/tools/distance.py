"""Faces at door distance: does the stranger promise hold when the face is small?

The calibration was fitted on LFW photos whose faces are about 100 px (YuNet's box); a visitor a few
steps from a door camera is 40-60 px. Here people are enrolled from full-size photos (SHOTS each, as a
user enrolls from phone photos, through the still-photo path and its embeddings cache) and probed with
the same LFW photos shrunk with OpenCV's area filter so that the subject's detected face is about
``px`` pixels, then detected, aligned and embedded again through the still-photo path: the enrolled
people's other photos, and every other person's photos as strangers.

Probes are embedded whatever their size (down to the detector's 10 px) and the size floor is applied
afterwards: detection keeps the same boxes whatever the floor (:meth:`edged.vision.pipeline.Pipeline.detect`),
so one embedding per photo and size serves every floor. A face under the floor is not named, as frd does.
"""

from __future__ import annotations

import hashlib
import math
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..vision.images import load_image
from ..vision.match import Calibration, Matcher
from ..vision.pipeline import subject
from .calibrate import SHOTS, Embedded, path_recipe

#: Face sizes (px, the shorter side of the detected box) the photos are shrunk to.
SIZES = (40, 45, 50, 60, 80)
#: Photos shrunk per person at most: a few LFW people have hundreds, whose probes would swamp the others'.
PER_PERSON = 20


@dataclass
class Shrunk:
    """Each row of an :class:`Embedded` probed at each size: ``emb[s]`` (n, d) and ``face_px[s]`` (n,), the
    subject's detected side in the shrunk photo (0: no face found, -1: not probed)."""

    sizes: tuple[int, ...]
    emb: dict[int, np.ndarray]
    face_px: dict[int, np.ndarray]


def shrink(rgb: np.ndarray, face_px: float, target: float) -> np.ndarray:
    """``rgb`` scaled with OpenCV's area filter so a face of ``face_px`` becomes ``target`` px."""
    s = target / face_px
    h, w = rgb.shape[:2]
    return cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def probed_rows(e: Embedded, per_person: int = PER_PERSON) -> np.ndarray:
    """The rows shrunk: each person's first ``per_person`` photos with a face (enrolled ones among them)."""
    keep = np.zeros(len(e.person), bool)
    for idx in e.by_person().values():
        keep[idx[:per_person]] = True
    return keep


def probe(e: Embedded, paths: list[Path], pipeline, sizes: tuple[int, ...] = SIZES, rows: np.ndarray | None = None,
          cache: Path | None = None, progress: bool = False) -> Shrunk:
    """Shrink each photo of ``rows`` so its subject's face is each of ``sizes`` px and embed it again.

    ``pipeline``: a still-photo pipeline whose detector keeps faces from
    :data:`edged.vision.pipeline.SMALLEST_FACE_PX` (the floor is applied when scoring). The subject's full-size
    side is measured by the same detector on the photo itself.
    ``cache``: a folder, one file a size (so a sweep can be extended one size at a time)."""
    rows = probed_rows(e) if rows is None else rows
    emb, px = {}, {}
    for s in sizes:
        key = hashlib.sha256(f"{path_recipe(pipeline)}\n{s}\n".encode() + "\n".join(
            f"{p.parent.name}/{p.name}" for p, r in zip(paths, rows, strict=True) if r).encode()).hexdigest()
        f = cache / f"shrunk-{s}px-{key[:12]}.npz" if cache else None
        if f and f.is_file() and str((z := np.load(f, allow_pickle=False))["key"]) == key:
            emb[s], px[s] = z["emb"], z["px"]
            continue
        emb[s], px[s] = _shrunk_embeddings(paths, rows, pipeline, s, e.emb.shape[1], progress)
        if f:
            f.parent.mkdir(parents=True, exist_ok=True)
            np.savez(f, key=key, emb=emb[s], px=px[s])
    return Shrunk(tuple(sizes), emb, px)


def _shrunk_embeddings(paths: list[Path], rows: np.ndarray, pipeline, size: int, dim: int, progress: bool
                       ) -> tuple[np.ndarray, np.ndarray]:
    emb = np.zeros((len(paths), dim), np.float32)
    px = np.full(len(paths), -1, np.int32)
    t0 = time.perf_counter()
    for k, i in enumerate(np.nonzero(rows)[0]):
        rgb = load_image(paths[i])
        boxes, _ = pipeline.detect(rgb, still=True)
        px[i] = 0
        if not boxes:
            continue
        box = subject(boxes, rgb.shape[1], rgb.shape[0])
        faces = pipeline.faces(shrink(rgb, min(box.w, box.h), size), subject_only=True, still=True)
        if faces:
            emb[i], px[i] = faces[0].embedding, faces[0].face_px
        if progress and k and k % 500 == 0:
            print(f"  {size} px: {k}/{int(rows.sum())} photos, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return emb, px


def wilson(k: float, n: float, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of ``k`` successes in ``n`` trials."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def _rate(k: int, n: int) -> dict:
    lo, hi = wilson(k, n)
    return {"k": int(k), "n": int(n), "rate": round(k / max(n, 1), 5), "low": round(lo, 5), "high": round(hi, 5)}


def galleries(split: dict[str, np.ndarray], n: int, trials: int, rng: np.random.Generator) -> list[list[str]]:
    """Random galleries of ``n`` people with a photo left to probe, drawn as the calibration's held-out figures
    draw them (same seed, same galleries)."""
    big = sorted(p for p, v in split.items() if len(v) > SHOTS)
    return [list(rng.choice(big, n, replace=False)) for _ in range(trials)]


def door_open_set(cal: Calibration, e: Embedded, split: dict[str, np.ndarray], probes: np.ndarray,
                  face_px: np.ndarray, n: int, level: str = "balanced", floor: int = 0, trials: int | None = None,
                  seed: int = 7) -> dict:
    """Galleries of ``n`` people enrolled from full-size photos (``e``, SHOTS each, as
    :func:`edged.tools.calibrate.open_set_at` draws them), probed with the shrunk embeddings ``probes``.

    A probe is named only when its face was found at ``floor`` px or more (``face_px``; -1 rows were not probed
    and are left out). Returns the rates with Wilson 95 % intervals (pooled over galleries, which share people:
    read them as optimistic) and the enrolled person who drew the most strangers (their share of the stranger
    photos scored while they were enrolled)."""
    rng = np.random.default_rng(seed)
    trials = trials or max(8, min(60, 600 // n))
    g = defaultdict(int)
    drawn: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    usable = face_px >= max(floor, 1)
    for gal in galleries(split, n, trials, rng):
        m = Matcher(cal, level)
        m.set_gallery({p: e.emb[split[p][:SHOTS]] for p in gal})
        for p in gal:
            idx = split[p][SHOTS:]
            idx = idx[face_px[idx] >= 0]
            g["genuine"] += len(idx)
            ok = idx[usable[idx]]
            for r in m.match(probes[ok]) if len(ok) else []:
                g["right"] += r.name == p
                g["wrong"] += r.name is not None and r.name != p
        members = set(gal)
        idx = np.concatenate([v for q, v in split.items() if q not in members])
        idx = idx[face_px[idx] >= 0]
        g["strangers"] += len(idx)
        ok = idx[usable[idx]]
        names = [r.name for r in m.match(probes[ok])] if len(ok) else []
        g["named"] += sum(x is not None for x in names)
        for p in gal:
            drawn[p][1] += len(idx)
        for x in names:
            if x is not None:
                drawn[x][0] += 1
    worst = max(drawn, key=lambda p: drawn[p][0] / max(drawn[p][1], 1))
    return {"people": n, "galleries": trials, "floor": floor,
            "strangers_named": _rate(g["named"], g["strangers"]), "enrolled_named": _rate(g["right"], g["genuine"]),
            "wrong_name": _rate(g["wrong"], g["genuine"]),
            "worst_person": {"name": worst, **_rate(*drawn[worst])}}


def probed_split(e: Embedded, people: set[str], probed: np.ndarray) -> dict[str, np.ndarray]:
    """Each person's found photos in ``people`` among the probed rows (the enrolled ones are the first SHOTS)."""
    return Embedded(e.person, e.number, e.emb, e.found & probed).by_person(people)

