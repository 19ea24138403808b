"""Face detection with dlib's HOG detector, and the motion gate that decides when it is worth running.

HOG is CPU-only, needs no model file and is what the 2018 design used; the
minimum face size keeps far-away passers-by (the seed ignored faces under 5 %
of the frame) from costing an embedding (video passes its own, smaller floor to
:meth:`YuNetDetector.detect_in` and leaves naming to the quality gate). The cost
follows the pixel count, so large frames are reduced to a working size for
detection only (``max_side``), or only a part of the frame is detected, at full
detail (``detect_in``); the boxes are mapped back to the full frame, where
landmarks and chips are cut.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import dlib
import numpy as np

from ..core.errors import ModelError
from ..core.models import Box

__all__ = ["DETECTORS", "Box", "Detector", "MotionGate", "YuNetDetector", "to_dlib"]

#: The detectors ``recognition.detector`` may name.
DETECTORS = ("hog", "yunet")
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


def to_dlib(box: Box) -> dlib.rectangle:
    """The box as dlib's inclusive rectangle (the landmark predictor takes it)."""
    return dlib.rectangle(box.x, box.y, box.x + box.w - 1, box.y + box.h - 1)


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` reduced to ``size`` (width, height): halved by area averaging while it is at least twice
    the size, the rest (a factor under 2) bilinear. OpenCV's 2× area reduction is vectorised (0.56 ms for
    a 1080p frame) where its 3× one is not (2.4 ms, a tenth of an idle camera's frame loop); after the
    halving every pixel still contributes to the bilinear samples, so small faces keep what area averaging
    gives them (the clip at 1080p: the same faces found and named, see README "Door cameras"). The
    bilinear step is OpenCV's bit-exact one (0.9 ms for 960 → 640 px, against 0.4): its plain one rounds
    differently on x86_64 and aarch64, and moved a photo's enrolled chip by 2.7 grey levels between them."""
    while image.shape[1] >= 2 * size[0] and image.shape[0] >= 2 * size[1]:
        h, w = image.shape[:2]
        image = cv2.resize(image[: h - h % 2, : w - w % 2], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    if (image.shape[1], image.shape[0]) != tuple(size):
        image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR_EXACT)
    return image


def _reduced(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float]:
    """The image shrunk to ``max_side`` on its long side (never enlarged) for detection, and the scale used."""
    h, w = image.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return image, 1.0
    scale = max_side / max(h, w)
    return shrink(image, (round(w * scale), round(h * scale))), scale


def crop_factor(part: tuple[int, int], frame: tuple[int, int], max_side: int | None) -> int:
    """By how much a part (height, width) of a frame is reduced for detection: the smallest whole factor
    that brings it to ``max_side`` and to no more pixels than the whole frame reduced to ``max_side``
    (the cost stays bounded). A whole factor maps the part's pixels exactly onto the detector's."""
    if not max_side:
        return 1
    (ph, pw), (h, w) = part, frame
    budget = h * w * min(max_side / max(h, w), 1.0) ** 2
    return max(1, math.ceil(max(ph, pw) / max_side - 1e-9), math.ceil((ph * pw / budget) ** 0.5 - 1e-9))


def _part(image: np.ndarray, region: Box | None, max_side: int | None) -> tuple[np.ndarray, float, int, int]:
    """What the detector sees of ``region`` (None: the whole image reduced to ``max_side``): the part cut at
    full resolution, reduced by :func:`crop_factor`; the scale, and the part's corner in the image."""
    if region is None:
        small, scale = _reduced(image, max_side)
        return small, scale, 0, 0
    h, w = image.shape[:2]
    x0, y0 = min(max(region.x, 0), w - 1), min(max(region.y, 0), h - 1)
    x1, y1 = min(max(region.x + region.w, x0 + 1), w), min(max(region.y + region.h, y0 + 1), h)
    f = crop_factor((y1 - y0, x1 - x0), (h, w), max_side)
    if f == 1:
        return image[y0:y1, x0:x1], 1.0, x0, y0
    x1, y1 = x0 + max((x1 - x0) // f, 1) * f, y0 + max((y1 - y0) // f, 1) * f  # whole multiples of f
    part = image[y0:y1, x0:x1]
    size = (part.shape[1] // f, part.shape[0] // f)
    return shrink(part, size), 1.0 / f, x0, y0


def _kept(corners: list[tuple[float, float, float, float]], h: int, w: int, min_side: float,
          points: list[np.ndarray] | None = None) -> list[Box]:
    """Boxes from full-frame ``(x0, y0, x1, y1)`` clipped to the frame, at least ``min_side``, largest first
    (each with its detector's five ``points`` when given)."""
    boxes = []
    for i, (x0, y0, x1, y1) in enumerate(corners):
        left, top = max(round(x0), 0), max(round(y0), 0)
        box = Box(left, top, min(round(x1), w) - left, min(round(y1), h) - top,
                  points=None if points is None else points[i])
        if box.w > 0 and box.h > 0 and min(box.w, box.h) >= min_side:
            boxes.append(box)
    boxes.sort(key=lambda b: b.area, reverse=True)
    return boxes


class Detector:
    """dlib HOG frontal face detector with upsampling and a minimum face size.

    ``min_face_px`` is the smallest face side in pixels; ``min_face_frac`` the
    smallest face side as a fraction of the frame's shorter side. A face must
    pass both.
    """

    #: The video tracker gives HOG the grey frame (30 % cheaper, same faces).
    colour = False
    #: Its name in ``DETECTORS`` (recorded in the calibration it made).
    name = "hog"

    def __init__(
        self, upsample: int = 0, min_face_px: int = 40, min_face_frac: float = 0.0, max_side: int | None = None
    ) -> None:
        if upsample < 0:
            raise ValueError("upsample must be >= 0")
        self.upsample = upsample
        self.min_face_px = min_face_px
        self.min_face_frac = min_face_frac
        #: Larger images are shrunk for detection only (a 12 MP still or a 1080p frame costs
        #: many times the HOG of its reduced version; the price is that HOG's smallest face,
        #: 80 px at upsample 0, is 80 px of the reduced image); landmarks use full resolution.
        self.max_side = max_side
        self._hog = dlib.get_frontal_face_detector()
        #: HOG runs so far, and the (height, width) of the last image HOG saw (after reduction).
        self.calls = 0
        self.last_size: tuple[int, int] | None = None

    def with_max_side(self, max_side: int | None) -> Detector:
        """The same detector at another working size (a camera's own ``detect_max_side``)."""
        return Detector(self.upsample, self.min_face_px, self.min_face_frac, max_side)

    @property
    def working_side(self) -> int | None:
        """The long side images are reduced to for detection (None: never reduced)."""
        return self.max_side

    def min_side(self, h: int, w: int) -> float:
        """The smallest face side kept in an ``h`` × ``w`` image (``min_face_px`` and ``min_face_frac``)."""
        return max(self.min_face_px, self.min_face_frac * min(h, w))

    def detect(self, rgb: np.ndarray) -> list[Box]:
        """Faces in an RGB (or grey) uint8 image, largest first."""
        h, w = rgb.shape[:2]
        return self.detect_in(rgb, None, self.min_side(h, w))

    def detect_in(self, rgb: np.ndarray, region: Box | None, min_side: float, bgr: bool = False) -> list[Box]:
        """Faces of at least ``min_side`` px inside ``region`` of the image (None: all of it), in image pixels
        (``bgr``: a camera's colour order, which HOG's gradients do not depend on).

        The region is cut at full resolution and reduced only when it is larger than the working size (or
        has more pixels than the whole frame reduced to it: the cost stays bounded), so a small region
        keeps the detail the whole frame reduced would lose (the video tracker's moving parts,
        :class:`MotionGate`)."""
        h, w = rgb.shape[:2]
        small, scale, ox, oy = _part(rgb, region, self.max_side)
        rects = self._hog(small, self.upsample)
        self.calls += 1
        self.last_size = small.shape[:2]
        corners = [(ox + r.left() / scale, oy + r.top() / scale, ox + (r.right() + 1) / scale,
                    oy + (r.bottom() + 1) / scale) for r in rects]
        return _kept(corners, h, w, min_side)

    @property
    def recipe(self) -> str:
        """What decides the boxes it gives (a cache of embeddings keys on it)."""
        return f"hog upsample {self.upsample} max_side {self.max_side} min {self.min_face_px}/{self.min_face_frac}"


class YuNetDetector:
    """OpenCV's YuNet face detector behind :class:`Detector`'s interface.

    YuNet finds turned, small (from about 10 px of its input) and partly hidden faces that HOG
    (frontal, at least 80 px) misses, in a few milliseconds at 640 px. Its boxes are mapped to the
    shape HOG gives (:data:`YUNET_TO_HOG`), because alignment stays dlib's 5-point predictor, which
    was trained on HOG boxes. ``max_side`` None is :data:`YUNET_MAX_SIDE`.
    """

    #: The video tracker gives YuNet the colour frame: on grey it finds a quarter fewer of the clip's faces
    #: (403 instead of 540 in 275 frames) for the same time.
    colour = True
    name = "yunet"

    def __init__(self, min_face_px: int = 40, min_face_frac: float = 0.0, max_side: int | None = None,
                 model_path: Path | None = None, score_threshold: float = YUNET_SCORE, nms_threshold: float = 0.3,
                 verify: bool = True) -> None:
        from .embed import model_dir, verified_model_file

        path = Path(model_path) if model_path is not None else model_dir() / YUNET_FILE
        self.model_path = verified_model_file(path, YUNET_SHA256, "YuNet's") if verify else path
        self.min_face_px = min_face_px
        self.min_face_frac = min_face_frac
        self.max_side = max_side
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
        #: Detector runs so far, the (height, width) of the last image seen (after reduction), and the last
        #: run's raw YuNet rows in full-frame pixels (box, 5 landmarks, score: for checking the box mapping).
        self.calls = 0
        self.last_size: tuple[int, int] | None = None
        self.last_raw: np.ndarray = np.zeros((0, 15), np.float32)

    def with_max_side(self, max_side: int | None) -> YuNetDetector:
        """The same detector at another working size (a camera's own ``detect_max_side``)."""
        return YuNetDetector(self.min_face_px, self.min_face_frac, max_side, self.model_path, self.score_threshold,
                             self.nms_threshold, verify=False)

    @property
    def working_side(self) -> int:
        """The long side images are reduced to for detection."""
        return self.max_side or YUNET_MAX_SIDE

    def min_side(self, h: int, w: int) -> float:
        """The smallest face side kept in an ``h`` × ``w`` image (``min_face_px`` and ``min_face_frac``)."""
        return max(self.min_face_px, self.min_face_frac * min(h, w))

    def detect(self, rgb: np.ndarray) -> list[Box]:
        """Faces in an RGB (or grey) uint8 image, largest first, as HOG-shaped boxes in full-frame pixels."""
        h, w = rgb.shape[:2]
        return self.detect_in(rgb, None, self.min_side(h, w))

    def detect_in(self, rgb: np.ndarray, region: Box | None, min_side: float, bgr: bool = False) -> list[Box]:
        """Faces of at least ``min_side`` px inside ``region`` of the image (None: all of it), as HOG-shaped
        boxes in image pixels, each with YuNet's own five points (``Box.points``: eyes, nose tip, mouth
        corners). The region is cut at full resolution and reduced only when larger than the working size
        (or than the whole frame's pixels at that size). ``bgr``: the image is a camera's BGR, what YuNet
        itself takes (an RGB one is converted)."""
        h, w = rgb.shape[:2]
        small, scale, ox, oy = _part(rgb, region, self.working_side)
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
        return _kept(corners, h, w, min_side, [r[4:14].reshape(5, 2).astype(float) for r in rows])

    @property
    def recipe(self) -> str:
        """What decides the boxes it gives (a cache of embeddings keys on it)."""
        return (f"yunet {YUNET_SHA256[:12]} score {self.score_threshold} nms {self.nms_threshold} max_side "
                f"{self.max_side or YUNET_MAX_SIDE} min {self.min_face_px}/{self.min_face_frac} map {YUNET_TO_HOG}")


class MotionGate:
    """Whether a video frame differs enough from the last one the detector saw to detect again, and where.

    An empty doorway should cost close to nothing: HOG is most of a frame's cost,
    and when the picture has not changed it cannot find a face it did not find
    before. The frame is reduced to a tiny grey thumbnail (``side`` px on the long
    side, a cell averaging some 30 × 30 pixels of a 1080p frame, so sensor noise
    averages out) and compared with the thumbnail of the last detection: if no
    cell changed by ``threshold`` grey levels or more, detection is skipped. The
    comparison is with the last *detected* frame, not the previous one, so slow
    changes add up; and every ``check_every_s`` the detector runs on the whole frame
    anyway, so a person standing still (or a change too faint for the gate) is still found.
    A false alarm only costs the detection frd would have run without the gate.

    With nobody followed (``idle``), the periodic check is itself skipped while the picture is *still*:
    no cell changed by half the threshold since the last detection. On the same pixels the
    detector can only find what it found then (nobody), and that check is what an empty doorway pays
    most for (a whole-frame detection every 2 s: 15 ms, half of an idle camera's frame loop). A change
    under the gate's threshold but over half of it (a far person whose face moves a cell's mean a few
    grey levels) still gets its periodic check, and a still picture is checked anyway every
    ``STILL_PERIODS`` periods.

    :meth:`check` also says *where* the picture changed (the changed cells' bounding box, with a margin
    of ``margin`` cells), so the tracker can detect there at the camera's full detail: a far person
    is a few pixels of the frame reduced to the detector's working size, but all of theirs in a crop.
    ``skip=False`` (``motion.enabled: false``) never skips a detection; the region is still given.
    """

    #: A still picture with nobody followed is detected whole at least every this many periodic checks.
    STILL_PERIODS = 5

    def __init__(self, threshold: float = 12.0, check_every_s: float = 2.0, side: int = 64, margin: int = 2,
                 skip: bool = True) -> None:
        if threshold <= 0 or check_every_s <= 0 or side < 4 or margin < 0:
            raise ValueError("threshold and check_every_s must be > 0, side >= 4, margin >= 0")
        self.threshold = threshold
        self.check_every_s = check_every_s
        self.side = side
        self.margin = margin
        self.skip = skip
        self.skipped = 0
        #: Periodic checks skipped because the picture was still and nobody was followed (in ``skipped`` too).
        self.still_skipped = 0
        self._ref: np.ndarray | None = None
        self._full_t = float("-inf")  # the last whole-frame check
        self._due_t = float("-inf")  # when the next periodic check is due

    def thumbnail(self, img: np.ndarray, bgr: bool = False) -> np.ndarray:
        """The grey thumbnail of an RGB (``bgr``: BGR) or grey frame: every pixel of a 4×-larger grid
        sampled, then averaged 4 × 4 (0.18 ms on 1080p; averaging every pixel costs 1.4 ms, which an idle
        camera pays ten times a second)."""
        h, w = img.shape[:2]
        scale = self.side / max(h, w)
        size = (max(round(w * scale), 1), max(round(h * scale), 1))
        grid = (min(4 * size[0], w), min(4 * size[1], h))
        small = cv2.resize(cv2.resize(img, grid, interpolation=cv2.INTER_NEAREST), size, interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY if bgr else cv2.COLOR_RGB2GRAY) if small.ndim == 3 else small

    def check(self, img: np.ndarray, now: float, bgr: bool = False, idle: bool = False) -> tuple[bool, Box | None]:
        """(detect?, where): ``where`` is the box of the frame that changed since the last detection (frame
        pixels), or None for the whole frame: no reference yet, the periodic check, or (``skip=False``) no
        change. ``bgr``: the frame is a camera's BGR. ``idle``: nobody is followed, so a still picture
        needs no periodic check (see the class)."""
        thumb = self.thumbnail(img, bgr)
        ref = self._ref
        if ref is None or ref.shape != thumb.shape:
            self._ref, self._full_t, self._due_t = thumb, now, now + self.check_every_s
            return True, None
        diff = cv2.absdiff(thumb, ref)
        if now >= self._due_t:
            if (idle and self.skip and int(diff.max()) * 2 < self.threshold
                    and now - self._full_t < self.check_every_s * self.STILL_PERIODS):
                self._due_t = now + self.check_every_s
                self.skipped += 1
                self.still_skipped += 1
                return False, None
            self._ref, self._full_t, self._due_t = thumb, now, now + self.check_every_s
            return True, None
        ys, xs = np.nonzero(diff >= self.threshold)
        if not len(xs):
            if self.skip:
                self.skipped += 1
                return False, None
            self._ref = thumb
            return True, None
        self._ref = thumb
        h, w = img.shape[:2]
        th, tw = thumb.shape
        m = self.margin
        x0, x1 = max(int(xs.min()) - m, 0) * w // tw, min(int(xs.max()) + 1 + m, tw) * w // tw
        y0, y1 = max(int(ys.min()) - m, 0) * h // th, min(int(ys.max()) + 1 + m, th) * h // th
        return True, Box(x0, y0, x1 - x0, y1 - y0)

    def should_detect(self, img: np.ndarray, now: float, bgr: bool = False) -> bool:
        """True when the frame changed since the last detection or the periodic check is due."""
        return self.check(img, now, bgr)[0]

    def reset(self) -> None:
        """Detect at the next chance (the tracks were dropped, e.g. after a gallery change)."""
        self._ref = None
