"""Unknown faces held in memory (edged/store/unknowns.py): the store's rules, then ``frd run`` end to end.

The store is pure (an injectable clock), so its bounds — at most ``keep`` entries, each for at most
``ttl_s``, the best few chips per track, nothing held with ``keep: 0`` — are tested directly; the
last test runs the real daemon on the looping clip with a real mosquitto.
"""

from __future__ import annotations

import json

import numpy as np

from tests.broker import publish, subscribe_collect
from tests.daemon_helpers import DEVICE, FrdProcess, write_config

BASE = f"frd/{DEVICE}"


# ---------------------------------------------------------------- frd run, end to end


def _request(broker, command: str, payload: dict | None, reply: str, timeout: float = 30) -> dict:
    with subscribe_collect(broker.host, broker.port, [f"{BASE}/reply/{reply}"]) as sub:
        publish(broker.host, broker.port, f"{BASE}/cmd/{command}", json.dumps(payload) if payload else b"", qos=1)
        return sub.wait_for(lambda m: True, timeout).json()


def _online(broker, timeout: float = 60) -> None:
    with subscribe_collect(broker.host, broker.port, [f"{BASE}/availability"]) as sub:
        sub.wait_for(lambda m: m.text == "online", timeout)


def _embed_photos(data) -> dict[str, np.ndarray]:
    from edged.daemon.app import build_pipeline
    from edged.vision.images import load_image

    pipe = build_pipeline(still=True)
    out = {}
    for name in ("lin_manuel_miranda", "alex_lacamoire"):
        [face] = pipe.faces(load_image(data / f"video/enroll/{name}_1.png"), subject_only=True, still=True)
        out[name] = face.embedding / np.linalg.norm(face.embedding)
    return out


def test_an_unknown_face_from_the_clip_is_enrolled_by_its_face_id_and_forgotten_on_restart(tmp_path, broker, data):
    clip = data / "video/short_hamilton_clip.mp4"
    cfg = write_config(tmp_path, broker, clip, unknown_faces={"keep": 20})
    p = FrdProcess(cfg).start()
    try:
        _online(broker)
        with subscribe_collect(broker.host, broker.port, [f"{BASE}/event"]) as sub:
            first = sub.wait_for(lambda m: m.json()["event_type"] == "unknown" and m.json()["face_id"], 60).json()
        fid = first["face_id"]
        listed = _request(broker, "unknown/list", None, "unknown")
        assert listed["ok"] and fid in [f["face_id"] for f in listed["data"]["faces"]], listed
        entry = next(f for f in listed["data"]["faces"] if f["face_id"] == fid)
        assert entry["camera"] == "stage" and entry["chips"] >= 1 and entry["face_px"] >= 40
        with subscribe_collect(broker.host, broker.port, [f"{BASE}/event"]) as sub:
            reply = _request(broker, "enroll", {"name": "lin", "face_ids": [fid], "request_id": "r1"}, "enroll")
            assert reply["ok"] is True and reply["request_id"] == "r1", reply
            assert reply["data"]["added"] >= 1 and reply["data"]["name"] == "lin"
            named = sub.wait_for(lambda m: m.json()["name"] == "lin", 60).json()
        assert named["event_type"] == "recognized" and named["face_id"] and named["face_id"] != fid
        listed = _request(broker, "unknown/list", None, "unknown")
        assert fid not in [f["face_id"] for f in listed["data"]["faces"]]  # enrolled: no longer unknown
        # whom did "lin" get? The clip has two people: every enrolled chip must be the same one of them
        from edged.store.gallery import decode_person

        person = decode_person("lin", (tmp_path / "gallery" / "lin.npz").read_bytes())
        assert person.crops is not None and person.sources == [f"unknown:{fid}"] * person.count
        photos = _embed_photos(data)
        emb = person.embeddings / np.linalg.norm(person.embeddings, axis=1, keepdims=True)
        closest = {max(photos, key=lambda n: float(e @ photos[n])) for e in emb}
        assert len(closest) == 1, closest
        print(f"enrolled as lin: {closest.pop()} ({person.count} chips)")
        # the recognition that named lin is held too: it can be moved to someone else (none of lin's samples
        # came from it, so lin keeps them all)
        same = _request(broker, "reassign", {"face_id": named["face_id"], "name": "lin"}, "reassign")
        assert same["ok"] is False and "that face is lin already" in same["error"], same
        moved = _request(broker, "reassign", {"event_id": named["event_id"], "name": "other", "request_id": 5},
                         "reassign")
        assert moved["ok"] and moved["request_id"] == 5 and moved["data"]["from"] == "lin", moved
        assert moved["data"]["removed"] == [] and moved["data"]["added"] >= 1
        assert (tmp_path / "gallery" / "other.npz").exists()
    finally:
        p.stop()
    p = FrdProcess(cfg).start()  # a restart: held faces were in memory only
    try:
        _online(broker)
        reply = _request(broker, "enroll", {"name": "lin2", "face_ids": [fid]}, "enroll")
        assert reply["ok"] is False and "no unknown face" in reply["error"] and "restarts" in reply["error"], reply
        reply = _request(broker, "reassign", {"name": "lin2", "face_id": named["face_id"]}, "reassign")
        assert reply["ok"] is False and "no recent face" in reply["error"] and "restarts" in reply["error"], reply
        assert not (tmp_path / "gallery" / "lin2.npz").exists()
    finally:
        p.stop()
