"""Home Assistant discovery payloads: golden files, documented keys only, ids unique.

Regenerate the golden files after an intended change with
``FRD_UPDATE_GOLDEN=1 python -m pytest tests/unit/test_discovery.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from edged.core.models import Message
from edged.core.topics import Topics
from edged.integrations.discovery import (
    EVENT_TYPES,
    DiscoveryDevice,
    all_discovery,
    camera_removal,
    device_config,
    device_removal,
    person_config,
    person_removal,
    person_removals,
    person_rename,
    removal_all,
    slug,
    stale_removals,
    wanted_discovery,
)
from edged.mqtt.payloads import faces_now_body

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CAMERAS = ["front", "garden"]
PERSONS = ["alice", "bob-smith"]

# Keys documented on home-assistant.io for MQTT sensor / binary_sensor / event
# (long forms only; abbreviations are not used so payloads stay readable).
_COMMON = {
    "availability", "availability_mode", "availability_template", "availability_topic", "default_entity_id",
    "device", "device_class", "enabled_by_default", "encoding", "entity_category", "icon",
    "json_attributes_template", "json_attributes_topic", "name", "origin", "payload_available",
    "payload_not_available", "qos", "state_topic", "unique_id", "value_template",
}  # fmt: skip
ALLOWED: dict[str, set[str]] = {
    "sensor": _COMMON | {
        "entity_picture", "expire_after", "force_update", "last_reset_value_template", "options", "state_class",
        "suggested_display_precision", "unit_of_measurement",
    },
    "binary_sensor": _COMMON | {
        "entity_picture", "expire_after", "force_update", "off_delay", "payload_off", "payload_on",
    },
    "event": _COMMON | {"event_types"},
    # the MQTT image platform: no state_topic, the JPEG bytes come on image_topic
    "image": (_COMMON - {"state_topic", "value_template", "device_class"}) | {
        "content_type", "image_encoding", "image_topic", "url_template", "url_topic",
    },
    # the MQTT button platform: no state, a command on press
    "button": (_COMMON - {"state_topic", "value_template"}) | {
        "command_template", "command_topic", "payload_press", "retain",
    },
}  # fmt: skip
DEVICE_KEYS = {
    "configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model", "model_id", "name",
    "serial_number", "suggested_area", "sw_version", "via_device",
}  # fmt: skip
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
AVAILABILITY_KEYS = {"topic", "payload_available", "payload_not_available", "value_template"}


@pytest.fixture
def topics() -> Topics:
    return Topics("frd", "door", "homeassistant")


@pytest.fixture
def dev(topics: Topics) -> DiscoveryDevice:
    # A fixed version, not __version__, so a release does not churn the golden files.
    return DiscoveryDevice(topics, version="1.2.3", model_name="facenet_int8", support_url="https://example.org/frd",
                           face_image=True, snapshot=True)


def _as_json(messages: list[Message]) -> list[dict[str, Any]]:
    return [
        {"topic": m.topic, "retain": m.retain, "qos": m.qos, "payload": json.loads(m.payload) if m.payload else ""}
        for m in messages
    ]


def _golden(name: str, messages: list[Message]) -> None:
    path = GOLDEN / name
    got = _as_json(messages)
    if os.environ.get("FRD_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(got, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    assert path.exists(), f"{path} missing: run with FRD_UPDATE_GOLDEN=1 and review it"
    assert got == json.loads(path.read_text(encoding="utf-8"))


def _component(m: Message) -> str:
    return m.topic.split("/")[1]


def test_golden_all(dev: DiscoveryDevice) -> None:
    _golden("discovery_all.json", all_discovery(dev, CAMERAS, PERSONS))


def test_golden_removal_all(topics: Topics) -> None:
    _golden("discovery_removal_all.json", removal_all(topics, CAMERAS, PERSONS))


def test_golden_person_rename(dev: DiscoveryDevice) -> None:
    _golden("discovery_person_rename.json", person_rename(dev, "alice", "alicia"))


def test_payloads_are_compact_deterministic_json(dev: DiscoveryDevice) -> None:
    a = all_discovery(dev, CAMERAS, PERSONS)
    assert a == all_discovery(dev, CAMERAS, PERSONS)
    for m in a:
        assert m.payload == json.dumps(json.loads(m.payload), sort_keys=True, separators=(",", ":"))


def test_only_documented_keys(dev: DiscoveryDevice) -> None:
    for m in all_discovery(dev, CAMERAS, PERSONS):
        payload = json.loads(m.payload)
        component = _component(m)
        assert component in ALLOWED, m.topic
        assert set(payload) <= ALLOWED[component], (m.topic, set(payload) - ALLOWED[component])
        assert set(payload["device"]) <= DEVICE_KEYS
        assert set(payload["origin"]) <= ORIGIN_KEYS
        for item in payload["availability"]:
            assert set(item) <= AVAILABILITY_KEYS


def test_every_config_is_complete(dev: DiscoveryDevice, topics: Topics) -> None:
    for m in all_discovery(dev, CAMERAS, PERSONS):
        assert m.retain is True and m.qos == 1
        assert topics.is_own_discovery(m.topic)
        p = json.loads(m.payload)
        component = _component(m)
        assert p["availability"] == [
            {"topic": topics.availability, "payload_available": "online", "payload_not_available": "offline"}
        ]
        assert p["device"]["identifiers"] == ["frd_door"]
        assert p["device"]["sw_version"] == "1.2.3" and "facenet_int8" in p["device"]["model"]
        assert p["origin"] == {"name": "frd", "sw_version": "1.2.3", "support_url": "https://example.org/frd"}
        assert p["unique_id"].startswith("frd_door_")
        assert re.fullmatch(rf"{component}\.[a-z0-9_]+", p["default_entity_id"])
        assert p["name"] and (p.get("state_topic") or p.get("image_topic") or p["command_topic"]).startswith(
            "frd/door/")
        if "entity_category" in p:
            assert p["entity_category"] == ("config" if component == "button" else "diagnostic")
        for key in ("state_topic", "json_attributes_topic"):
            if key in p:
                assert not set(p[key]) & {"+", "#"}


def test_unique_ids_unique(dev: DiscoveryDevice) -> None:
    payloads = [json.loads(m.payload) for m in all_discovery(dev, CAMERAS, PERSONS)]
    for key in ("unique_id", "default_entity_id"):
        ids = [p[key] for p in payloads]
        assert len(ids) == len(set(ids)), key
    # Two devices never share an id either.
    other = DiscoveryDevice(Topics("frd", "garage"), "1.2.3", "facenet_int8")
    others = {json.loads(m.payload)["unique_id"] for m in all_discovery(other, CAMERAS, PERSONS)}
    assert not others & {p["unique_id"] for p in payloads}


def test_entities(dev: DiscoveryDevice, topics: Topics) -> None:
    by_topic = {m.topic: json.loads(m.payload) for m in all_discovery(dev, CAMERAS, PERSONS)}
    event = by_topic[topics.discovery("event", "recognition")]
    assert event["event_types"] == list(EVENT_TYPES) == ["recognized", "unknown"]
    assert event["state_topic"] == topics.event
    cam = by_topic[topics.discovery("sensor", "camera_front_last_person")]
    assert cam["state_topic"] == cam["json_attributes_topic"] == topics.state_camera("front")
    person = by_topic[topics.discovery("binary_sensor", "person_bob-smith")]
    assert person["device_class"] == "presence" and person["off_delay"] == 60
    assert person["state_topic"] == topics.state_person("bob-smith")
    for oid in ("fps", "dropped_frames", "gallery_size", "model"):
        diag = by_topic[topics.discovery("sensor", oid)]
        assert diag["state_topic"] == topics.status and diag["entity_category"] == "diagnostic"
    faces = by_topic[topics.discovery("sensor", "camera_front_faces")]
    assert faces["state_topic"] == topics.faces_now("front") == "frd/door/state/faces/front"
    image = by_topic[topics.discovery("image", "camera_front_face")]
    assert image["image_topic"] == topics.face_image("front") == "frd/door/face/front"
    assert image["content_type"] == "image/jpeg"
    seen = by_topic[topics.discovery("sensor", "person_alice_last_seen")]
    assert seen["device_class"] == "timestamp"
    assert seen["state_topic"] == seen["json_attributes_topic"] == topics.last_seen("alice")
    button = by_topic[topics.discovery("button", "camera_front_take_snapshot")]
    assert button["command_topic"] == topics.cmd("snapshot", "front") == "frd/door/cmd/snapshot/front"
    assert button["payload_press"] == "{}"  # a command's payload is JSON
    shown = by_topic[topics.discovery("image", "camera_front_snapshot")]
    assert shown["image_topic"] == topics.snapshot("front") == "frd/door/snapshot/front"
    assert len(by_topic) == 1 + 4 + 5 * len(CAMERAS) + 2 * len(PERSONS)


def test_face_image_is_opt_in(topics: Topics) -> None:
    off = DiscoveryDevice(topics, "1.2.3", "m")
    components = {_component(m) for m in all_discovery(off, CAMERAS, PERSONS)}
    assert "image" not in components and "sensor" in components
    on = DiscoveryDevice(topics, "1.2.3", "m", face_image=True)
    assert sum(_component(m) == "image" for m in all_discovery(on, CAMERAS, PERSONS)) == len(CAMERAS)
    # switched off: a retained image config of an earlier run is emptied
    stale = stale_removals(topics, [m.topic for m in all_discovery(on, CAMERAS, PERSONS)],
                           all_discovery(off, CAMERAS, PERSONS))
    assert {m.topic for m in stale} == {topics.discovery("image", f"camera_{c}_face") for c in CAMERAS}


def test_the_snapshot_is_opt_in(topics: Topics) -> None:
    """A frame shows everyone in view: no button or image unless snapshot.enabled; switched off, emptied."""
    off = DiscoveryDevice(topics, "1.2.3", "m")
    assert "button" not in {_component(m) for m in all_discovery(off, CAMERAS, PERSONS)}
    on = DiscoveryDevice(topics, "1.2.3", "m", snapshot=True)
    stale = stale_removals(topics, [m.topic for m in all_discovery(on, CAMERAS, PERSONS)],
                           all_discovery(off, CAMERAS, PERSONS))
    assert {m.topic for m in stale} == {t for cam in CAMERAS for t in (
        topics.discovery("button", f"camera_{cam}_take_snapshot"), topics.discovery("image", f"camera_{cam}_snapshot"))}


def test_off_delay_and_support_url_configurable(topics: Topics) -> None:
    dev = DiscoveryDevice(topics, "1.2.3", "m", off_delay_s=15)
    p = json.loads(person_config(dev, "alice").payload)
    assert p["off_delay"] == 15
    assert p["origin"] == {"name": "frd", "sw_version": "1.2.3"}


def test_removal_matches_config(dev: DiscoveryDevice, topics: Topics) -> None:
    configs = all_discovery(dev, CAMERAS, PERSONS)
    removals = removal_all(topics, CAMERAS, PERSONS)
    assert sorted(m.topic for m in removals) == sorted(m.topic for m in configs)
    assert all(m.payload == "" and m.retain and m.qos == 1 for m in removals)
    assert person_removal(topics, "alice").topic == person_config(dev, "alice").topic
    assert camera_removal(topics, "front").topic == topics.discovery("sensor", "camera_front_last_person")


def test_rename_is_removal_then_config(dev: DiscoveryDevice) -> None:
    gone, gone_seen, new, new_seen = person_rename(dev, "alice", "alicia")
    assert gone == person_removal(dev.topics, "alice")
    assert gone_seen.topic == dev.topics.discovery("sensor", "person_alice_last_seen") and gone_seen.payload == ""
    assert new == person_config(dev, "alicia")
    assert json.loads(new_seen.payload)["state_topic"] == dev.topics.last_seen("alicia")


def test_stale_removals(dev: DiscoveryDevice, topics: Topics) -> None:
    wanted = all_discovery(dev, CAMERAS, ["alice"])
    retained = [m.topic for m in all_discovery(dev, CAMERAS, PERSONS)] + [
        "homeassistant/binary_sensor/frd_garage/person_bob/config",  # another device: never touched
    ]
    stale = stale_removals(topics, retained, wanted)
    assert stale == [Message(topics.discovery("binary_sensor", "person_bob-smith"), "", retain=True, qos=1),
                     Message(topics.discovery("sensor", "person_bob-smith_last_seen"), "", retain=True, qos=1)]


def test_duplicate_entities_refused(dev: DiscoveryDevice) -> None:
    with pytest.raises(ValueError, match="share a discovery topic"):
        all_discovery(dev, ["front", "front"], [])


def test_slug() -> None:
    assert slug("alice") == "alice"
    assert slug("bob-smith_2") == "bob-smith_2"
    assert slug("Alice") != slug("alice")
    assert re.fullmatch(r"[a-z0-9_-]+", slug("Zoë Ünal"))


# ---------------------------------------------------------------- payload contract

CONTRACT = json.loads((GOLDEN / "state_examples.json").read_text(encoding="utf-8"))


def _template_keys(template: str) -> set[str]:
    return set(re.findall(r"value_json\.([A-Za-z_][A-Za-z0-9_]*)", template))


def test_templates_only_read_documented_state_keys(dev: DiscoveryDevice, topics: Topics) -> None:
    """The daemon's state JSON shapes (tests/golden/state_examples.json) carry every key a template reads."""
    examples = {
        topics.state_camera("front"): CONTRACT["camera_state"],
        topics.state_person("alice"): CONTRACT["person_state"],
        topics.status: CONTRACT["status"],
        topics.faces_now("front"): faces_now_body("front", 2),
        topics.last_seen("alice"): CONTRACT["last_seen"],
    }
    for m in all_discovery(dev, ["front"], ["alice"]):
        p = json.loads(m.payload)
        if "image_topic" in p or "command_topic" in p:
            continue  # bytes, no template; a button has no state
        if p["state_topic"] not in examples:
            continue

        example = examples[p["state_topic"]]
        for key in ("value_template", "json_attributes_template"):
            assert _template_keys(p.get(key, "")) <= set(example), (m.topic, key)


