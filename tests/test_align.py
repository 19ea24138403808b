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

from edged.vision.align import CHIP_MARGIN, CHIP_SIZE, LANDMARK_BOX, cut, landmark_box
from edged.vision.images import load_image


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


def test_the_box_follows_the_landmarks_whatever_their_scale_and_place():
    pts = np.array([[120.0, 100], [105, 100], [60, 100], [75, 100], [90, 130]])  # dlib's 5: eyes' corners, nose
    x, y, w, h = landmark_box(pts)
    c = pts.mean(axis=0)
    spread = np.sqrt(((pts - c) ** 2).sum(axis=1).mean())
    assert (w, h) == (LANDMARK_BOX["w"] * spread, LANDMARK_BOX["h"] * spread)
    assert h > w and y < pts[:, 1].min() < pts[:, 1].max() < y + h and x < pts[:, 0].min()
    # twice as large and moved: the same box, twice as large and moved (the chip does not depend on either)
    x2, y2, w2, h2 = landmark_box(2 * pts + (30, -7))
    assert np.allclose((x2, y2, w2, h2), (2 * x + 30, 2 * y - 7, 2 * w, 2 * h))


def test_a_photo_and_the_same_photo_in_a_video_frame_embed_alike(data, still_pipeline, video_pipeline):
    """The still path and the tracker (detected, then followed) cut the same face the same way."""
    from edged.config import RecognitionConfig
    from edged.daemon.app import build_tracker

    rgb = load_image(data / "video/enroll/lin_manuel_miranda_1.png")
    photo = still_pipeline.faces(rgb, subject_only=True, still=True)[0]
    h, w = rgb.shape[:2]
    frame = np.full((int(h * 1.6), int(w * 1.6), 3), 90, np.uint8)  # the photo, 1.3 times larger, in a frame
    big = cv2.resize(rgb, (int(w * 1.3), int(h * 1.3)), interpolation=cv2.INTER_LINEAR)
    frame[20:20 + big.shape[0], 30:30 + big.shape[1]] = big
    bgr = np.ascontiguousarray(frame[..., ::-1])
    tracker = build_tracker(video_pipeline, RecognitionConfig())
    tracker.motion = None
    seen = []
    for shift in (0, 2, 4):  # detected on the first frame, followed on the next two
        moved = np.ascontiguousarray(np.roll(bgr, shift, axis=1))
        faces = [t.face for t in tracker.process(moved, force_embed=True, bgr=True) if t.face is not None]
        assert faces
        seen.append(max(faces, key=lambda f: f.box.area))
    assert tracker.tracks and all(t.detected == 0 for t in tracker.tracks)  # frames 1 and 2 were followed
    cosines = [float(photo.embedding @ f.embedding) for f in seen]
    print("photo vs frames:", [round(c, 4) for c in cosines])
    assert min(cosines) > 0.995  # YuNet's own box instead: 0.980 on average over 150 LFW photos


def test_a_box_beside_the_image_still_gives_a_chip_of_its_edge_pixels():
    image = np.full((100, 100, 3), 77, np.uint8)
    for rect in ((95.0, -400.0, 500.0, 600.0), (300.0, 300.0, 500.0, 600.0)):  # a sliver inside; none
        chip = cut(image, rect)  # both large enough to be reduced first
        assert chip.shape == (CHIP_SIZE, CHIP_SIZE, 3) and (chip == 77).all()
