"""FaceNet embeddings from the int8 TFLite model.

The model file is checked against the sha256 in its manifest before it is
loaded: the gallery is stamped with that hash, so a silently swapped model
would otherwise compare embeddings from two different spaces.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import RecognitionConfig, default
from ..core.errors import ModelError
from ..core.logs import captured_stderr
from .modelfiles import MODEL_MANIFEST, model_dir, verified_model_file


def _litert() -> Any:
    """The interpreter module: ai-edge-litert first (maintained), tflite_runtime when only it is installed."""
    try:
        from ai_edge_litert import interpreter
    except ImportError:
        try:
            from tflite_runtime import interpreter  # type: ignore[no-redef]
        except ImportError as e:
            raise ModelError("neither ai-edge-litert nor tflite-runtime is installed") from e
    return interpreter


def load_interpreter(path: Path, threads: int = 1, reference_kernels: bool = False) -> Any:
    """A TFLite interpreter of ``path``, tensors allocated, its C++ start-up chatter kept off stderr.

    ``reference_kernels``: TFLite's portable reference kernels instead of the optimized (XNNPACK) ones: about
    ten times slower, but the same arithmetic on every CPU, so two machines (x86_64 and aarch64, AVX2 and
    AVX-512) give the same embedding of the same chip; the fast kernels round differently on each.
    """
    litert = _litert()
    extra = {"experimental_op_resolver_type": litert.OpResolverType.BUILTIN_REF} if reference_kernels else {}
    with captured_stderr("TFLite"):  # its C++ "INFO: Created TensorFlow Lite XNNPACK delegate" line
        interp = litert.Interpreter(model_path=str(path), num_threads=max(1, threads), **extra)
        interp.allocate_tensors()
    return interp


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




class TFLiteEmbedder:
    """Runs the quantized FaceNet on aligned RGB uint8 chips, returns unit vectors."""

    def __init__(self, manifest_path: Path | None = None, threads: int = default(RecognitionConfig, "threads"),
                 verify: bool = True, reference_kernels: bool = False) -> None:
        self.manifest = Manifest.load(manifest_path or model_dir() / MODEL_MANIFEST)
        if verify:
            verified_model_file(self.manifest.file, self.manifest.sha256, "the manifest's")
        elif not self.manifest.file.is_file():
            raise ModelError(f"{self.manifest.file}: model file missing")
        interp = self._interp = load_interpreter(self.manifest.file, threads, reference_kernels)
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