def test_event_examples_match_event_types() -> None:
    for example in CONTRACT["events"]:
        assert example["event_type"] in EVENT_TYPES


# ---------------------------------------------------------------- device-based discovery (HA 2024.11+)


@pytest.fixture
def device_dev(topics: Topics) -> DiscoveryDevice:
    return DiscoveryDevice(topics, version="1.2.3", model_name="facenet_int8", support_url="https://example.org/frd",
                           face_image=True, snapshot=True, format="device")


def test_golden_device_format(device_dev: DiscoveryDevice) -> None:
    _golden("discovery_device_all.json", wanted_discovery(device_dev, CAMERAS, PERSONS))


def test_device_format_holds_the_same_entities_in_one_config(dev: DiscoveryDevice, device_dev: DiscoveryDevice,
                                                               topics: Topics) -> None:
    (m,) = wanted_discovery(device_dev, CAMERAS, PERSONS)
    assert m.topic == "homeassistant/device/frd_door/config" == topics.discovery_device
    assert m.retain is True and m.qos == 1 and topics.is_own_discovery(m.topic)
    p = json.loads(m.payload)
    assert set(p) == {"device", "origin", "components"}
    assert p["device"]["identifiers"] == ["frd_door"] and p["origin"]["name"] == "frd"
    entities = {e.topic.split("/")[-2]: (e.topic.split("/")[1], json.loads(e.payload))
                for e in all_discovery(dev, CAMERAS, PERSONS)}
    assert set(p["components"]) == set(entities)
    for object_id, comp in p["components"].items():
        platform, entity = entities[object_id]
        assert comp["platform"] == platform
        # the same unique ids: switching formats keeps the entities (and their history) in Home Assistant
        assert comp["unique_id"] == entity["unique_id"]
        assert {k: v for k, v in comp.items() if k != "platform"} == {
            k: v for k, v in entity.items() if k not in ("device", "origin")}
        assert set(comp) - {"platform"} <= ALLOWED[platform]


