"""Tight face crops as other tools cut them (ArcFace/insightface: 112×112, five points on a fixed template).

``frd enroll/recognize --aligned`` takes such crops; the calibration of crops
(``python -m edged.tools.calibrate LFW_DIR --crops``) and ``benchmarks/aligned_crops.py`` cut LFW photos to them,
so the thresholds of crops are chosen on crops of people nobody tested on.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..core.models import Box

#: The ArcFace/insightface five-point template of a 112×112 crop: eyes, nose tip, mouth corners (x, y).
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
                             [70.7299, 92.2041]], np.float32)
CROP_SIZE = 112


def arcface_crop(rgb: np.ndarray, box: Box) -> np.ndarray:
    """The 112×112 crop of the face in ``box`` (a similarity transform of its five points onto the template,
    black outside the photo), as insightface's ``norm_crop`` cuts one. ``box`` must carry YuNet's points."""
    if box.points is None:
        raise ValueError("a crop is cut from the detector's five points: use the YuNet detector")
    m, _ = cv2.estimateAffinePartial2D(np.asarray(box.points, np.float32), ARCFACE_TEMPLATE, method=cv2.LMEDS)
    return cv2.warpAffine(rgb, m, (CROP_SIZE, CROP_SIZE), borderValue=0.0)


def embed_crops(pipeline, folder: Path) -> dict[str, np.ndarray]:
    """Each person's crops in a folder of ``<identity>/<crop>``, embedded as ``--aligned`` embeds them (in order)."""
    from ..vision.images import load_image
    from .datasets import load_dataset

    return {p: np.stack([pipeline.subject_face(load_image(f), aligned=True)[0].embedding for f in files])
            for p, files in load_dataset(folder).items()}


def split_open_set(emb: dict[str, np.ndarray], calibration, enrolled: int, splits: int = 200, shots: int = 5,
                   strictness: str = "balanced") -> dict:
    """A set of people's crops split ``splits`` times at random into ``enrolled`` people (their first ``shots``
    crops enrolled, the others probes) and strangers (every crop), through frd's matcher at ``strictness``.

    Returns counts (named right, named wrong, strangers named, of how many) and, per person, how often their
    crops were named as someone when they were the stranger and missed when they were enrolled."""
    from ..vision.match import Matcher

    people = sorted(emb)
    c = {"probes": 0, "named": 0, "wrong": 0, "stranger_probes": 0, "strangers_named": 0}
    as_stranger = {p: [0, 0] for p in people}
    missed = {p: [0, 0] for p in people}
    for s in range(splits):
        order = np.random.default_rng(s).permutation(len(people))
        gallery = [people[i] for i in order[:enrolled]]
        m = Matcher(calibration, strictness)
        m.set_gallery({p: emb[p][:shots] for p in gallery})
        for p in gallery:
            for r in m.match(emb[p][shots:]):
                c["probes"] += 1
                c["named"] += r.name == p
                c["wrong"] += r.name not in (None, p)
                missed[p][0] += r.name != p
                missed[p][1] += 1
        for p in (people[i] for i in order[enrolled:]):
            named = sum(r.name is not None for r in m.match(emb[p]))
            c["stranger_probes"] += len(emb[p])
            c["strangers_named"] += named
            as_stranger[p][0] += named
            as_stranger[p][1] += len(emb[p])
    worst = max(people, key=lambda p: as_stranger[p][0] / max(as_stranger[p][1], 1))
    most_missed = max(people, key=lambda p: missed[p][0] / max(missed[p][1], 1))
    return {**c, "splits": splits, "enrolled": enrolled, "shots": shots,
            "worst_stranger": (worst, *as_stranger[worst]), "most_missed": (most_missed, *missed[most_missed])}
