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

from edged.vision.align import LANDMARK_BOX, landmark_box
from edged.vision.images import load_image


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
