"""State payloads (edged/mqtt/payloads.py): golden files, and every key the discovery templates read.

Regenerate the golden file after an intended change with
``FRD_UPDATE_GOLDEN=1 python -m pytest tests/unit/test_payloads.py`` and review the diff.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest

from edged.core.models import Event, Message
from edged.core.topics import Topics
from edged.mqtt import payloads

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CONTRACT = json.loads((GOLDEN / "state_examples.json").read_text(encoding="utf-8"))


@pytest.fixture
def topics() -> Topics:
    return Topics("frd", "door", "homeassistant")


def _event(name: str | None, face_id: str | None = None) -> Event:
    return Event("3f2a0c1e9b8d4f6a8c7b6a5d4e3f2a1b", "2025-01-01T12:00:00.000Z", "front", name, 0.812345,
                 [10, 20, 110, 140], 120, 42, 1234.5, "2025-01-01T11:59:59.900Z", track=7, face_id=face_id)


def _status() -> dict:
    cams = {"front": payloads.camera_status(state="streaming", error=None, fps=4.8971, frames=1000,
                                            dropped_frames=12, reconnects=1),
            "garden": payloads.camera_status(state="reconnecting", error="rtsp://garden: connection refused",
                                             fps=0.0, frames=3, dropped_frames=0, reconnects=4)}
    return payloads.status_body(version="1.2.3", device="door", model="facenet_int8@0123456789ab",
                                model_sha256="0123456789abcdef" * 4, cameras=cams, gallery_size=3, events=7,
                                uptime_s=3600.4, broker_connected=True, offline_queue=0, offline_dropped=2,
                                dropped_messages=1, refused_retained=0, malformed_messages=0, quarantined=0,
                                errors=["nonce file not saved"], dropped_replies=5, client_id_taken=2,
                                gallery_read_only=True)


def _messages(topics: Topics) -> list[Message]:
    known, unknown = _event("alice"), _event(None)
    event_msg, body = payloads.event(topics, known, "door", "facenet_int8@0123456789ab")
    held, _ = payloads.event(topics, _event(None, face_id="a1b2c3d4e5f6"), "door", "facenet_int8@0123456789ab")
    return [
        event_msg,
        held,  # an unknown face held in memory (unknown_faces.keep): its face_id names it in cmd/enroll
        payloads.camera_state(topics, known, body["score"]),
        payloads.camera_state(topics, unknown, body["score"]),
        payloads.cleared_camera_state(topics, "front"),
        payloads.person_state(topics, known, body["score"]),
        payloads.cleared_person_state(topics, "alice"),
        payloads.last_seen(topics, known),
        payloads.cleared_last_seen(topics, "alice"),
        payloads.faces_now(topics, "front", 2),
        payloads.cleared_face_image(topics, "front"),
        payloads.status(topics, _status()),
    ]


def test_golden_payloads(topics: Topics) -> None:
    got = [{"topic": m.topic, "retain": m.retain, "qos": m.qos, "payload": json.loads(m.payload) if m.payload else ""}
           for m in _messages(topics)]
    path = GOLDEN / "payloads.json"
    if os.environ.get("FRD_UPDATE_GOLDEN"):
        path.write_text(json.dumps(got, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    assert path.exists(), f"{path} missing: run with FRD_UPDATE_GOLDEN=1 and review it"
    assert got == json.loads(path.read_text(encoding="utf-8"))


def test_payloads_carry_every_contract_key(topics: Topics) -> None:
    """The hand-written contract (state_examples.json, read by the discovery templates) holds for the code."""
    ev = _event("alice")
    assert set(CONTRACT["camera_state"]) <= set(payloads.camera_state_body(ev, 0.8))
    assert set(CONTRACT["person_state"]) <= set(payloads.person_state_body(ev, 0.8))
    assert set(CONTRACT["last_seen"]) <= set(payloads.last_seen_body(ev))
    st = _status()
    assert set(CONTRACT["status"]) <= set(st)
    assert set(CONTRACT["status"]["cameras"]["front"]) <= set(st["cameras"]["front"])
    assert set(CONTRACT["events"][0]) <= set(ev.payload("door", "m")) | {"frame_ts"}
    assert "frame_ts" in ev.payload("door", "m")
    assert ev.payload("door", "m")["face_id"] is None  # only a held face (unknown_faces.keep) has one
    assert "track" not in ev.payload("door", "m")  # tracker ids are per process


def test_the_chip_never_enters_the_event_payload() -> None:
    ev = dataclasses.replace(_event(None), chip=np.zeros((112, 112, 3), np.uint8))
    assert "chip" not in ev.payload("door", "m") and "chip" not in repr(ev)
    assert json.dumps(ev.payload("door", "m"))  # still plain JSON


def test_face_image_is_the_chip_as_jpeg_not_retained(topics: Topics) -> None:
    import cv2

    rng = np.random.default_rng(1)
    chip = (rng.random((112, 96, 3)) * 255).astype(np.uint8)
    chip[:, :48] = (200, 30, 30)  # a red left half: the colour order survives the RGB -> BGR -> JPEG trip
    m = payloads.face_image(topics, "front", chip)
    assert m.topic == "frd/door/face/front" and m.retain is False and m.qos == 1
    assert isinstance(m.payload, bytes) and m.payload[:2] == b"\xff\xd8"  # JPEG magic
    back = cv2.imdecode(np.frombuffer(m.payload, np.uint8), cv2.IMREAD_COLOR)
    assert back.shape == (112, 96, 3)
    assert back[50, 10, 2] > 150 and back[50, 10, 0] < 80  # BGR: red high, blue low
    cleared = payloads.cleared_face_image(topics, "front")
    assert cleared.payload == b"" and cleared.retain is True


def test_unknown_face_names_nobody_but_shows_unknown(topics: Topics) -> None:
    from edged.mqtt.payloads import UNKNOWN_PERSON

    body = payloads.camera_state_body(_event(None), 0.3)
    assert body["person"] == UNKNOWN_PERSON and body["name"] is None
    cleared = payloads.cleared_camera_state_body("front")
    assert set(cleared) == set(body) and all(v is None for k, v in cleared.items() if k != "camera")


def test_summary_line() -> None:
    line = payloads.status_summary(_status())
    assert line == ("4.9 fps, 3 people, broker connected, front streaming, garden reconnecting; "
                    "ERROR: nonce file not saved")
    ok = {**_status(), "errors": []}
    assert "ERROR" not in payloads.status_summary(ok)
