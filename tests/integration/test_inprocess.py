"""The daemon driven in-process through tests/fakebus.py: the real model, a real photo, no broker.

Commands go through the same table, people service and listeners as ``frd run`` (wired by
``app.build_daemon``); frames go through the daemon's own ``_process``. Fast enough to cover the
gallery's traces in detail; the broker tests stay the proof of the MQTT side.
"""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest

from edged.config import parse_config, topics_for
from edged.daemon.app import build_daemon, open_people, shipped_space
from edged.vision.camera import CameraReader
from edged.vision.images import load_image
from tests.fakebus import FakeBus

DEVICE = "hall"
BASE = f"frd/{DEVICE}"
DISC = f"homeassistant/binary_sensor/frd_{DEVICE}"


@pytest.fixture
def photo(data):
    return data / "people/obama/obama_1.jpg"


def _rig(tmp_path, video_pipeline, extra: str = "", recognition: str = ""):
    text = (f"device_id: {DEVICE}\ncameras: [{{name: hall, source: /dev/null}}]\n"
            f"gallery: {{path: {tmp_path / 'gallery'}}}\n"
            f"recognition: {{vote_frames: 2, vote_window: 3{recognition}}}\n" + extra)
    cfg = parse_config(text, "inprocess.yaml")
    people = open_people(cfg.gallery.path, video_pipeline, keep_crops=True, cameras=["hall"])
    bus = FakeBus()
    daemon = build_daemon(cfg, pipeline=video_pipeline, people=people, bus=bus,
                          readers=[CameraReader("hall", "/dev/null", loop=False, fps_limit=None)], handler_options={})
    assert topics_for(cfg).cmd_wildcard in bus.subscriptions
    bus.start()
    return daemon, bus


@pytest.fixture
def rig(tmp_path, video_pipeline):
    """(daemon, bus): one camera, Home Assistant discovery on, a fresh gallery."""
    yield _rig(tmp_path, video_pipeline)
    # another test's gallery must not stay in the session's matcher
    video_pipeline.matcher.set_gallery({})


@pytest.fixture
def keeping_rig(tmp_path, video_pipeline):
    """The same with ``unknown_faces.keep: 20``: strangers' faces held in memory."""
    yield _rig(tmp_path, video_pipeline, "unknown_faces: {keep: 20}\n")
    video_pipeline.matcher.set_gallery({})


def command(daemon, bus: FakeBus, topic: str, payload: bytes | str) -> dict:
    """Deliver one command as the network thread would, run the command thread's loop until it is answered."""
    bus.replies.clear()
    bus.deliver(topic, payload)
    daemon._commands.put(None)  # the loop returns after the queued command
    daemon._command_loop()
    assert len(bus.replies) == 1, bus.replies
    reply_topic, body, _ = bus.replies[0]
    assert reply_topic == f"{BASE}/reply/{topic.split('/')[3]}"
    return json.loads(body)


def see(daemon, rgb, start: int = 0, frames: int = 6) -> None:
    """``frames`` frames of ``rgb`` on the camera, numbered (and timed, one a second) from ``start``."""
    for i in range(start, start + frames):
        daemon._process("hall", rgb, i, float(i))


def test_enroll_by_command_publishes_discovery_then_the_camera_names_the_person(rig, photo):
    daemon, bus = rig
    assert f"{DISC}/person_obama/config" not in bus.retained
    reply = command(daemon, bus, f"{BASE}/cmd/enroll/obama", photo.read_bytes())
    assert reply["ok"] is True and reply["data"]["added"] == 1, reply
    config = json.loads(bus.retained[f"{DISC}/person_obama/config"])
    assert config["state_topic"] == f"{BASE}/state/person/obama"
    see(daemon, load_image(photo))
    events = [json.loads(m.payload) for m in bus.on(f"{BASE}/event")]
    assert [e["name"] for e in events] == ["obama"], events
    assert json.loads(bus.retained[f"{BASE}/state/camera/hall"])["person"] == "obama"
    person = [json.loads(m.payload) for m in bus.on(f"{BASE}/state/person/obama")]
    assert person and person[0]["state"] == "on" and person[0]["camera"] == "hall"
    status = command(daemon, bus, f"{BASE}/cmd/status", b"")
    assert status["data"]["gallery_size"] == 1 and status["data"]["events"] == 1


