"""The embedder's chip: the face box placed by the five landmarks, plus a margin, squashed to 160×160
(edged/vision/align.py).

FaceNet was trained on faces cut this way (MTCNN's box + margin, resized without keeping the aspect).
The box is placed by dlib's landmarks rather than taken from the detector, so the chip of a face does
not change with its size in the picture nor with the detector: a photo and the same photo in a video
frame must give the same embedding, or every frame of a video would be a new draw for strangers.
"""

from __future__ import annotations

import cv2
import numpy as np

from edged.vision.align import CHIP_MARGIN, CHIP_SIZE, cut


def test_the_chip_is_the_box_plus_its_margin_resized_without_keeping_the_aspect():
    rng = np.random.default_rng(3)
    image = cv2.GaussianBlur(rng.integers(0, 256, (300, 400, 3), np.uint8), (0, 0), 2)  # interpolation-friendly
    x, y, w, h = 150.0, 80.0, 100.0, 132.0
    pad = CHIP_MARGIN * w
    chip = cut(image, (x, y, w, h))
    assert chip.shape == (CHIP_SIZE, CHIP_SIZE, 3)
    expected = cv2.resize(image[round(y - pad):round(y + h + pad), round(x - pad):round(x + w + pad)],
                          (CHIP_SIZE, CHIP_SIZE), interpolation=cv2.INTER_LINEAR)
    assert np.abs(chip.astype(int) - expected).mean() < 1.0
    # a taller box is squashed, not cropped: the same width, twice the height, the same chip size
    tall = cut(image, (x, y - 66, w, 2 * h))
    assert tall.shape == chip.shape and np.abs(tall.astype(int) - chip).mean() > 2


def test_a_large_face_is_reduced_by_whole_blocks_before_it_is_resampled():
    """A 1080p close-up (a face of 500 px) must not alias: the chip matches an area-averaged reduction."""
    rng = np.random.default_rng(5)
    fine = rng.integers(0, 256, (900, 900, 3), np.uint8)  # pixel noise: aliasing would keep it, averaging not
    chip = cut(fine, (150.0, 100.0, 500.0, 660.0))
    area = cv2.resize(fine[50:810, 100:700], (CHIP_SIZE, CHIP_SIZE), interpolation=cv2.INTER_AREA)
    assert chip.std() < 0.3 * fine.std()
    assert abs(float(chip.std()) - float(area.std())) < 0.5 * float(area.std())


def test_a_box_beside_the_image_still_gives_a_chip_of_its_edge_pixels():
    image = np.full((100, 100, 3), 77, np.uint8)
    for rect in ((95.0, -400.0, 500.0, 600.0), (300.0, 300.0, 500.0, 600.0)):  # a sliver inside; none
        chip = cut(image, rect)  # both large enough to be reduced first
        assert chip.shape == (CHIP_SIZE, CHIP_SIZE, 3) and (chip == 77).all()
