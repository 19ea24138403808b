"""A look through the camera (edged/vision/snapshot.py, edged/video/look.py): the frame reduced, the faces and the
working size drawn, the JPEG published once and not retained."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from edged.core.models import Box
from edged.core.topics import Topics
from edged.mqtt import payloads
from edged.video.look import SnapshotSlot
from edged.vision.snapshot import FOLLOWED, NAMEABLE, SnapshotFace, render


def _frame(h: int = 1080, w: int = 1920) -> np.ndarray:
    rng = np.random.default_rng(3)
    return (rng.random((h, w, 3)) * 60).astype(np.uint8)  # dark noise: the drawn colours stand out


def _decode(jpeg: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


def test_the_frame_is_reduced_and_the_faces_boxed_by_whether_they_can_be_named() -> None:
    near, far = Box(400, 300, 300, 300), Box(1500, 200, 30, 30)
    snap = render(_frame(), bgr=True, faces=[SnapshotFace(near, "alice", True), SnapshotFace(far, "too small", False)],
                  working_side=640, named_from_px=40, max_side=640)
    img = _decode(snap.jpeg)
    assert img.shape[:2] == (360, 640) and snap.size == (640, 360)
    assert snap.frame == (1920, 1080) and snap.detection == (640, 360)
    assert snap.info() == {"size": [640, 360], "frame": [1920, 1080], "detection": [640, 360], "named_from_px": 40,
                           "faces": 2, "bytes": len(snap.jpeg)}
    s = 640 / 1920
    # the near face's left edge is green, the far one's orange (BGR, give or take JPEG)
    y = round((near.y + near.h / 2) * s)
    assert np.abs(img[y, round(near.x * s)].astype(int) - NAMEABLE).max() < 60
    y = round((far.y + far.h / 2) * s)
    assert np.abs(img[y, round(far.x * s)].astype(int) - FOLLOWED).max() < 60


def test_a_small_frame_is_not_enlarged_and_an_rgb_frame_keeps_its_colours() -> None:
    rgb = np.zeros((240, 320, 3), np.uint8)
    rgb[:, 200:] = (220, 20, 20)  # red, in RGB order
    snap = render(rgb, bgr=False, faces=[], working_side=None, named_from_px=40, max_side=640)
    img = _decode(snap.jpeg)
    assert img.shape[:2] == (240, 320) and snap.detection == (320, 240)
    assert img[120, 300, 2] > 150 and img[120, 300, 0] < 80  # BGR on the wire: red high, blue low


def test_the_snapshot_is_published_once_and_not_retained() -> None:
    topics = Topics("frd", "door")
    m = payloads.snapshot(topics, "front", b"\xff\xd8jpeg")
    assert (m.topic, m.retain, m.qos, m.payload) == ("frd/door/snapshot/front", False, 1, b"\xff\xd8jpeg")
    with pytest.raises(ValueError):
        topics.snapshot("front/#")


def test_the_slot_hands_the_next_frame_to_every_asker_and_forgets_a_timed_out_ask() -> None:
    slot = SnapshotSlot()
    started: list[int] = []
    assert slot.ask(640, 0.01, on_new=started.append) is None  # no frame came
    assert started == [640] and slot.wanted() is None  # the ask timed out: nothing stays pending
    got: list = []
    askers = [threading.Thread(target=lambda: got.append(slot.ask(320, 5, on_new=started.append)))
              for _ in range(2)]
    for t in askers:
        t.start()
    while slot.wanted() is None:
        threading.Event().wait(0.01)
    snap = render(_frame(120, 160), bgr=True, faces=[], working_side=None, named_from_px=40, max_side=320)
    threading.Event().wait(0.05)  # both askers are waiting on the one request
    slot.fulfil(snap)
    for t in askers:
        t.join(5)
    assert got == [snap, snap] and started == [640, 320] and slot.wanted() is None
