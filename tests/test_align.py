"""The embedder's chip: the detector's own face box plus a margin, squashed to 160×160 (edged/align.py).

FaceNet was trained on faces cut this way (MTCNN's box + margin, resized without keeping the aspect);
frd cuts it from YuNet's box, for photos, video frames and the faces the tracker follows alike.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edged.align import CHIP_MARGIN, CHIP_SIZE, FACE_ASPECT, cut, face_rect, whole_box
from edged.detect import YUNET_TO_HOG, Box
from edged.images import load_image


def test_the_chip_is_the_box_plus_its_margin_resized_without_keeping_the_aspect():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (300, 400, 3), np.uint8)
    image = cv2.GaussianBlur(image, (0, 0), 2)  # smooth: interpolation differences stay small
    x, y, w, h = 150.0, 80.0, 100.0, 132.0
    pad = CHIP_MARGIN * w
    chip = cut(image, (x, y, w, h))
    assert chip.shape == (CHIP_SIZE, CHIP_SIZE, 3)
    x0, y0, x1, y1 = x - pad, y - pad, x + w + pad, y + h + pad  # 17 px a side, also above and below
    expected = cv2.resize(image[round(y0):round(y1), round(x0):round(x1)], (CHIP_SIZE, CHIP_SIZE),
                          interpolation=cv2.INTER_LINEAR)
    assert np.abs(chip.astype(int) - expected).mean() < 1.0
    # a taller box is squashed, not cropped: the same width, twice the height, the same chip size
    tall = cut(image, (x, y - 66, w, 2 * h))
    assert tall.shape == chip.shape and np.abs(tall.astype(int) - chip).mean() > 2


def test_a_face_crop_is_resized_whole():
    rng = np.random.default_rng(4)
    crop = cv2.GaussianBlur(rng.integers(0, 256, (112, 112, 3), np.uint8), (0, 0), 1.5)
    box = whole_box(112, 112)
    assert (box.x, box.y, box.w, box.h) == (0, 0, 112, 112)
    chip = cut(crop, face_rect(box))
    expected = cv2.resize(crop, (CHIP_SIZE, CHIP_SIZE), interpolation=cv2.INTER_LINEAR)
    assert np.abs(chip.astype(int) - expected).max() <= 1


def test_a_large_face_is_reduced_by_whole_blocks_before_it_is_resampled():
    """A 1080p close-up (a face of 600 px) must not alias: the chip matches an area-averaged reduction."""
    rng = np.random.default_rng(5)
    fine = rng.integers(0, 256, (900, 900, 3), np.uint8)  # pixel noise: aliasing would keep it, averaging not
    chip = cut(fine, (150.0, 100.0, 500.0, 660.0))
    assert chip.std() < 0.3 * fine.std()
    area = cv2.resize(fine[15:845, 65:735], (CHIP_SIZE, CHIP_SIZE), interpolation=cv2.INTER_AREA)
    assert abs(float(chip.std()) - float(area.std())) < 0.5 * float(area.std())


def test_a_square_box_without_the_detectors_own_gets_a_yunet_shaped_one():
    """HOG gives a square from brows to lip: the chip is cut from the YuNet box that maps to it."""
    m = YUNET_TO_HOG
    yx, yy, yw, yh = 100.0, 60.0, 80.0, 80.0 * FACE_ASPECT
    cx, cy, side = yx + yw / 2 + m["dx"] * yw, yy + yh / 2 + m["dy"] * yh, m["side"] * yw
    hog = Box(round(cx - side / 2), round(cy - side / 2), round(side), round(side))
    x, y, w, h = face_rect(hog)
    assert abs(w - yw) < 1 and abs(h - yh) < 1.5 and abs(x - yx) < 1 and abs(y - yy) < 1.5
    with_own = Box(hog.x, hog.y, hog.w, hog.h, cut=(1.0, 2.0, 3.0, 4.0))
    assert face_rect(with_own) == (1.0, 2.0, 3.0, 4.0)


def test_photos_and_video_cut_a_face_from_yunets_own_box(data, still_pipeline, video_pipeline):
    """The still path and the tracker cut the same face the same way, from the box YuNet gave."""
    from edged.app import build_tracker
    from edged.config import RecognitionConfig

    if still_pipeline.still_detector.name != "yunet":
        pytest.skip("the shipped calibration is HOG's")
    rgb = load_image(data / "video/enroll/lin_manuel_miranda_1.png")
    face = still_pipeline.faces(rgb, largest_only=True, still=True)[0]
    raw = still_pipeline.still_detector.last_raw
    assert face.box.cut is not None
    np.testing.assert_allclose(face.box.cut, raw[int(np.argmax(raw[:, 2] * raw[:, 3])), :4], atol=1e-3)
    np.testing.assert_array_equal(face.chip, cut(rgb, face.box.cut))
    # the same photo as two video frames: detected on the first, followed on the second; the box the chip
    # is cut from moves with the face
    tracker = build_tracker(video_pipeline, RecognitionConfig())
    tracker.motion = None
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    first = [t for t in tracker.process(bgr, force_embed=True, bgr=True) if t.face is not None]
    shifted = np.ascontiguousarray(np.roll(bgr, (3, 5), axis=(0, 1)))
    second = [t for t in tracker.process(shifted, force_embed=True, bgr=True) if t.face is not None]
    assert first and second and tracker.tracks[0].detected == 0  # followed, not detected again
    box = tracker.tracks[0].box
    assert box.cut is not None
    (dx, dy), (cx, cy) = (box.x - first[0].recognition.box.x, box.y - first[0].recognition.box.y), box.cut[:2]
    assert abs(dx - 5) <= 2 and abs(dy - 3) <= 2
    assert (cx - box.x, cy - box.y) == pytest.approx((first[0].face.box.cut[0] - first[0].recognition.box.x,
                                                      first[0].face.box.cut[1] - first[0].recognition.box.y))
    assert np.abs(second[0].face.chip.astype(int) - first[0].face.chip).mean() < 8
