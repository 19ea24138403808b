"""The face-space centre: the mean embedding of a cohort of generic faces.

FaceNet's embeddings are not spread around the origin: every face shares a
common component (the mean of 144 generic face chips has norm 0.46), so the
cosine of two different people is rarely near 0 and strangers land close to
enrolled people. Subtracting that mean before the cosine ("centring") makes
the cosine measure what differs between faces. On aligned112 this alone
raised the enrolled people named at <= 1 % strangers from 0.853 to 0.880 (README,
"Strangers stay strangers", which also lists the candidates that did not help).

The centre is a property of the model, computed once from public calibration
faces (the same chips the int8 model was calibrated on) with the int8 model
itself, and shipped next to it as ``facenet_int8.center.json``, stamped with
the model's sha256. No face images and no per-device state are involved.

Rebuild after a model change (from the repository root)::

    .venv/bin/python -m edged.cohort --photos ../shared/data/faces/people \\
        --photos ../shared/data/faces/video/enroll --out models/facenet_int8.center.json
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .embed import l2_normalize, model_dir
from .errors import ModelError

CENTER_FILE = "facenet_int8.center.json"


@dataclass(frozen=True)
class Center:
    """The mean embedding (not unit length) of a cohort of faces, for one model."""

    vector: np.ndarray
    model_sha256: str
    faces: int = 0
    source: str = ""

    def apply(self, embeddings: np.ndarray) -> np.ndarray:
        """Unit embeddings → centred unit embeddings."""
        return l2_normalize(np.atleast_2d(embeddings).astype(np.float32) - self.vector)

    def as_dict(self) -> dict:
        return {"model_sha256": self.model_sha256, "faces": self.faces, "source": self.source,
                "dim": int(self.vector.shape[0]), "mean": [round(float(v), 7) for v in self.vector]}


def load_center(model_sha256: str, path: Path | None = None) -> Center:
    """The shipped centre of the model with ``model_sha256``; refuses one made by another model."""
    path = path or model_dir() / CENTER_FILE
    try:
        data = json.loads(Path(path).read_text())
        vec = np.asarray(data["mean"], np.float32)
        sha = str(data["model_sha256"]).lower()
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelError(f"{path}: unreadable face-space centre ({e}); rebuild it with python -m edged.cohort") from e
    if vec.ndim != 1 or not np.all(np.isfinite(vec)):
        raise ModelError(f"{path}: the face-space centre is not a finite vector")
    if sha != model_sha256.lower():
        raise ModelError(f"{path}: made for model {sha[:12]}, not {model_sha256[:12]}: rebuild it with "
                         "python -m edged.cohort")
    return Center(vec, sha, int(data.get("faces", 0)), str(data.get("source", "")))


def compute_center(embed, chips: np.ndarray, mirror: bool = True) -> np.ndarray:
    """Mean of the unit embeddings of ``chips`` (and of their mirror images)."""
    e = embed(chips)
    if mirror:
        e = np.concatenate([e, embed(np.ascontiguousarray(chips[:, :, ::-1]))])
    return e.mean(axis=0).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    from .align import Aligner
    from .camera import folder_images
    from .detect import Detector
    from .embed import PREDICTOR_FILE, TFLiteEmbedder
    from .images import load_image

    ap = argparse.ArgumentParser(prog="python -m edged.cohort", description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=Path, action="append", default=[],
                    help="folder of photos (searched recursively); the largest face of each is used")
    ap.add_argument("--out", type=Path, default=model_dir() / CENTER_FILE)
    args = ap.parse_args(argv)
    embedder = TFLiteEmbedder()
    aligner = Aligner(model_dir() / PREDICTOR_FILE)
    detector = Detector(upsample=1, max_side=1280)
    chips, what = [], []
    for folder in args.photos:
        files = sorted(p for d in [folder, *sorted(x for x in folder.rglob("*") if x.is_dir())]
                       for p in folder_images(d))
        n = 0
        for f in files:
            rgb = load_image(f)
            boxes = detector.detect(rgb)
            if boxes:
                chips.append(aligner.chip(rgb, boxes[0]))
                n += 1
        what.append(f"{folder.name}: {n} faces from {len(files)} photos")
    if not chips:
        raise SystemExit("no faces found")
    vec = compute_center(embedder.embed, np.stack(chips))
    source = (f"{'; '.join(what)}; dlib HOG (upsample 1), largest face, aligned as the daemon does, "
              f"each chip also mirrored; mean of {2 * len(chips)} unit embeddings")
    center = Center(vec, embedder.sha256, 2 * len(chips), source)
    args.out.write_text(json.dumps(center.as_dict()) + "\n")
    print(f"{args.out}: {source}; |mean| = {np.linalg.norm(vec):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