def test_delete_by_command_clears_every_trace(rig, photo, tmp_path):
    daemon, bus = rig
    assert command(daemon, bus, f"{BASE}/cmd/enroll/obama", photo.read_bytes())["ok"]
    see(daemon, load_image(photo))
    assert json.loads(bus.retained[f"{BASE}/state/camera/hall"])["name"] == "obama"
    bus.clear()
    reply = command(daemon, bus, f"{BASE}/cmd/delete/obama", b"")
    assert reply == {"request_id": None, "ok": True, "error": None, "data": {"deleted": "obama"}}
    assert f"{DISC}/person_obama/config" not in bus.retained
    assert [m.payload for m in bus.on(f"{DISC}/person_obama/config")] == [""]
    cleared = json.loads(bus.retained[f"{BASE}/state/camera/hall"])
    assert cleared == {"camera": "hall", "person": None, "name": None, "score": None, "ts": None, "event_id": None}
    assert [(m.payload, m.retain) for m in bus.on(f"{BASE}/state/person/obama")] == [("", True)]
    assert not list((tmp_path / "gallery").glob("obama*"))
    see(daemon, load_image(photo), start=100)  # the same face again: unknown now
    assert [json.loads(m.payload)["name"] for m in bus.on(f"{BASE}/event")] == [None]


def test_rename_by_command_moves_the_entity(rig, photo):
    daemon, bus = rig
    assert command(daemon, bus, f"{BASE}/cmd/enroll/obama", photo.read_bytes())["ok"]
    bus.clear()
    reply = command(daemon, bus, f"{BASE}/cmd/rename", json.dumps({"request_id": "r", "name": "obama",
                                                                     "new_name": "barack"}))
    assert reply["ok"] and reply["data"] == {"renamed": "obama", "to": "barack"}
    order = [m.topic for m in bus.published if m.topic.startswith(DISC)]
    assert order == [f"{DISC}/person_obama/config", f"{DISC}/person_barack/config"]
    assert f"{DISC}/person_obama/config" not in bus.retained and f"{DISC}/person_barack/config" in bus.retained
    assert command(daemon, bus, f"{BASE}/cmd/list", b"")["data"]["people"][0]["name"] == "barack"
    see(daemon, load_image(photo))
    assert [json.loads(m.payload)["name"] for m in bus.on(f"{BASE}/event")] == ["barack"]


def test_refused_command_changes_nothing_and_is_answered(rig, photo):
    daemon, bus = rig
    bus.clear()
    reply = command(daemon, bus, f"{BASE}/cmd/enroll", json.dumps({"name": "obama", "colour": "blue"}))
    assert reply["ok"] is False and "unknown field(s) 'colour'" in reply["error"]
    assert command(daemon, bus, f"{BASE}/cmd/frobnicate", b"{}")["error"].startswith("unknown command")
    assert not [m for m in bus.published if m.topic.startswith(DISC)]
    assert command(daemon, bus, f"{BASE}/cmd/list", b"")["data"] == {"people": []}


def test_keep_zero_holds_no_chip_and_unknown_events_have_no_face_id(rig, photo):
    daemon, bus = rig
    see(daemon, load_image(photo))
    events = [json.loads(m.payload) for m in bus.on(f"{BASE}/event")]
    assert [(e["event_type"], e["face_id"]) for e in events] == [("unknown", None)]
    assert all(w.unknowns is None for w in daemon.workers.values())  # nothing to hold a chip in
    listed = command(daemon, bus, f"{BASE}/cmd/unknown/list", b"")
    assert listed["ok"] and listed["data"] == {"keep": 0, "faces": []}
    reply = command(daemon, bus, f"{BASE}/cmd/enroll", json.dumps({"name": "obama", "face_ids": ["a1b2c3d4e5f6"]}))
    assert reply["ok"] is False and "unknown_faces.keep is 0" in reply["error"]
    assert command(daemon, bus, f"{BASE}/cmd/list", b"")["data"] == {"people": []}


