"""The model folder: where the shipped model files are, and the check every model file passes before it is loaded.

``$FRD_MODEL_DIR``, else the wheel's copy (``edged/models``), else the checkout's ``models/``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..core.errors import ModelError

MODEL_MANIFEST = "facenet_int8.json"
PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"


def model_dir() -> Path:
    """Where the model files are: ``$FRD_MODEL_DIR``, the wheel's copy, or the checkout's ``models/``."""
    env = os.environ.get("FRD_MODEL_DIR")
    candidates = [Path(env)] if env else []
    package = Path(__file__).resolve().parents[1]  # edged/
    candidates += [package / "models", package.parent / "models"]
    for c in candidates:
        if (c / MODEL_MANIFEST).is_file():
            return c
    raise ModelError(f"no {MODEL_MANIFEST} in any of: {', '.join(str(c) for c in candidates)}")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verified_model_file(path: Path, sha256: str, whose: str) -> Path:
    """``path`` if its bytes are the expected ones (``whose`` names where ``sha256`` comes from), else a
    ModelError: a damaged or replaced model must fail loudly, not find or name other faces."""
    if not path.is_file():
        raise ModelError(f"{path}: model file missing")
    actual = sha256_file(path)
    if actual != sha256:
        raise ModelError(f"{path}: sha256 {actual} does not match {whose} {sha256} (damaged or replaced model file)")
    return path
