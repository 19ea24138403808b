"""frd's state payloads, as pure functions that return messages.

Beside :mod:`edged.integrations.discovery` (whose templates read these shapes): nothing here
talks to MQTT or reads a clock, so the shapes are golden-tested
(tests/golden/payloads.json) and written in one place. The event payload
itself is ``Event.payload()``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.models import Message
from ..core.topics import Topics

if TYPE_CHECKING:
    from ..core.models import Event

#: QoS of every state message (retained or not).
STATE_QOS = 1
#: The values Home Assistant's entities read (the discovery configs name them): a person seen, no longer
#: seen, and a camera's last face when it was nobody enrolled.
PERSON_ON = "on"
PERSON_OFF = "off"
UNKNOWN_PERSON = "unknown"


def _json(body: Mapping[str, Any]) -> str:
    return json.dumps(body)


def camera_state_body(ev: Event, score: float) -> dict[str, Any]:
    """Who ``ev.camera`` saw last (``person`` is never empty: Home Assistant's sensor state)."""
    return {"camera": ev.camera, "person": ev.name or UNKNOWN_PERSON, "name": ev.name, "score": score,
            "ts": ev.ts, "event_id": ev.event_id}


def cleared_camera_state_body(camera: str) -> dict[str, Any]:
    """The camera state once the person it named is gone (deleted): the same keys, all empty."""
    return {"camera": camera, "person": None, "name": None, "score": None, "ts": None, "event_id": None}


def person_state_body(ev: Event, score: float) -> dict[str, Any]:
    """One sighting of an enrolled person (Home Assistant's presence sensor turns itself off later)."""
    return {"state": PERSON_ON, "person": ev.name, "camera": ev.camera, "score": score, "ts": ev.ts}


def camera_state(topics: Topics, ev: Event, score: float) -> Message:
    """Retained, so Home Assistant (re)starting shows the last person at once."""
    return Message(topics.state_camera(ev.camera), _json(camera_state_body(ev, score)), retain=True, qos=STATE_QOS)


def cleared_camera_state(topics: Topics, camera: str) -> Message:
    return Message(topics.state_camera(camera), _json(cleared_camera_state_body(camera)), retain=True,
                   qos=STATE_QOS)


def person_state(topics: Topics, ev: Event, score: float) -> Message:
    """Not retained: a sighting is news, not state (an old "on" must not come back on a restart)."""
    return Message(topics.state_person(ev.name or ""), _json(person_state_body(ev, score)), retain=False,
                   qos=STATE_QOS)


def cleared_person_state(topics: Topics, name: str) -> Message:
    """Empties a retained person state (older versions retained it): no trace of a deleted name."""
    return Message(topics.state_person(name), "", retain=True, qos=STATE_QOS)


#: JPEG quality of a face image: a 112..160 px chip is a few kB at this quality.
FACE_JPEG_QUALITY = 90


def face_image(topics: Topics, camera: str, chip: np.ndarray) -> Message:
    """The aligned chip (RGB) as JPEG for Home Assistant's image entity: never the frame.

    Not retained: a face is biometric data, and the broker should not keep it for whoever subscribes next.
    """
    import cv2  # here, not at the top: the state payloads stay importable without OpenCV

    bgr = cv2.cvtColor(np.ascontiguousarray(chip), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, FACE_JPEG_QUALITY])
    if not ok:
        raise ValueError(f"could not encode a {chip.shape} chip as JPEG")
    return Message(topics.face_image(camera), buf.tobytes(), retain=False, qos=STATE_QOS)


def cleared_face_image(topics: Topics, camera: str) -> Message:
    """Blanks a shown face (its person was deleted); retained and empty, so the broker keeps none either."""
    return Message(topics.face_image(camera), b"", retain=True, qos=STATE_QOS)


def snapshot(topics: Topics, camera: str, jpeg: bytes) -> Message:
    """A look through ``camera`` (edged/vision/snapshot.py's JPEG), for whoever asked and is subscribed now.

    Not retained: it shows everyone in view, and the broker must not keep it for whoever subscribes next."""
    return Message(topics.snapshot(camera), jpeg, retain=False, qos=STATE_QOS)


