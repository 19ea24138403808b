"""``frd run`` end to end: a real mosquitto, frd as a subprocess, the real clip and model."""

from __future__ import annotations

import base64
import json
import subprocess
import time

import pytest

from tests.broker import publish, subscribe_collect
from tests.daemon_helpers import DEVICE, FrdProcess, wait_until, write_config

BASE = f"frd/{DEVICE}"


@pytest.fixture
def clip(data):
    return data / "video/short_hamilton_clip.mp4"


@pytest.fixture
def lin(data):
    return data / "video/enroll/lin_manuel_miranda_1.png"


@pytest.fixture
def daemon(tmp_path, broker, clip):
    p = FrdProcess(write_config(tmp_path, broker, clip)).start()
    yield p
    p.stop()


def online(broker, timeout=30):
    with subscribe_collect(broker.host, broker.port, [f"{BASE}/availability"]) as sub:
        return sub.wait_for(lambda m: m.text == "online", timeout)


def request(broker, topic, payload, reply, timeout=30):
    with subscribe_collect(broker.host, broker.port, [f"{BASE}/reply/{reply}"]) as sub:
        publish(broker.host, broker.port, topic, payload, qos=1)
        return sub.wait_for(lambda m: True, timeout).json()


def test_enroll_with_mosquitto_pub_then_the_clip_names_the_person(daemon, broker, lin):
    online(broker)
    state_topic = f"{BASE}/state/camera/stage"
    with subscribe_collect(broker.host, broker.port, [f"{BASE}/reply/enroll", f"{BASE}/event", state_topic]) as sub:
        subprocess.run(["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-q", "1",
                        "-t", f"{BASE}/cmd/enroll/lin_manuel_miranda", "-f", str(lin)], check=True, timeout=10)
        reply = sub.wait_for(lambda m: m.topic.endswith("/reply/enroll"), 30).json()
        assert reply["ok"] is True, reply
        assert reply["error"] is None and reply["data"]["added"] == 1
        event = sub.wait_for(lambda m: m.topic.endswith("/event") and m.json()["name"] == "lin_manuel_miranda", 20)
        # the camera's state follows its event (events go first: under load they reach the broker apart)
        sub.wait_for(lambda m: m.topic == state_topic and m.json()["person"] == "lin_manuel_miranda", 20)
    ev = event.json()
    assert event.retain is False
    assert set(ev) >= {"event_id", "ts", "device", "camera", "name", "score", "box", "face_px", "model"}
    assert ev["device"] == DEVICE and ev["camera"] == "stage" and ev["event_type"] == "recognized"
    assert ev["ts"].endswith("Z") and ev["model"].startswith("facenet_int8@")
    assert len(ev["box"]) == 4 and ev["face_px"] >= 40 and ev["score"] > 0
    with subscribe_collect(broker.host, broker.port, [state_topic]) as sub:
        # what a late subscriber reads: the retained state (a live update may arrive beside it)
        state = sub.wait_for(lambda m: m.retain, 10)
    assert state.json()["person"] == "lin_manuel_miranda"


def test_json_and_capture_enrollment_echo_the_request_id(daemon, broker, lin):
    """Each request is answered with its own id. The capture is of the clip, mostly Lin, whom the gallery names
    `lin` by then: forced, as the same face under a second name would be refused."""
    online(broker)
    body = {"request_id": "r-1", "name": "lin", "force": True,
            "image_b64": base64.b64encode(lin.read_bytes()).decode()}
    reply = request(broker, f"{BASE}/cmd/enroll", json.dumps(body), "enroll")
    advice = "lin has 1 photo: 3 to 5 photos (other days, light, a slight turn) name a person more reliably"
    assert (reply["request_id"], reply["ok"], reply["error"]) == ("r-1", True, None), reply
    data = reply["data"]
    assert (data["name"], data["added"], data["rejected"], data["advice"]) == ("lin", 1, [], advice)
    assert data["warnings"] == [], data  # nobody else is enrolled yet
    body = {"request_id": 7, "name": "from_camera", "force": True,
            "capture": {"camera": "stage", "frames": 3, "timeout_s": 20}}
    reply = request(broker, f"{BASE}/cmd/enroll", json.dumps(body), "enroll", timeout=40)
    assert reply["request_id"] == 7 and reply["ok"] is True, reply
    assert reply["data"]["added"] == 3
    listed = request(broker, f"{BASE}/cmd/list", json.dumps({"request_id": "l"}), "list")
    assert {p["name"]: p["embeddings"] for p in listed["data"]["people"]} == {"lin": 1, "from_camera": 3}


