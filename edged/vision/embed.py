"""FaceNet embeddings from the int8 TFLite model.

The model file is checked against the sha256 in its manifest before it is
loaded: the gallery is stamped with that hash, so a silently swapped model
would otherwise compare embeddings from two different spaces.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import ModelError
from ..core.logs import captured_stderr

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


def _interpreter_class() -> type:
    """ai-edge-litert first (maintained), tflite_runtime when only it is installed."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]
        except ImportError as e:
            raise ModelError("neither ai-edge-litert nor tflite-runtime is installed") from e
    return Interpreter


@dataclass(frozen=True)
class Manifest:
    path: Path
    file: Path
    sha256: str
    l2_normalize_output: bool
    chip_size: int
    embedding_dim: int
    #: The embedding of a face is the mean of its chip's and its mirror image's (test-time flip):
    #: chosen on LFW tuning people through the real path (models/README.md).
    mirror: bool = False

    @property
    def short(self) -> str:
        """Short model id for events and status: file stem and hash prefix."""
        return f"{self.file.stem}@{self.sha256[:12]}"

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text())
            return cls(
                path=path,
                file=path.parent / data["file"],
                sha256=str(data["sha256"]).lower(),
                l2_normalize_output=bool(data.get("l2_normalize_output", False)),
                chip_size=int(data.get("chip_size", 160)),
                embedding_dim=int(data.get("embedding_dim", 512)),
                mirror=bool(data.get("mirror", False)),
            )
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ModelError(f"{path}: unreadable model manifest ({e})") from e


def verified_model_file(path: Path, sha256: str, whose: str) -> Path:
    """``path`` if its bytes are the expected ones (``whose`` names where ``sha256`` comes from), else a
    ModelError: a damaged or replaced model must fail loudly, not find or name other faces."""
    if not path.is_file():
        raise ModelError(f"{path}: model file missing")
    actual = sha256_file(path)
    if actual != sha256:
        raise ModelError(f"{path}: sha256 {actual} does not match {whose} {sha256} (damaged or replaced model file)")
    return path


class TFLiteEmbedder:
    """Runs the quantized FaceNet on aligned RGB uint8 chips, returns unit vectors."""

    def __init__(self, manifest_path: Path | None = None, threads: int = 1, verify: bool = True) -> None:
        self.manifest = Manifest.load(manifest_path or model_dir() / MODEL_MANIFEST)
        if verify:
            verified_model_file(self.manifest.file, self.manifest.sha256, "the manifest's")
        elif not self.manifest.file.is_file():
            raise ModelError(f"{self.manifest.file}: model file missing")
        with captured_stderr("TFLite"):  # its C++ "INFO: Created TensorFlow Lite XNNPACK delegate" line
            interp = _interpreter_class()(model_path=str(self.manifest.file), num_threads=max(1, threads))
            interp.allocate_tensors()
        self._interp = interp
        inp = interp.get_input_details()[0]
        out = interp.get_output_details()[0]
        self._in_index, self._out_index = inp["index"], out["index"]
        self._in_dtype = inp["dtype"]
        in_scale, in_zero = inp["quantization"]
        self._out_scale, self._out_zero = out["quantization"]
        self._out_dtype = out["dtype"]
        # The standardisation (x - 127.5) / 128 followed by quantisation with
        # scale 1/128 and zero point 128 is (almost) the identity on uint8
        # pixels (zero point 127 or 128: off by at most half a step), so such a
        # model takes the chip bytes as they are.
        self._raw_input = (
            self._in_dtype == np.uint8 and abs(in_scale * 128 - 1) < 1e-3 and int(in_zero) in (127, 128)
        )
        self._in_scale, self._in_zero = in_scale, in_zero

    @property
    def sha256(self) -> str:
        return self.manifest.sha256

    @property
    def name(self) -> str:
        return self.manifest.short

    def _prepare(self, chip: np.ndarray) -> np.ndarray:
        if self._raw_input:
            return chip[None]
        x = (chip.astype(np.float32) - 127.5) / 128.0
        if self._in_dtype == np.float32:
            return x[None]
        info = np.iinfo(self._in_dtype)
        q = np.round(x / self._in_scale + self._in_zero)
        return np.clip(q, info.min, info.max).astype(self._in_dtype)[None]

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """(n, 160, 160, 3) uint8 RGB chips → (n, d) float32 L2-normalised embeddings."""
        chips = np.asarray(chips)
        if chips.ndim == 3:
            chips = chips[None]
        if self.manifest.mirror:
            return l2_normalize(self._embed(chips) + self._embed(chips[:, :, ::-1]))
        return self._embed(chips)

    def _embed(self, chips: np.ndarray) -> np.ndarray:
        out = np.empty((len(chips), self.manifest.embedding_dim), np.float32)
        for i, chip in enumerate(chips):
            self._interp.set_tensor(self._in_index, np.ascontiguousarray(self._prepare(chip)))
            self._interp.invoke()
            y = self._interp.get_tensor(self._out_index)[0]
            if self._out_dtype != np.float32:
                y = (y.astype(np.float32) - self._out_zero) * self._out_scale
            out[i] = y
        return l2_normalize(out)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(n, 1e-12)).astype(np.float32)