def test_a_held_unknown_face_is_enrolled_by_its_face_id_then_named(keeping_rig, photo, tmp_path):
    daemon, bus = keeping_rig
    see(daemon, load_image(photo))
    [event] = [json.loads(m.payload) for m in bus.on(f"{BASE}/event")]
    assert event["event_type"] == "unknown" and event["face_id"]
    assert 1 <= daemon.workers["hall"].unknowns.chips_held() <= 5
    listed = command(daemon, bus, f"{BASE}/cmd/unknown/list", json.dumps({"request_id": 3}))
    assert listed["request_id"] == 3
    [face] = listed["data"]["faces"]
    assert face["face_id"] == event["face_id"] and face["camera"] == "hall" and face["face_px"] == event["face_px"]
    bad = command(daemon, bus, f"{BASE}/cmd/enroll", json.dumps({"name": "obama", "face_ids": ["nope"]}))
    assert bad["ok"] is False and "is not a face id" in bad["error"]
    gone = command(daemon, bus, f"{BASE}/cmd/enroll", json.dumps({"name": "obama", "face_ids": ["0" * 12]}))
    assert gone["ok"] is False and "no unknown face '000000000000'" in gone["error"]
    assert not (tmp_path / "gallery" / "obama.npz").exists()
    bus.clear()
    reply = command(daemon, bus, f"{BASE}/cmd/enroll", json.dumps({"name": "obama", "face_ids": [event["face_id"]]}))
    # every chip held is taken, once: a still shown in every frame gives the same chip again ("the same photo")
    same = [r for r in reply["data"]["rejected"] if "the same photo" in r["reason"]]
    assert reply["ok"] is True and reply["data"]["added"] >= 1, reply
    assert reply["data"]["added"] + len(same) == face["chips"], reply
    assert f"{DISC}/person_obama/config" in bus.retained
    assert command(daemon, bus, f"{BASE}/cmd/unknown/list", b"")["data"]["faces"] == []
    see(daemon, load_image(photo), start=100)
    [named] = [json.loads(m.payload) for m in bus.on(f"{BASE}/event")]
    assert named["name"] == "obama" and named["face_id"] not in (None, event["face_id"])  # a recognition: held too
    assert command(daemon, bus, f"{BASE}/cmd/unknown/list", b"")["data"]["faces"] == []  # but not unknown


def _people(daemon, bus, **body) -> dict:
    reply = command(daemon, bus, f"{BASE}/cmd/list", json.dumps(body))
    assert reply["ok"], reply
    return {p["name"]: p for p in reply["data"]["people"]}