def test_bad_commands_get_clear_errors_and_change_nothing(daemon, broker, lin, tmp_path):
    online(broker)
    assert request(broker, f"{BASE}/cmd/enroll/alice", lin.read_bytes(), "enroll")["ok"]
    before = sorted(p.name for p in (tmp_path / "gallery").glob("*.npz"))
    cases = [
        (f"{BASE}/cmd/enroll/Bad..Name", lin.read_bytes(), "enroll", "lowercase letters"),
        (f"{BASE}/cmd/enroll/bob", b"\x89PNG not really", "enroll", "not a decodable image"),
        (f"{BASE}/cmd/enroll/bob", b"", "enroll", "empty payload"),
        (f"{BASE}/cmd/enroll", b"{not json", "enroll", "not valid JSON"),
        (f"{BASE}/cmd/enroll", json.dumps({"name": "bob", "image_b64": "%%%"}), "enroll", "not valid base64"),
        (f"{BASE}/cmd/enroll", json.dumps({"name": "bob"}), "enroll", "exactly one of"),
        (f"{BASE}/cmd/enroll", json.dumps({"name": "bob", "capture": {"camera": "nope"}}), "enroll", "no camera"),
        (f"{BASE}/cmd/delete", json.dumps({"name": "nobody"}), "delete", "no person named"),
        (f"{BASE}/cmd/rename", json.dumps({"name": "alice"}), "rename", "new_name"),
        (f"{BASE}/cmd/frobnicate", b"{}", "frobnicate", "unknown command"),
        (f"{BASE}/cmd/list", b"[1, 2]", "list", "JSON object"),
    ]
    for topic, payload, reply_to, why in cases:
        r = request(broker, topic, payload, reply_to)
        assert r["ok"] is False and why in r["error"], (topic, r)
    assert daemon.alive()
    assert sorted(p.name for p in (tmp_path / "gallery").glob("*.npz")) == before


def test_delete_and_rename_update_discovery(daemon, broker, lin):
    online(broker)
    assert request(broker, f"{BASE}/cmd/enroll/alice", lin.read_bytes(), "enroll")["ok"]
    disc = "homeassistant/binary_sensor/frd_testdoor"
    with subscribe_collect(broker.host, broker.port, [f"{disc}/+/config"]) as sub:
        sub.wait_for(lambda m: m.topic == f"{disc}/person_alice/config" and m.payload, 10)
        sub.clear()
        r = request(broker, f"{BASE}/cmd/rename", json.dumps({"name": "alice", "new_name": "alicia"}), "rename")
        assert r["ok"], r
        sub.wait_for(lambda m: m.topic == f"{disc}/person_alice/config" and m.payload == b"", 10)
        sub.wait_for(lambda m: m.topic == f"{disc}/person_alicia/config" and m.payload, 10)
        assert request(broker, f"{BASE}/cmd/delete/alicia", b"", "delete")["ok"]
        sub.wait_for(lambda m: m.topic == f"{disc}/person_alicia/config" and m.payload == b"", 10)
    assert request(broker, f"{BASE}/cmd/list", b"", "list")["data"]["people"] == []


def test_fleet_wide_commands_and_mqtt5_correlation_data_replies_only_on_the_reply_topic(daemon, broker):
    online(broker)
    r = request(broker, "frd/all/cmd/status", json.dumps({"request_id": "fleet"}), "status")
    assert r["ok"] and r["request_id"] == "fleet" and r["data"]["device"] == DEVICE
    from tests.waiting import Mqtt5Client

    with Mqtt5Client(broker, ["my/inbox", f"{BASE}/reply/status"]) as c:
        c.publish(f"{BASE}/cmd/status", b"", correlation=b"corr-42", wait=5, ResponseTopic="my/inbox")
        got = c.wait_for(lambda m: True, 20)
        time.sleep(0.5)
        topics = [m.topic for m in c.messages]
    assert got.json()["ok"] is True and got.topic == f"{BASE}/reply/status"
    assert got.correlation == b"corr-42"  # echoed, so the requester can tell its reply from others'
    assert "my/inbox" not in topics  # a requester cannot make frd publish where it chooses


def test_kill_9_leaves_offline_and_a_restart_comes_back_online(tmp_path, broker, clip):
    p = FrdProcess(write_config(tmp_path, broker, clip)).start()
    try:
        online(broker)
        with subscribe_collect(broker.host, broker.port, [f"{BASE}/availability"]) as sub:
            sub.clear()
            p.kill9()
            sub.wait_for(lambda m: m.text == "offline", 60)  # the broker sends the will after keepalive at worst
        p.start()
        online(broker)
    finally:
        p.stop()
    with subscribe_collect(broker.host, broker.port, [f"{BASE}/availability"]) as sub:
        assert sub.wait_for(lambda m: True, 10).text == "offline"  # clean stop publishes offline too


