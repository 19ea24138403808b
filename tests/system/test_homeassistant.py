"""frd against a real Home Assistant: what its MQTT discovery makes of frd's configs, end to end.

Real parts only: mosquitto (tests/broker.py), Home Assistant from PyPI in its own virtualenv
(tests/ha_instance.py; ``scripts/test`` installs it), ``frd run`` on the looping clip with
``face_image: true``. A person is enrolled over MQTT from a photo; once the clip names them, Home
Assistant must hold the image entity (and serve a JPEG for it), the person's presence and "last seen",
the camera's "faces now", with no MQTT or discovery complaint in its log. The README's automations run
as written on it (a stranger notified, then enrolled from the reply). Home Assistant 2024.1 is the
last release on this machine's Python 3.11, so the device-based format (2024.11+) is covered by its
golden file only.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.broker import publish, subscribe_collect
from tests.daemon_helpers import DEVICE, FrdProcess, wait_until, write_config
from tests.ha_instance import HomeAssistant, ha_missing

BASE = f"frd/{DEVICE}"
PERSON = "lin_manuel_miranda"
# Home Assistant before 2025.10 ignores default_entity_id: it names an entity "<device name> <entity name>".
IMAGE = f"image.frd_{DEVICE}_stage_last_face"
LAST_SEEN = f"sensor.frd_{DEVICE}_{PERSON}_last_seen"
FACES_NOW = f"sensor.frd_{DEVICE}_stage_faces_now"
PRESENCE = f"binary_sensor.frd_{DEVICE}_{PERSON}_presence"
LAST_PERSON = f"sensor.frd_{DEVICE}_stage_last_person"
EVENT = f"event.frd_{DEVICE}_recognition"
ENTITIES = {IMAGE, LAST_SEEN, FACES_NOW, PRESENCE, LAST_PERSON, EVENT,
            *(f"sensor.frd_{DEVICE}_{d}" for d in ("fps", "dropped_frames", "gallery_size", "model"))}


def _readme_section() -> str:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = text[text.index("#### From Home Assistant"):]
    return section[:section.index("\n### ")]


def _readme_automations() -> str:
    """The README's automations (YAML), for this test's device; the phone is a file notifier of that name."""
    blocks = re.findall(r"```yaml\n(.*?)```", _readme_section(), re.DOTALL)
    # one automation list over several blocks (notify, enroll from the notification, fix a wrong name)
    assert len(blocks) >= 2 and blocks[0].startswith("automation:"), blocks
    return ("".join(blocks).replace("frd/door/", f"{BASE}/")
            + "notify:\n  - platform: file\n    name: mobile_app_my_phone\n    filename: phone.txt\n")


@pytest.fixture
def hass(request, broker, tmp_path):
    """A running Home Assistant with MQTT on the test broker, connected (its birth message seen).

    ``@pytest.mark.parametrize("hass", [yaml], indirect=True)`` adds configuration. Its log is kept as
    ``home-assistant.log`` in the test's tmp_path for a look after a failure.
    """
    missing = ha_missing()
    if missing:
        if os.environ.get("FRD_REQUIRE_DATA") == "1":
            pytest.fail(missing + " and FRD_REQUIRE_DATA=1 requires it")
        pytest.skip(missing)
    with subscribe_collect(broker.host, broker.port, ["homeassistant/status"]) as sub:
        instance = HomeAssistant(broker.host, broker.port, getattr(request, "param", ""))
        with instance:
            try:
                sub.wait_for(lambda m: m.text == "online", 60)
            except TimeoutError:
                pytest.fail(f"Home Assistant never said online on MQTT\n{instance.log_tail()}")
            try:
                yield instance
            finally:
                (tmp_path / "home-assistant.log").write_text(instance.log_text(), encoding="utf-8")


def _problems(log: str) -> list[str]:
    """Home Assistant's ERROR records, and its WARNING records about MQTT, discovery or an frd entity."""
    records = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ )", log)
    out = []
    for record in records:
        head = record.split("\n", 1)[0]
        level = re.match(r"\S+ \S+ (\w+) ", head)
        if level and (level[1] in ("ERROR", "CRITICAL")
                      or (level[1] == "WARNING" and re.search(r"mqtt|discovery|frd", head, re.IGNORECASE))):
            out.append(record)
    return out