def test_device_format_removes_a_person_with_bare_platforms(device_dev: DiscoveryDevice, topics: Topics) -> None:
    m = device_config(device_dev, CAMERAS, ["alice"], gone=person_removals(topics, "bob-smith"))
    comps = json.loads(m.payload)["components"]
    assert comps["person_bob-smith"] == {"platform": "binary_sensor"}
    assert comps["person_bob-smith_last_seen"] == {"platform": "sensor"}
    assert comps["person_alice"]["platform"] == "binary_sensor" and "unique_id" in comps["person_alice"]
    assert device_removal(topics) == Message(topics.discovery_device, "", retain=True, qos=1)


def test_switching_formats_empties_the_other_formats_configs(dev: DiscoveryDevice, device_dev: DiscoveryDevice,
                                                            topics: Topics) -> None:
    entity_topics = [m.topic for m in all_discovery(dev, CAMERAS, PERSONS)]
    # entity -> device: every per-entity config goes, the device config stays
    stale = stale_removals(topics, [*entity_topics, topics.discovery_device], wanted_discovery(device_dev, CAMERAS,
                                                                                                PERSONS))
    assert sorted(m.topic for m in stale) == sorted(entity_topics)
    assert all(m.payload == "" and m.retain for m in stale)
    # device -> entity: the device config goes, nothing else
    stale = stale_removals(topics, [*entity_topics, topics.discovery_device], wanted_discovery(dev, CAMERAS, PERSONS))
    assert [m.topic for m in stale] == [topics.discovery_device]
    # another device's device config is never touched
    other = Topics("frd", "garage").discovery_device
    assert stale_removals(topics, [other], wanted_discovery(dev, CAMERAS, PERSONS)) == []
