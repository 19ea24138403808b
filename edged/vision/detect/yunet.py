"""OpenCV's YuNet face detector, its model file, and how its boxes become the boxes alignment was trained on."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ...config import RecognitionConfig, default
from ...core.errors import ModelError
from ...core.models import Box
from ..modelfiles import model_dir, verified_model_file
from .base import Detector
from .resize import kept_boxes, region_part

#: YuNet's model file in the model folder, and its sha256 (models/README.md): checked before loading,
#: so a damaged or swapped file fails with a clear error instead of finding other faces.
YUNET_FILE = "face_detection_yunet_2023mar.onnx"
YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
#: YuNet's working size when none is configured: it finds faces of about 10 to 300 px of its input,
#: so a 1080p frame is reduced (a face filling a door camera's picture is found) and nothing is enlarged.
YUNET_MAX_SIDE = 640
#: YuNet's confidence needed for a face. At 0.7 (the shared measurements) a blurred crowd behind a
#: portrait scored 0.76 and was the largest "face" of the photo (what enrollment takes); at 0.8 the
#: people photos have no such box and the clip still gives 540 faces (632 at 0.7, 186 at 0.9, HOG 156).
YUNET_SCORE = 0.8
#: How a YuNet box becomes the box dlib's 5-point shape predictor was trained on (HOG's: square,
#: brows to upper lip). YuNet's box is taller (forehead to chin) and its centre lower. Fitted by
#: ``benchmarks/yunet_box.py`` (models/README.md, "YuNet box mapping"): the HOG box's centre is
#: YuNet's centre plus (dx·w, dy·h), its side ``side`` times YuNet's width.
YUNET_TO_HOG = {"dx": -0.025, "dy": 0.047, "side": 1.128}


class YuNetDetector(Detector):
    """OpenCV's YuNet face detector (:class:`~.base.Detector`).

    YuNet finds turned, small (from about 10 px of its input) and partly hidden faces that HOG
    (frontal, at least 80 px) misses, in a few milliseconds at 640 px. Its boxes are mapped to the
    shape HOG gives (:data:`YUNET_TO_HOG`), because alignment stays dlib's 5-point predictor, which
    was trained on HOG boxes. ``max_side`` None is :data:`YUNET_MAX_SIDE`.
    """

    #: The video tracker gives YuNet the colour frame: on grey it finds a quarter fewer of the clip's faces
    #: (403 instead of 540 in 275 frames) for the same time.
    colour = True
    name = "yunet"

    def __init__(self, min_face_px: int = default(RecognitionConfig, "min_face_px"), min_face_frac: float = 0.0,
                 max_side: int | None = None,
                 model_path: Path | None = None, score_threshold: float = YUNET_SCORE, nms_threshold: float = 0.3,
                 verify: bool = True) -> None:
        path = Path(model_path) if model_path is not None else model_dir() / YUNET_FILE
        self.model_path = verified_model_file(path, YUNET_SHA256, "YuNet's") if verify else path
        super().__init__(min_face_px, min_face_frac, max_side)
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        try:
            # OpenCV warns "setPreferableTarget: Targets are not supported by the new graph engine" on every
            # load (harmless: it runs on the CPU); hush warnings while loading only.
            level = cv2.utils.logging.getLogLevel()
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
            try:
                self._net = cv2.FaceDetectorYN.create(str(self.model_path), "", (320, 320), score_threshold,
                                                      nms_threshold, 5000)
            finally:
                cv2.utils.logging.setLogLevel(level)
        except cv2.error as e:
            raise ModelError(f"{self.model_path}: OpenCV cannot load the YuNet model ({e})") from e
        self._input: tuple[int, int] | None = None
        #: The last run's raw YuNet rows in full-frame pixels (box, 5 landmarks, score: for checking the box
        #: mapping).
        self.last_raw: np.ndarray = np.zeros((0, 15), np.float32)

    def with_max_side(self, max_side: int | None) -> YuNetDetector:
        """The same detector at another working size (a camera's own ``detect_max_side``)."""
        return YuNetDetector(self.min_face_px, self.min_face_frac, max_side, self.model_path, self.score_threshold,
                             self.nms_threshold, verify=False)

    @property
    def working_side(self) -> int:
        """The long side images are reduced to for detection."""
        return self.max_side or YUNET_MAX_SIDE

    def detect_in(self, image: np.ndarray, region: Box | None, min_side: float, bgr: bool = False) -> list[Box]:
        """Faces of at least ``min_side`` px inside ``region`` of the image (None: all of it), as HOG-shaped
        boxes in image pixels, each with YuNet's own five points (``Box.points``: eyes, nose tip, mouth
        corners). The region is cut at full resolution and reduced only when larger than the working size
        (or than the whole frame's pixels at that size). ``bgr``: the image is a camera's BGR, what YuNet
        itself takes (an RGB one is converted)."""
        h, w = image.shape[:2]
        small, scale, ox, oy = region_part(image, region, self.working_side)
        if small.ndim == 2:
            small = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)
        elif not bgr:
            small = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        size = (small.shape[1], small.shape[0])
        if size != self._input:
            self._net.setInputSize(size)
            self._input = size
        _, rows = self._net.detect(np.ascontiguousarray(small))
        self.calls += 1
        self.last_size = small.shape[:2]
        rows = np.zeros((0, 15), np.float32) if rows is None else rows[:, :15] / np.float32(scale)
        rows[:, 14] *= np.float32(scale)  # the score is not a coordinate
        rows[:, [0, 4, 6, 8, 10, 12]] += np.float32(ox)  # box corner and points: x, then y; not w and h
        rows[:, [1, 5, 7, 9, 11, 13]] += np.float32(oy)
        self.last_raw = rows
        m = YUNET_TO_HOG
        corners = []
        for x, y, bw, bh in rows[:, :4].astype(float):
            cx, cy, s = x + bw / 2 + m["dx"] * bw, y + bh / 2 + m["dy"] * bh, m["side"] * bw
            corners.append((cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2))
        return kept_boxes(corners, h, w, min_side, [r[4:14].reshape(5, 2).astype(float) for r in rows])

    @property
    def recipe(self) -> str:
        """What decides the boxes it gives (a cache of embeddings keys on it)."""
        return (f"yunet {YUNET_SHA256[:12]} score {self.score_threshold} nms {self.nms_threshold} max_side "
                f"{self.max_side or YUNET_MAX_SIDE} min {self.min_face_px}/{self.min_face_frac} map {YUNET_TO_HOG}")