def test_discovery_is_published_and_repeated_on_home_assistant_birth(daemon, broker):
    online(broker)
    with subscribe_collect(broker.host, broker.port, ["homeassistant/+/frd_testdoor/+/config"]) as sub:
        wait_until(lambda: len(sub.messages) >= 6, 10)
        first = {m.topic: m.json() for m in sub.messages}
        assert all(m.retain for m in sub.messages)
        sub.clear()
        publish(broker.host, broker.port, "homeassistant/status", "online")
        wait_until(lambda: len(sub.messages) >= len(first), 10)
        assert {m.topic for m in sub.messages} == set(first)
    kinds = {t.split("/")[1] for t in first}
    assert {"event", "sensor"} <= kinds
    for cfg in first.values():
        assert cfg["unique_id"] and cfg["device"]["identifiers"] and cfg["origin"]["name"] == "frd"
    def status():
        text = _retained(broker, f"{BASE}/status")
        return json.loads(text) if text and json.loads(text)["fps"] > 0 else None

    st = wait_until(status, 15, step=1)
    assert st is not None, "status never showed frames flowing"
    assert st["gallery_size"] == 0 and st["model"].startswith("facenet_int8@") and st["dropped_frames"] == sum(
        c["dropped_frames"] for c in st["cameras"].values())
    assert st["cameras"]["stage"]["state"] == "streaming" and st["broker"] == "connected"



def _retained(broker, topic):
    with subscribe_collect(broker.host, broker.port, [topic]) as sub:
        try:
            return sub.wait_for(lambda m: True, 3).text
        except Exception:
            return None


def test_a_camera_removed_from_the_config_loses_its_entity_when_frd_restarts(tmp_path, broker, clip):
    """The issue's acceptance test: after a restart, frd empties the retained configs it no longer wants."""
    sensor = "homeassistant/sensor/frd_testdoor"
    garage, stage = f"{sensor}/camera_garage_last_person/config", f"{sensor}/camera_stage_last_person/config"
    ghost = "homeassistant/binary_sensor/frd_testdoor/person_ghost/config"  # deleted while frd was stopped
    other = "homeassistant/sensor/frd_otherdoor/camera_garage_last_person/config"  # another device's: untouched
    two = [{"name": "stage", "source": str(clip), "loop": True}, {"name": "garage", "source": str(clip), "loop": True}]
    p = FrdProcess(write_config(tmp_path, broker, clip, cameras=two)).start()
    try:
        online(broker)
        assert json.loads(_retained(broker, garage))["name"] == "garage last person"
    finally:
        p.stop()
    publish(broker.host, broker.port, ghost, json.dumps({"name": "ghost presence"}), qos=1, retain=True)
    publish(broker.host, broker.port, other, json.dumps({"name": "garage last person"}), qos=1, retain=True)
    p = FrdProcess(write_config(tmp_path, broker, clip)).start()  # only "stage" now
    try:
        online(broker)
        # within a gallery poll (2 s) of connecting; an emptied retained topic is simply gone from the broker
        assert wait_until(lambda: _retained(broker, garage) is None and _retained(broker, ghost) is None, 20)
        assert json.loads(_retained(broker, stage))["name"] == "stage last person"
        assert _retained(broker, other) is not None
        # garage: last person and faces now; the ghost: its presence
        assert "removed 3 Home Assistant entities nobody has any more" in p.log_text()
    finally:
        p.stop()


def test_two_cameras_each_on_its_own_thread_both_name_the_person(tmp_path, broker, clip, lin):
    """``frd run`` with two cameras (a thread each): one enrollment, both cameras name Lin."""
    two = [{"name": "stage", "source": str(clip), "loop": True}, {"name": "garage", "source": str(clip), "loop": True}]
    p = FrdProcess(write_config(tmp_path, broker, clip, cameras=two, recognition={"camera_mode": "threads"})).start()
    try:
        online(broker)
        with subscribe_collect(broker.host, broker.port, [f"{BASE}/event"]) as sub:
            assert request(broker, f"{BASE}/cmd/enroll/lin_manuel_miranda", lin.read_bytes(), "enroll")["ok"]
            named = set()
            for _ in range(2):
                ev = sub.wait_for(lambda m: m.json()["name"] == "lin_manuel_miranda"
                                  and m.json()["camera"] not in named, 60).json()
                named.add(ev["camera"])
        assert named == {"stage", "garage"}
        assert "2 camera(s), a thread each" in p.log_text()
    finally:
        p.stop()
