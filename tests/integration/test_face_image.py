"""``homeassistant.face_image``, last seen and faces now, driven in-process (tests/fakebus.py, the real model).

The face image is biometric: off by default (nothing published), never retained, blanked when the
person it shows is deleted.
"""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest

from edged.vision.images import load_image
from tests.integration.test_inprocess import BASE, _rig, command, see

IMAGE = f"{BASE}/face/hall"
IMAGE_CONFIG = "homeassistant/image/frd_hall/camera_hall_face/config"


@pytest.fixture
def photo(data):
    return data / "people/obama/obama_1.jpg"


@pytest.fixture
def face_rig(tmp_path, video_pipeline):
    yield _rig(tmp_path, video_pipeline, "homeassistant: {face_image: true}\n")
    video_pipeline.matcher.set_gallery({})


@pytest.fixture
def plain_rig(tmp_path, video_pipeline):
    yield _rig(tmp_path, video_pipeline)
    video_pipeline.matcher.set_gallery({})


def _jpeg(payload: bytes) -> np.ndarray:
    assert isinstance(payload, bytes) and payload[:2] == b"\xff\xd8", payload[:8]
    img = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


def test_off_by_default_no_image_topic_no_image_entity(plain_rig, photo):
    daemon, bus = plain_rig
    assert daemon.face_image is False and not any(w.keep_chips for w in daemon.workers.values())
    see(daemon, load_image(photo))
    assert bus.on(f"{BASE}/event"), "the face was announced"
    assert not [m for m in bus.published if "/face/" in m.topic]
    assert IMAGE_CONFIG not in bus.retained
    assert daemon.workers["hall"]._chips == {}  # no chip is held for it either


def test_an_announced_face_is_shown_as_its_chip_and_delete_blanks_it(face_rig, photo, video_pipeline):
    daemon, bus = face_rig
    config = json.loads(bus.retained[IMAGE_CONFIG])
    assert config["image_topic"] == IMAGE and config["content_type"] == "image/jpeg"
    assert command(daemon, bus, f"{BASE}/cmd/enroll/obama", photo.read_bytes())["ok"]
    see(daemon, load_image(photo))
    events = [json.loads(m.payload) for m in bus.on(f"{BASE}/event")]
    assert [e["name"] for e in events] == ["obama"] and "chip" not in events[0]
    shown = bus.on(IMAGE)
    assert len(shown) == 1 and shown[0].retain is False  # biometric: the broker keeps no copy
    size = video_pipeline.aligner.size
    img = _jpeg(shown[0].payload)
    assert img.shape == (size, size, 3), (img.shape, size)  # the aligned chip, not the frame
    assert IMAGE not in bus.retained
    # last seen: retained (name, camera, time); survives a restart of Home Assistant
    seen = json.loads(bus.retained[f"{BASE}/state/last_seen/obama"])
    assert seen == {"person": "obama", "camera": "hall", "ts": events[0]["ts"]}
    bus.clear()
    assert command(daemon, bus, f"{BASE}/cmd/delete/obama", b"")["ok"]
    assert [(m.payload, m.retain) for m in bus.on(IMAGE)] == [(b"", True)]  # their face is shown no more
    assert [(m.payload, m.retain) for m in bus.on(f"{BASE}/state/last_seen/obama")] == [("", True)]
    assert "homeassistant/sensor/frd_hall/person_obama_last_seen/config" not in bus.retained


def test_a_strangers_face_is_shown_and_not_blanked_by_another_persons_delete(face_rig, photo, data):
    daemon, bus = face_rig
    assert command(daemon, bus, f"{BASE}/cmd/enroll/biden", (data / "people/biden/biden_1.jpg").read_bytes())["ok"]
    see(daemon, load_image(photo))
    assert [json.loads(m.payload)["name"] for m in bus.on(f"{BASE}/event")] == [None]
    assert len(bus.on(IMAGE)) == 1
    _jpeg(bus.on(IMAGE)[0].payload)
    bus.clear()
    assert command(daemon, bus, f"{BASE}/cmd/delete/biden", b"")["ok"]
    assert bus.on(IMAGE) == []