def _jpeg(body: bytes) -> np.ndarray:
    assert body[:2] == b"\xff\xd8", body[:16]
    img = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "not a decodable JPEG"
    return img


def _readme_entity_ids() -> list[str]:
    """The entity ids the README gives for Home Assistant before 2025.10, as they are in this test."""
    prose = _readme_section().split("```")[0]
    ids = re.findall(r"`((?:image|sensor|binary_sensor)\.frd_door_(?:front|alice)_\w+)`", prose)
    return [i.replace("frd_door_", f"frd_{DEVICE}_").replace("_front_", "_stage_").replace("_alice_", f"_{PERSON}_")
            for i in ids]


def test_home_assistant_shows_the_face_last_seen_and_faces_now(tmp_path, broker, hass, data):
    from edged.vision.align import CHIP_SIZE

    clip = data / "video/short_hamilton_clip.mp4"
    cfg = write_config(tmp_path, broker, clip, homeassistant={"face_image": True, "discovery_format": "entity"})
    p = FrdProcess(cfg).start()
    try:
        with subscribe_collect(broker.host, broker.port, [f"{BASE}/availability", f"{BASE}/reply/enroll",
                                                          f"{BASE}/event"]) as sub:
            sub.wait_for(lambda m: m.text == "online", 60)
            publish(broker.host, broker.port, f"{BASE}/cmd/enroll/{PERSON}",
                    (data / f"video/enroll/{PERSON}_1.png").read_bytes())
            assert sub.wait_for(lambda m: m.topic.endswith("/reply/enroll"), 60).json()["ok"]
            named = sub.wait_for(lambda m: m.topic.endswith("/event") and m.json()["name"] == PERSON, 60).json()

        def ready() -> dict | None:
            states = hass.states()
            if set(states) >= ENTITIES and states[IMAGE]["state"] not in ("unknown", "unavailable") \
                    and states[LAST_SEEN]["state"] not in ("unknown", "unavailable"):
                return states
            return None

        states = wait_until(ready, 90, step=0.5)
        frd_entities = {e for e in hass.states() if e.split(".")[1].startswith(f"frd_{DEVICE}_")}
        assert states, (f"Home Assistant lacks some of frd's entities, it has {sorted(frd_entities)}\n"
                        + "\n".join(_problems(hass.log_text())))
        assert frd_entities == ENTITIES  # every config frd published became an entity, and nothing else

        # the image entity: a JPEG of the aligned chip behind /api/image_proxy/<entity id>, with a login only
        image = states[IMAGE]
        assert image["attributes"]["friendly_name"] == f"frd {DEVICE} stage last face"
        status, body = hass.request("GET", f"/api/image_proxy/{IMAGE}")
        assert status == 200, (status, body[:200])
        assert _jpeg(body).shape == (CHIP_SIZE, CHIP_SIZE, 3)
        assert hass.request("GET", f"/api/image_proxy/{IMAGE}", auth=False)[0] in (401, 403)
        picture = image["attributes"]["entity_picture"]  # carries its own token, as a browser uses it
        assert picture.startswith(f"/api/image_proxy/{IMAGE}?token="), picture
        status, body = hass.request("GET", picture, auth=False)
        assert status == 200 and _jpeg(body).shape == (CHIP_SIZE, CHIP_SIZE, 3)

        # last seen: a timestamp, not before the named event, the camera as an attribute
        seen = states[LAST_SEEN]
        assert seen["attributes"]["device_class"] == "timestamp"
        assert seen["attributes"]["camera"] == "stage" and seen["attributes"]["person"] == PERSON
        shown = datetime.fromisoformat(seen["state"])
        assert shown.tzinfo is not None
        assert abs(shown - datetime.now(UTC)) < timedelta(minutes=5), seen
        assert shown >= datetime.fromisoformat(named["ts"]) - timedelta(seconds=1), (seen, named)

        # faces now: a count; presence: on while the clip shows the person
        assert states[FACES_NOW]["state"].isdigit(), states[FACES_NOW]
        assert states[FACES_NOW]["attributes"]["state_class"] == "measurement"
        presence = wait_until(lambda: (s := hass.states()[PRESENCE])["state"] == "on" and s, 30)
        assert presence and presence["attributes"]["device_class"] == "presence", hass.states()[PRESENCE]
        assert states[LAST_PERSON]["state"] in (PERSON, "unknown")
        # the fps diagnostic carries each camera's state and frd's errors (a camera away shows here)
        fps = hass.states()[f"sensor.frd_{DEVICE}_fps"]
        assert fps["attributes"]["cameras"]["stage"]["state"] == "streaming", fps
        assert fps["attributes"]["errors"] == [], fps

        # the README's names for this Home Assistant are the ones it made
        readme = _readme_entity_ids()
        assert IMAGE in readme and set(readme) <= ENTITIES, readme
    finally:
        p.stop()
    # frd's will (availability offline): every entity of it unavailable
    gone = wait_until(lambda: all(hass.states()[e]["state"] == "unavailable" for e in ENTITIES), 15)
    assert gone, {e: hass.states()[e]["state"] for e in ENTITIES}

    # face_image switched off: frd empties the image config and Home Assistant drops the entity
    cfg = write_config(tmp_path, broker, clip, homeassistant={"face_image": False})
    p = FrdProcess(cfg).start()
    try:
        assert wait_until(lambda: IMAGE not in (s := hass.states()) and s[LAST_SEEN]["state"] != "unavailable", 60), \
            sorted(e for e in hass.states() if "frd" in e)
    finally:
        p.stop()
    problems = _problems(hass.log_text())
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("hass", [_readme_automations()], indirect=True, ids=["readme"])
def test_the_readmes_automations_notify_enroll_from_the_reply_and_fix_a_name(tmp_path, broker, hass, data):
    """The README's automations, as written, on the real instance: a stranger on the clip is notified,
    the notification's reply enrolls them through ``cmd/enroll`` with its ``face_id``, the clip names them,
    and a reply to a recognized face moves it to another name through ``cmd/reassign``."""
    cfg = write_config(tmp_path, broker, data / "video/short_hamilton_clip.mp4",
                       homeassistant={"face_image": True}, unknown_faces={"keep": 20})
    topics = [f"{BASE}/event", f"{BASE}/cmd/enroll", f"{BASE}/reply/enroll", f"{BASE}/cmd/reassign",
              f"{BASE}/reply/reassign"]
    p = FrdProcess(cfg).start()
    try:
        with subscribe_collect(broker.host, broker.port, topics) as sub:
            unknown = sub.wait_for(lambda m: m.topic.endswith("/event") and m.json()["event_type"] == "unknown"
                                   and m.json().get("face_id"), 90).json()
            phone = hass.config_dir / "phone.txt"
            assert wait_until(lambda: phone.is_file() and "Someone unknown on stage" in phone.read_text(), 30), \
                hass.log_tail()
            status, body = hass.request("POST", "/api/events/mobile_app_notification_action", json_body={
                "action": f"FRD_ENROLL_{unknown['face_id']}", "reply_text": " Lin Manuel "})
            assert status == 200, body
            cmd = sub.wait_for(lambda m: m.topic == f"{BASE}/cmd/enroll", 20).json()
            assert cmd == {"name": "lin_manuel", "face_ids": [unknown["face_id"]]}
            reply = sub.wait_for(lambda m: m.topic.endswith("/reply/enroll"), 60).json()
            assert reply["ok"], reply
            named = sub.wait_for(lambda m: m.topic.endswith("/event") and m.json()["name"] == "lin_manuel"
                                 and m.json().get("face_id"), 60).json()
            # the third automation: "not lin_manuel? who is it?" answered from the notification
            status, body = hass.request("POST", "/api/events/mobile_app_notification_action", json_body={
                "action": f"FRD_REASSIGN_{named['face_id']}", "reply_text": "Lin"})
            assert status == 200, body
            cmd = sub.wait_for(lambda m: m.topic == f"{BASE}/cmd/reassign", 20).json()
            assert cmd == {"name": "lin", "face_id": named["face_id"]}
            reply = sub.wait_for(lambda m: m.topic.endswith("/reply/reassign"), 60).json()
            assert reply["ok"] and reply["data"]["from"] == "lin_manuel", reply
    finally:
        p.stop()
    problems = _problems(hass.log_text())
    assert not problems, "\n".join(problems)
