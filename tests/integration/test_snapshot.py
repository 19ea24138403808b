"""A look through the camera (``snapshot.enabled``, ``cmd/snapshot``): the real ``frd run`` on the real clip, a
real mosquitto. One frame, reduced, with the followed faces and the working size drawn; published once, not
retained, never written to disk; off by default."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from edged.vision.images import load_image
from tests.broker import publish, subscribe_collect
from tests.daemon_helpers import DEVICE, FrdProcess, write_config
from tests.integration.test_inprocess import BASE as INPROCESS_BASE
from tests.integration.test_inprocess import _rig, command

BASE = f"frd/{DEVICE}"


@pytest.fixture
def clip(data):
    return data / "video/short_hamilton_clip.mp4"


def _online(broker) -> None:
    with subscribe_collect(broker.host, broker.port, [f"{BASE}/availability"]) as sub:
        sub.wait_for(lambda m: m.text == "online", 90)


def _ask(broker, topic: str, camera: str, timeout: float = 60):
    """(the reply, the snapshot messages that came with it) for one cmd/snapshot."""
    with subscribe_collect(broker.host, broker.port, [f"{BASE}/reply/snapshot", f"{BASE}/snapshot/+"]) as sub:
        publish(broker.host, broker.port, topic, b"", qos=1)
        reply = sub.wait_for(lambda m: m.topic.endswith("/reply/snapshot"), timeout).json()
        if reply["ok"]:
            sub.wait_for(lambda m: m.topic == f"{BASE}/snapshot/{camera}", 10)
        return reply, [m for m in sub.messages if "/snapshot/" in m.topic and "/reply/" not in m.topic]


def _files(folder) -> set:
    return {p for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("cameras", [1, 2], ids=["one camera", "two cameras as processes"])
def test_a_snapshot_is_one_reduced_frame_with_its_faces_drawn_not_retained_never_on_disk(tmp_path, broker, clip,
                                                                                           cameras):
    extra = {"snapshot": {"enabled": True, "max_side": 480}}
    if cameras == 2:  # each camera's tracker in a process of its own: the snapshot is drawn there
        extra["cameras"] = [{"name": n, "source": str(clip), "loop": True, "fps_limit": 5} for n in ("stage", "hall")]
    cfg = write_config(tmp_path, broker, clip, **extra)
    p = FrdProcess(cfg).start()
    try:
        _online(broker)
        before = _files(tmp_path)
        reply, shots = _ask(broker, f"{BASE}/cmd/snapshot/stage", "stage")
        assert reply["ok"], (reply, p.log_text()[-3000:])
        data = reply["data"]
        assert data["camera"] == "stage" and data["topic"] == f"{BASE}/snapshot/stage"
        assert data["frame"] == [640, 360] and data["size"] == [480, 270]
        assert data["detection"] == [640, 360] and data["named_from_px"] == 40  # YuNet's 640 px, the gate's 40 px
        (shot,) = shots
        assert shot.retain is False and len(shot.payload) == data["bytes"]
        img = cv2.imdecode(np.frombuffer(shot.payload, np.uint8), cv2.IMREAD_COLOR)
        assert img.shape == (270, 480, 3)
        # the broker keeps no copy for whoever subscribes next
        with subscribe_collect(broker.host, broker.port, [f"{BASE}/snapshot/#"]) as late:
            assert late.messages == []
        if cameras == 2:
            which, _ = _ask(broker, f"{BASE}/cmd/snapshot", "stage")
            assert not which["ok"] and "which camera?" in which["error"] and "stage, hall" in which["error"]
        nobody, _ = _ask(broker, f"{BASE}/cmd/snapshot/attic", "attic")
        assert not nobody["ok"] and "no camera named 'attic'" in nobody["error"]
        assert _files(tmp_path) - before <= {tmp_path / "frd.log"}  # nothing written but the log
    finally:
        p.stop()
    log = p.log_text()
    assert "snapshot of camera stage published" in log and "Traceback" not in log


def test_a_snapshot_shows_the_faces_the_camera_follows(tmp_path, video_pipeline, data):
    """In process (the tracker's own frames): a face the camera follows is boxed and counted."""
    daemon, _ = _rig(tmp_path, video_pipeline, "snapshot: {enabled: true}\n")
    try:
        rgb = load_image(data / "people/obama/obama_1.jpg")
        worker = daemon.workers["hall"]
        for i in range(3):  # the camera finds and follows the face
            daemon._process("hall", rgb, i, float(i))
        assert worker.faces_now == 1
        got: list = []
        asker = threading.Thread(target=lambda: got.append(worker.snapshot(640, 10)))
        asker.start()
        while worker.snapshots.wanted() is None:
            time.sleep(0.01)
        daemon._process("hall", rgb, 3, 3.0)
        asker.join(10)
        (snap,) = got
        assert snap is not None and snap.faces == 1 and snap.frame == (rgb.shape[1], rgb.shape[0])
        assert worker.snapshots.wanted() is None  # taken once
    finally:
        video_pipeline.matcher.set_gallery({})


def test_off_by_default(tmp_path, video_pipeline):
    daemon, bus = _rig(tmp_path, video_pipeline)
    try:
        reply = command(daemon, bus, f"{INPROCESS_BASE}/cmd/snapshot", b"")
        assert not reply["ok"] and "snapshots are off on this device (snapshot.enabled: false)" in reply["error"]
        assert not [m for m in bus.published if "/snapshot/" in m.topic]
        assert not [t for t in bus.retained if "snapshot" in t]  # no button, no image entity either
    finally:
        video_pipeline.matcher.set_gallery({})