def last_seen_body(ev: Event) -> dict[str, Any]:
    """Where and when a person was last seen: a name, a camera and a time (no biometrics)."""
    return {"person": ev.name, "camera": ev.camera, "ts": ev.ts}


def last_seen(topics: Topics, ev: Event) -> Message:
    """Retained, so Home Assistant's "last seen" survives restarts of either side."""
    return Message(topics.last_seen(ev.name or ""), _json(last_seen_body(ev)), retain=True, qos=STATE_QOS)


def cleared_last_seen(topics: Topics, name: str) -> Message:
    """A deleted (or renamed-away) person's last sighting leaves the broker."""
    return Message(topics.last_seen(name), "", retain=True, qos=STATE_QOS)


def faces_now_body(camera: str, faces: int) -> dict[str, Any]:
    return {"camera": camera, "faces": faces}


def faces_now(topics: Topics, camera: str, faces: int) -> Message:
    """How many faces ``camera`` follows now; retained, re-published by a restarted daemon's first frame."""
    return Message(topics.faces_now(camera), _json(faces_now_body(camera, faces)), retain=True, qos=STATE_QOS)


def event(topics: Topics, ev: Event, device: str, model: str) -> tuple[Message, dict[str, Any]]:
    """The event message and its body (the state payloads reuse the body's rounded score)."""
    body = ev.payload(device, model)
    return Message(topics.event, _json(body), retain=False, qos=STATE_QOS), body


def camera_status(*, state: str, error: str | None, fps: float, frames: int, dropped_frames: int,
                  reconnects: int) -> dict[str, Any]:
    """One camera's part of the status payload."""
    return {"state": state, "error": error, "fps": round(fps, 2), "frames": frames,
            "dropped_frames": dropped_frames, "reconnects": reconnects, "connected": state == "streaming"}


def status_body(*, version: str, device: str, model: str, model_sha256: str, cameras: Mapping[str, dict],
                gallery_size: int, events: int, uptime_s: float, broker_connected: bool, offline_queue: int,
                offline_dropped: int, dropped_messages: int, refused_retained: int, malformed_messages: int,
                quarantined: int, errors: list[str], dropped_replies: int = 0, client_id_taken: int = 0,
                gallery_read_only: bool = False) -> dict[str, Any]:
    """The ``status`` command's answer and the retained ``<base>/status`` (Home Assistant's diagnostics)."""
    return {
        "version": version,
        "device": device,
        "fps": round(sum(c["fps"] for c in cameras.values()), 2),
        "dropped_frames": sum(c["dropped_frames"] for c in cameras.values()),
        "gallery_size": gallery_size,
        "model": model,
        "model_sha256": model_sha256,
        "events": events,
        "uptime_s": round(uptime_s),
        "broker": "connected" if broker_connected else "disconnected",
        "offline_queue": offline_queue,
        "offline_dropped": offline_dropped,
        "dropped_messages": dropped_messages,
        "refused_retained": refused_retained,
        "malformed_messages": malformed_messages,
        "dropped_replies": dropped_replies,
        "client_id_taken": client_id_taken,
        "quarantined": quarantined,
        "gallery_read_only": gallery_read_only,
        "errors": errors,
        "cameras": dict(cameras),
    }


def status(topics: Topics, body: Mapping[str, Any]) -> Message:
    return Message(topics.status, _json(body), retain=True, qos=STATE_QOS)


def status_summary(body: Mapping[str, Any]) -> str:
    """The one line systemd shows (``STATUS=``): rate, people, broker, each camera, then any error."""
    cams = ", ".join(f"{n} {c['state']}" for n, c in body["cameras"].items())
    errors = f"; ERROR: {'; '.join(body['errors'])}" if body["errors"] else ""
    return f"{body['fps']:.1f} fps, {body['gallery_size']} people, broker {body['broker']}, {cams}{errors}"