def test_a_wrong_name_is_reassigned_moving_the_samples_that_face_gave(keeping_rig, photo, data, tmp_path):
    import stat

    daemon, bus = keeping_rig
    see(daemon, load_image(photo))
    [event] = [json.loads(m.payload) for m in bus.on(f"{BASE}/event")]
    # a mistake: obama's face enrolled as biden, who also has a photo of his own
    assert command(daemon, bus, f"{BASE}/cmd/enroll", json.dumps({"name": "biden", "face_ids": [event["face_id"]]}))[
        "ok"]
    assert command(daemon, bus, f"{BASE}/cmd/enroll/biden", (data / "people/biden/biden_1.jpg").read_bytes())["ok"]
    before = _people(daemon, bus, name="biden")["biden"]["samples"]
    from_face = [s["sample_id"] for s in before if s["source"] == f"unknown:{event['face_id']}"]
    assert from_face and len(before) == len(from_face) + 1
    for body, error in [
        ({"name": "obama"}, "exactly one of 'face_id' or 'event_id'"),
        ({"face_id": event["face_id"]}, "missing 'name'"),
        ({"face_id": "0" * 12, "name": "obama"}, "no recent face '000000000000'"),
        ({"event_id": "0" * 32, "name": "obama"}, "no recent face of event"),
        ({"face_id": event["face_id"], "name": "biden"}, "that face is biden already"),
    ]:
        reply = command(daemon, bus, f"{BASE}/cmd/reassign", json.dumps(body))
        assert reply["ok"] is False and error in reply["error"], (body, reply)
    assert _people(daemon, bus, name="biden")["biden"]["samples"] == before  # refusals changed nothing
    bus.clear()
    reply = command(daemon, bus, f"{BASE}/cmd/reassign", json.dumps({"event_id": event["event_id"], "name": "obama",
                                                                      "request_id": 9}))
    assert reply["ok"] and reply["request_id"] == 9, reply
    assert reply["data"]["face_id"] == event["face_id"] and reply["data"]["from"] == "biden"
    assert sorted(reply["data"]["removed"]) == sorted(from_face) and reply["data"]["added"] == len(from_face)
    assert f"{DISC}/person_obama/config" in bus.retained  # through the people service: Home Assistant heard it
    people = _people(daemon, bus, detail=True)
    assert [s["source"] for s in people["biden"]["samples"]] == ["payload"]  # his own photo stays
    assert people["obama"]["embeddings"] == len(from_face)
    for f in (tmp_path / "gallery").glob("*.npz"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    see(daemon, load_image(photo), start=100)
    [named] = [json.loads(m.payload) for m in bus.on(f"{BASE}/event")]
    assert named["name"] == "obama" and named["face_id"]
    # that recognition named obama right; moved on to someone else, obama's only samples would all go: refused
    reply = command(daemon, bus, f"{BASE}/cmd/reassign", json.dumps({"face_id": event["face_id"], "name": "lin"}))
    assert reply["ok"] is False and "every sample of obama came from this face: delete obama" in reply["error"]
    assert "lin" not in _people(daemon, bus)
    # a recognition that added no sample is moved without removing any
    reply = command(daemon, bus, f"{BASE}/cmd/reassign", json.dumps({"face_id": named["face_id"], "name": "barack"}))
    assert reply["ok"] and reply["data"]["from"] == "obama" and reply["data"]["removed"] == [], reply
    assert _people(daemon, bus)["obama"]["embeddings"] == len(from_face)


def test_reassign_without_held_faces_says_why(rig, photo):
    daemon, bus = rig
    see(daemon, load_image(photo))
    [event] = [json.loads(m.payload) for m in bus.on(f"{BASE}/event")]
    reply = command(daemon, bus, f"{BASE}/cmd/reassign", json.dumps({"event_id": event["event_id"], "name": "obama"}))
    assert reply["ok"] is False and "unknown_faces.keep is 0" in reply["error"]


def test_one_sample_is_removed_by_id_but_never_the_last(rig, photo, data):
    daemon, bus = rig
    assert command(daemon, bus, f"{BASE}/cmd/enroll/obama", photo.read_bytes())["ok"]
    assert command(daemon, bus, f"{BASE}/cmd/enroll/obama", (data / "people/obama/obama_2.jpg").read_bytes())["ok"]
    samples = _people(daemon, bus, name="obama")["obama"]["samples"]
    assert len(samples) == 2 and len({s["sample_id"] for s in samples}) == 2
    assert _people(daemon, bus)["obama"].get("samples") is None  # the plain list stays short
    missing = command(daemon, bus, f"{BASE}/cmd/list", json.dumps({"name": "nobody"}))
    assert missing["ok"] is False and "no person named 'nobody'" in missing["error"]
    bad = command(daemon, bus, f"{BASE}/cmd/samples/remove", json.dumps({"name": "obama", "sample_id": "0" * 12}))
    assert bad["ok"] is False and "obama has no sample '000000000000'" in bad["error"]
    bus.clear()
    first = samples[0]["sample_id"]
    reply = command(daemon, bus, f"{BASE}/cmd/samples/remove", json.dumps({"name": "obama", "sample_id": first}))
    assert reply["ok"] and reply["data"] == {"name": "obama", "removed": [first], "samples": 1}, reply
    assert [s["sample_id"] for s in _people(daemon, bus, name="obama")["obama"]["samples"]] == [samples[1]["sample_id"]]
    last = command(daemon, bus, f"{BASE}/cmd/samples/remove", json.dumps({"name": "obama",
                                                                          "sample_id": samples[1]["sample_id"]}))
    assert last["ok"] is False and "without any sample: delete obama instead" in last["error"]
    assert _people(daemon, bus)["obama"]["embeddings"] == 1
    # the ids survive a restart (stored with the samples)
    daemon.people.reload()
    assert [s["sample_id"] for s in _people(daemon, bus, name="obama")["obama"]["samples"]] == [samples[1]["sample_id"]]


def test_one_visitors_entries_share_a_visitor_id_and_are_enrolled_together(tmp_path, video_pipeline, photo, data):
    daemon, bus = _rig(tmp_path, video_pipeline, "unknown_faces: {keep: 20}\n", ", unknown_cooldown_s: 0")
    try:
        shots = [photo, data / "people/biden/biden_1.jpg", data / "people/obama/obama_2.jpg"]
        for i, shot in enumerate(shots):  # three visits: three tracks, three entries
            see(daemon, load_image(shot), start=100 * i)
            with daemon.people.lock:
                daemon.reset_workers()
        ids = [json.loads(m.payload)["face_id"] for m in bus.on(f"{BASE}/event")]
        assert len(ids) == 3 and all(ids), ids
        faces = {f["face_id"]: f["visitor"] for f in command(daemon, bus, f"{BASE}/cmd/unknown/list", b"")["data"][
            "faces"]}
        assert faces == {ids[0]: ids[0], ids[1]: ids[1], ids[2]: ids[0]}  # obama twice, biden once
        reply = command(daemon, bus, f"{BASE}/cmd/enroll", json.dumps({"name": "obama", "face_ids": [ids[2]],
                                                                       "visitor": True}))
        assert reply["ok"], reply
        people = _people(daemon, bus, name="obama")["obama"]
        assert {s["source"] for s in people["samples"]} == {f"unknown:{ids[0]}", f"unknown:{ids[2]}"}
        left = command(daemon, bus, f"{BASE}/cmd/unknown/list", b"")["data"]["faces"]
        assert [f["face_id"] for f in left] == [ids[1]]
    finally:
        video_pipeline.matcher.set_gallery({})


def test_unknown_faces_are_forgotten_on_request(keeping_rig, photo):
    daemon, bus = keeping_rig
    see(daemon, load_image(photo))
    [event] = [json.loads(m.payload) for m in bus.on(f"{BASE}/event")]
    assert command(daemon, bus, f"{BASE}/cmd/unknown", b"")["error"].startswith("unknown needs an action")
    both = command(daemon, bus, f"{BASE}/cmd/unknown/forget", json.dumps({"face_id": event["face_id"], "all": True}))
    assert both["ok"] is False and "exactly one of" in both["error"]
    reply = command(daemon, bus, f"{BASE}/cmd/unknown/forget", json.dumps({"face_id": event["face_id"]}))
    assert reply["ok"] and reply["data"] == {"forgotten": [event["face_id"]]}
    again = command(daemon, bus, f"{BASE}/cmd/unknown/forget", json.dumps({"face_id": event["face_id"]}))
    assert again["ok"] is False and "no unknown face" in again["error"]
    assert command(daemon, bus, f"{BASE}/cmd/unknown/forget", json.dumps({"all": True}))["ok"]
    assert daemon.workers["hall"].unknowns.chips_held() == 0


def test_an_ignored_face_is_not_announced_even_when_enrolled_until_it_is_removed(tmp_path, video_pipeline, photo,
                                                                                 data):
    import stat

    daemon, bus = _rig(tmp_path, video_pipeline, "unknown_faces: {keep: 20}\n", ", unknown_cooldown_s: 0")
    try:
        see(daemon, load_image(photo))
        [event] = [json.loads(m.payload) for m in bus.on(f"{BASE}/event")]
        assert command(daemon, bus, f"{BASE}/cmd/ignore", b"{}")["error"].startswith("ignore needs 'face_id'")
        reply = command(daemon, bus, f"{BASE}/cmd/ignore", json.dumps({"face_id": event["face_id"]}))
        assert reply["ok"] and reply["data"]["face_id"] == event["face_id"], reply
        ignore_id = reply["data"]["ignore_id"]
        saved = tmp_path / "gallery" / ".ignored-faces"
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        assert command(daemon, bus, f"{BASE}/cmd/unknown/list", b"")["data"]["faces"] == []  # moved, not copied
        bus.clear()
        see(daemon, load_image(photo), start=100)
        assert bus.on(f"{BASE}/event") == []  # the same face: no unknown event
        # enrolled from another photo, the ignored face is still closer to its ignored self: no event either
        other = (data / "people/obama/obama_2.jpg").read_bytes()
        assert command(daemon, bus, f"{BASE}/cmd/enroll/obama", other)["ok"]
        bus.clear()
        see(daemon, load_image(photo), start=200)
        assert bus.on(f"{BASE}/event") == []
        daemon.workers["hall"].unknowns.forget(None)
        assert daemon.workers["hall"].unknowns.chips_held() == 0
        see(daemon, load_image(photo), start=300)
        assert daemon.workers["hall"].unknowns.chips_held() == 0  # an ignored face is not held either
    finally:
        video_pipeline.matcher.set_gallery({})
    # a restart keeps the list (it is a setting, not a sighting)
    daemon, bus = _rig(tmp_path, video_pipeline, "unknown_faces: {keep: 20}\n", ", unknown_cooldown_s: 0")
    try:
        listed = command(daemon, bus, f"{BASE}/cmd/ignore/list", b"")["data"]["ignored"]
        assert [(e["ignore_id"], e["camera"]) for e in listed] == [(ignore_id, "hall")] and listed[0]["samples"] >= 1
        see(daemon, load_image(photo))
        assert bus.on(f"{BASE}/event") == []
        reply = command(daemon, bus, f"{BASE}/cmd/ignore/remove", json.dumps({"ignore_id": ignore_id}))
        assert reply["ok"] and reply["data"] == {"removed": ignore_id}
        again = command(daemon, bus, f"{BASE}/cmd/ignore/remove", json.dumps({"ignore_id": ignore_id}))
        assert again["ok"] is False and "no ignored face" in again["error"]
        see(daemon, load_image(photo), start=100)
        assert [json.loads(m.payload)["name"] for m in bus.on(f"{BASE}/event")] == ["obama"]  # back
    finally:
        video_pipeline.matcher.set_gallery({})


def test_an_ignored_face_made_in_another_embedding_space_ignores_nobody_and_is_listed_stale(
        tmp_path, video_pipeline, photo, caplog):
    """After an upgrade that changes the model or the chip, an old entry would compare embeddings of two spaces."""
    from edged.store.ignore import IGNORE_FILE, decode, encode
    from edged.store.space import LEGACY_CHIP, embedding_space

    daemon, bus = _rig(tmp_path, video_pipeline, "unknown_faces: {keep: 20}\n", ", unknown_cooldown_s: 0")
    see(daemon, load_image(photo))
    [event] = [json.loads(m.payload) for m in bus.on(f"{BASE}/event")]
    reply = command(daemon, bus, f"{BASE}/cmd/ignore", json.dumps({"face_id": event["face_id"]}))
    ignore_id = reply["data"]["ignore_id"]
    saved = tmp_path / "gallery" / IGNORE_FILE
    [entry] = decode(saved.read_bytes()).values()
    assert entry.space == shipped_space()
    old = embedding_space(video_pipeline.embedder.sha256, LEGACY_CHIP)  # the same model on the earlier chip
    saved.write_bytes(encode({ignore_id: dataclasses.replace(entry, space=old)}))
    caplog.set_level(logging.WARNING, logger="edged.store.ignore")
    daemon, bus = _rig(tmp_path, video_pipeline, "unknown_faces: {keep: 20}\n", ", unknown_cooldown_s: 0")
    assert "1 of 1 ignored faces were made in another embedding space" in caplog.text
    assert "ignore those faces again" in caplog.text and "chip dlib-0.35-160" in caplog.text
    listed = command(daemon, bus, f"{BASE}/cmd/ignore/list", b"")["data"]["ignored"]
    assert [(e["ignore_id"], e["stale"]) for e in listed] == [(ignore_id, True)]
    see(daemon, load_image(photo))
    assert [json.loads(m.payload)["name"] for m in bus.on(f"{BASE}/event")] == [None]  # announced again
    reply = command(daemon, bus, f"{BASE}/cmd/ignore/remove", json.dumps({"ignore_id": ignore_id}))
    assert reply["ok"], reply  # a stale entry is removed like any other


def test_stale_discovery_of_a_gone_camera_and_person_is_emptied(rig):
    daemon, bus = rig
    ghosts = [f"homeassistant/sensor/frd_{DEVICE}/camera_garage_last_person/config", f"{DISC}/person_gone/config",
              f"homeassistant/sensor/frd_{DEVICE}/camera_hall_last_person/config"]
    other = "homeassistant/sensor/frd_otherdevice/camera_garage_last_person/config"
    for topic in [*ghosts, other]:
        bus.deliver(topic, b'{"name": "x"}', retain=True)  # the broker's retained configs, after subscribing
    bus.clear()
    daemon._poll()
    emptied = sorted(m.topic for m in bus.published if m.payload == "" and m.retain)
    assert emptied == sorted(ghosts[:2])  # the camera still configured keeps its entity, others' are untouched
    bus.clear()
    daemon._poll()
    assert bus.published == []  # removed once


def test_fleet_sync_shares_enrollments_applies_records_and_guards_the_owner(tmp_path, video_pipeline, photo):
    """Fleet sync as a listener and guard of the people service, in-process: nothing of it is in the daemon."""
    import time

    import numpy as np

    from edged.integrations.fleet.record import person_message, verify
    from edged.integrations.fleet.trust import load_signing_key, trust_from_config
    from tests.daemon_helpers import fleet_config, fleet_keys

    keys = fleet_keys(tmp_path, [DEVICE, "porch"])
    cfg = parse_config(f"device_id: {DEVICE}\ncameras: [{{name: hall, source: /dev/null}}]\n"
                       f"gallery: {{path: {tmp_path / 'gallery'}}}\n", "fleet.yaml")
    cfg = cfg.model_copy(update={"fleet": cfg.fleet.model_validate(fleet_config(keys, DEVICE))})
    topics = topics_for(cfg)
    people = open_people(cfg.gallery.path, video_pipeline, keep_crops=True, cameras=["hall"])
    bus = FakeBus()
    daemon = build_daemon(cfg, pipeline=video_pipeline, people=people, bus=bus,
                          readers=[CameraReader("hall", "/dev/null", loop=False, fps_limit=None)], handler_options={})
    assert topics.gallery_wildcard in bus.subscriptions
    bus.start()
    try:
        assert command(daemon, bus, f"{BASE}/cmd/enroll/obama", photo.read_bytes())["ok"]
        shared = bus.retained[topics.gallery_person("obama")]
        trust = trust_from_config(cfg.fleet, DEVICE)
        signer, record = verify(topics.gallery_person("obama"), shared.encode(), trust)
        assert signer == DEVICE and json.loads(record)["origin"] == DEVICE

        dim = video_pipeline.embedder.manifest.embedding_dim
        emb = np.random.default_rng(1).normal(size=(2, dim)).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        porch_key = load_signing_key(keys["porch"][0])
        msg = person_message(topics, "biden", emb, people.gallery.model_sha256, "porch", time.time(), porch_key,
                             rev=1)
        bus.deliver(msg.topic, msg.payload, retain=True)
        listed = command(daemon, bus, f"{BASE}/cmd/list", b"")["data"]["people"]
        assert [p["name"] for p in listed] == ["biden", "obama"]  # applied on the command thread first
        assert f"{DISC}/person_biden/config" in bus.retained
        assert not [m for m in bus.published if m.topic == topics.gallery_person("biden") and m.payload != msg.payload]
        refused = command(daemon, bus, f"{BASE}/cmd/delete/biden", b"")
        assert refused["ok"] is False and "enrolled on device 'porch'" in refused["error"]
        assert "biden" in people.names()
    finally:
        video_pipeline.matcher.set_gallery({})


def test_device_discovery_format_follows_the_gallery_and_empties_the_entity_format(tmp_path, video_pipeline, photo):
    """``discovery_format: device``: one config for the device; a switch from ``entity`` empties the old ones."""
    daemon, bus = _rig(tmp_path, video_pipeline, "homeassistant: {discovery_format: device}\n")
    try:
        device_topic = f"homeassistant/device/frd_{DEVICE}/config"
        assert not [t for t in bus.retained if t.startswith("homeassistant/") and t != device_topic]
        comps = json.loads(bus.retained[device_topic])["components"]
        assert comps["camera_hall_last_person"]["platform"] == "sensor" and "person_obama" not in comps
        assert command(daemon, bus, f"{BASE}/cmd/enroll/obama", photo.read_bytes())["ok"]
        comps = json.loads(bus.retained[device_topic])["components"]
        assert comps["person_obama"]["platform"] == "binary_sensor"
        assert comps["person_obama_last_seen"]["state_topic"] == f"{BASE}/state/last_seen/obama"
        assert command(daemon, bus, f"{BASE}/cmd/delete/obama", b"")["ok"]
        comps = json.loads(bus.retained[device_topic])["components"]
        assert comps["person_obama"] == {"platform": "binary_sensor"}  # Home Assistant removes it
        # the entity format's configs of an earlier run, replayed by the broker: emptied, then the device config again
        old = [f"homeassistant/sensor/frd_{DEVICE}/camera_hall_last_person/config", f"{DISC}/person_obama/config"]
        for topic in old:
            bus.deliver(topic, b'{"name": "x"}', retain=True)
        bus.deliver(device_topic, bus.retained[device_topic].encode(), retain=True)
        bus.clear()
        daemon._poll()
        assert sorted(m.topic for m in bus.published if m.payload == "") == sorted(old)
        assert [m.topic for m in bus.published if m.payload] == [device_topic]  # after the removals
        assert bus.published[-1].topic == device_topic
    finally:
        video_pipeline.matcher.set_gallery({})


# ---------------------------------------------------------------- the watchdog follows frd's own loops


def test_the_watchdog_starves_on_a_stuck_camera_reader_and_a_hung_model_but_not_on_a_camera_away(
        tmp_path, video_pipeline, data, monkeypatch):
    """The daemon's frame loop, in-process, feeding a real sd_notify socket: a camera reader stuck in a call that
    never returns (a driver hang) stops the feed after ``LOOP_STALL_S`` and says why in the status; once it runs
    again the feed resumes; a hung model (a frame that never comes back) stops it at once."""
    import threading
    import time

    import edged.vision.camera as camera
    from edged.daemon.liveness import LOOP_STALL_S
    from edged.daemon.notify import Notifier
    from tests.daemon_helpers import wait_until
    from tests.integration.test_notify import NotifySocket

    ns = NotifySocket(tmp_path / "notify.sock")
    monkeypatch.setenv("NOTIFY_SOCKET", ns.path)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    stuck, hung = threading.Event(), threading.Event()
    real_open = camera.open_capture

    def open_capture(spec):
        while stuck.is_set():  # a driver call that does not return
            time.sleep(0.05)
        return real_open(spec)

    monkeypatch.setattr(camera, "open_capture", open_capture)
    clip = data / "video/short_hamilton_clip.mp4"
    cfg = parse_config(f"device_id: {DEVICE}\ncameras: [{{name: hall, source: {clip}, loop: true}}]\n"
                       f"gallery: {{path: {tmp_path / 'gallery'}}}\n", "watchdog.yaml")
    people = open_people(cfg.gallery.path, video_pipeline, keep_crops=True, cameras=["hall"])
    bus = FakeBus()
    reader = CameraReader("hall", "/nonexistent.mp4", loop=True, fps_limit=5)  # away: retrying
    daemon = build_daemon(cfg, pipeline=video_pipeline, people=people, bus=bus, readers=[reader],
                          handler_options={}, notifier=Notifier())
    commands = threading.Thread(target=daemon._command_loop, daemon=True)
    commands.start()
    daemon._start_readers_and_bus()
    loop = threading.Thread(target=daemon._loop, args=(commands, False, time.monotonic()), daemon=True)
    loop.start()

    def fed_since(t: float) -> int:
        return len([at for at, _ in ns.lines("WATCHDOG=1") if at > t])

    try:
        t0 = time.monotonic()
        assert wait_until(lambda: fed_since(t0) >= 8 and reader.reconnects >= 2, 20)
        assert reader.state == "reconnecting" and daemon.status()["errors"] == []  # away: fed, no error
        stuck.set()
        t1 = time.monotonic()
        assert wait_until(lambda: daemon.status()["errors"], LOOP_STALL_S + 15)
        starved = time.monotonic()
        assert "camera hall: its reader has made no progress" in daemon.status()["errors"][0]
        assert starved - t1 >= LOOP_STALL_S - 1  # a reader may sit in one call for a stream timeout, not longer
        time.sleep(2)
        assert fed_since(starved) == 0
        reader.source = str(clip)  # the camera is there now, and the call returns
        stuck.clear()
        assert wait_until(lambda: reader.state == "streaming" and fed_since(time.monotonic() - 1) >= 2, 30)
        assert wait_until(lambda: daemon.stats["hall"].processed > 0, 20)
        assert daemon.status()["errors"] == []
        worker = daemon.workers["hall"]
        real_process = worker.process

        def process(*a, **k):  # the model never answers
            hung.wait()
            return real_process(*a, **k)

        worker.process = process
        time.sleep(1)
        t2 = time.monotonic()
        time.sleep(2)
        assert fed_since(t2) == 0
    finally:
        daemon.request_stop()
        hung.set()
        stuck.clear()
        loop.join(10)
        daemon._shut_down()
        ns.close()
        video_pipeline.matcher.set_gallery({})


def test_commands_still_queued_at_a_stop_are_answered_not_run_with_their_request_id(rig, photo):
    """A stop (SIGTERM: systemctl restart, an upgrade) answers what it will not run, so a sender can tell it from a
    crash (no reply) and send it again; the command in progress is answered before the bus stops."""
    daemon, bus = rig
    bus.replies.clear()
    for i in range(3):
        bus.deliver(f"{BASE}/cmd/status", json.dumps({"request_id": f"r{i}"}))
    bus.deliver(f"{BASE}/cmd/enroll/obama", photo.read_bytes())
    daemon.readers["hall"].start()
    daemon._shut_down()  # the command thread is not running: every command is still queued
    replies = [(t, json.loads(b)) for t, b, _ in bus.replies]
    assert [t for t, _ in replies] == [f"{BASE}/reply/status"] * 3 + [f"{BASE}/reply/enroll"]
    assert [r["request_id"] for _, r in replies] == ["r0", "r1", "r2", None]
    assert all(not r["ok"] and r["error"].startswith("not run: frd is stopping") for _, r in replies)
    assert daemon.people.names() == []