@pytest.mark.parametrize("how", ["forget", "ignore"])
def test_a_shown_face_forgotten_or_ignored_is_blanked(tmp_path, video_pipeline, photo, how):
    daemon, bus = _rig(tmp_path, video_pipeline, "homeassistant: {face_image: true}\nunknown_faces: {keep: 5}\n",
                       ", unknown_cooldown_s: 0")
    try:
        see(daemon, load_image(photo))
        [event] = [json.loads(m.payload) for m in bus.on(f"{BASE}/event")]
        assert event["face_id"] and len(bus.on(IMAGE)) == 1
        bus.clear()
        other = command(daemon, bus, f"{BASE}/cmd/unknown/forget", json.dumps({"face_id": "0" * 12}))
        assert other["ok"] is False and bus.on(IMAGE) == []  # nothing forgotten: nothing blanked
        if how == "forget":
            reply = command(daemon, bus, f"{BASE}/cmd/unknown/forget", json.dumps({"face_id": event["face_id"]}))
        else:
            reply = command(daemon, bus, f"{BASE}/cmd/ignore", json.dumps({"face_id": event["face_id"]}))
        assert reply["ok"], reply
        assert [(m.payload, m.retain) for m in bus.on(IMAGE)] == [(b"", True)]  # shown no more
        bus.clear()
        assert command(daemon, bus, f"{BASE}/cmd/unknown/forget", json.dumps({"all": True}))["ok"]
        assert bus.on(IMAGE) == []  # blanked once
    finally:
        video_pipeline.matcher.set_gallery({})


def test_faces_now_on_change_at_most_once_a_second(plain_rig, photo):
    daemon, bus = plain_rig
    rgb = load_image(photo)
    blank = np.zeros_like(rgb)
    topic = f"{BASE}/state/faces/hall"
    see(daemon, blank, frames=1)
    see(daemon, rgb, start=1, frames=4)  # the face appears: a change, but inside the second after the 0
    counts = [json.loads(m.payload)["faces"] for m in bus.on(topic)]
    assert counts[0] == 0 and counts[-1] == 1, counts
    n = len(counts)
    see(daemon, rgb, start=5, frames=20)  # no change: nothing more
    assert len(bus.on(topic)) == n
    assert all(m.retain for m in bus.on(topic))
    bus.clear()
    for i in range(30):  # flickering every frame, all within a fraction of a second: at most one publication
        daemon._process("hall", rgb if i % 2 else blank, 100 + i, 100.0)
    assert len(bus.on(topic)) == 1  # the first change (the last count was published long before)


# ---------------------------------------------------------------- frd run, a real broker


def test_frd_run_shows_the_clips_face_on_the_image_topic(tmp_path, broker, data):
    """The looping clip, an empty gallery: the unknown face's chip arrives as a JPEG, not retained."""
    from edged.vision.align import CHIP_SIZE
    from tests.broker import subscribe_collect
    from tests.daemon_helpers import DEVICE, FrdProcess, write_config

    base = f"frd/{DEVICE}"
    cfg = write_config(tmp_path, broker, data / "video/short_hamilton_clip.mp4",
                       homeassistant={"face_image": True})
    topics = [f"{base}/face/stage", f"{base}/event", f"homeassistant/image/frd_{DEVICE}/+/config",
              f"{base}/state/faces/stage"]
    with subscribe_collect(broker.host, broker.port, topics) as sub:
        p = FrdProcess(cfg).start()
        try:
            config = sub.wait_for(lambda m: m.topic.startswith("homeassistant/image/"), 60).json()
            assert config["image_topic"] == f"{base}/face/stage" and config["content_type"] == "image/jpeg"
            event = sub.wait_for(lambda m: m.topic == f"{base}/event", 60).json()
            image = sub.wait_for(lambda m: m.topic == f"{base}/face/stage", 10)
            faces = sub.wait_for(lambda m: m.topic == f"{base}/state/faces/stage" and m.json()["faces"] > 0, 10)
        finally:
            p.stop()
    assert event["event_type"] == "unknown" and event["camera"] == "stage"
    assert faces.json() == {"camera": "stage", "faces": faces.json()["faces"]}
    assert _jpeg(image.payload).shape == (CHIP_SIZE, CHIP_SIZE, 3)  # the aligned chip, not the 1280x720 frame
    # nothing biometric stays on the broker: a fresh subscriber gets the retained count but no face image
    with subscribe_collect(broker.host, broker.port, [f"{base}/face/stage", f"{base}/state/faces/stage"]) as late:
        time.sleep(1.0)
        assert [m.topic for m in late.messages] == [f"{base}/state/faces/stage"]
