"""Topic layout, segment validation, and the test broker itself (a real mosquitto round trip)."""

from __future__ import annotations

import pytest

from edged.core.models import Message
from edged.core.topics import Topics, check_prefix, check_segment


@pytest.fixture
def t() -> Topics:
    return Topics("frd", "door", "homeassistant")


def test_device_topics(t: Topics) -> None:
    assert t.base == "frd/door"
    assert t.availability == "frd/door/availability"
    assert t.status == "frd/door/status"
    assert t.event == "frd/door/event"
    assert t.state_camera("front") == "frd/door/state/camera/front"
    assert t.state_person("alice") == "frd/door/state/person/alice"
    assert t.face_image("front") == "frd/door/face/front"
    assert t.last_seen("alice") == "frd/door/state/last_seen/alice"
    assert t.faces_now("front") == "frd/door/state/faces/front"
    assert t.discovery_device == "homeassistant/device/frd_door/config" and t.is_own_discovery(t.discovery_device)
    assert not t.is_own_discovery("homeassistant/device/frd_garage/config")


def test_command_topics(t: Topics) -> None:
    assert t.cmd("enroll") == "frd/door/cmd/enroll"
    assert t.cmd("enroll", "alice") == "frd/door/cmd/enroll/alice"
    assert t.cmd_wildcard == "frd/door/cmd/#"
    assert t.fleet_cmd("reload") == "frd/all/cmd/reload"
    assert t.fleet_cmd("delete", "bob") == "frd/all/cmd/delete/bob"
    assert t.fleet_cmd_wildcard == "frd/all/cmd/#"
    assert t.reply("enroll") == "frd/door/reply/enroll"


def test_gallery_and_ha_topics(t: Topics) -> None:
    assert t.gallery_person("alice") == "frd/gallery/alice"
    assert t.gallery_wildcard == "frd/gallery/+"
    assert t.ha_status == "homeassistant/status"
    assert t.node_id == "frd_door"
    assert t.discovery("sensor", "fps") == "homeassistant/sensor/frd_door/fps/config"
    assert t.discovery_wildcard == "homeassistant/+/frd_door/+/config"


def test_multi_level_prefixes() -> None:
    t = Topics("home/frd", "door-2", "ha/discovery")
    assert t.event == "home/frd/door-2/event"
    assert t.fleet_cmd("x") == "home/frd/all/cmd/x"
    assert t.discovery("event", "recognition") == "ha/discovery/event/frd_door-2/recognition/config"
    assert t.parse_cmd("home/frd/door-2/cmd/status") == ("status", None)
    assert t.parse_cmd("home/frd/all/cmd/status") == ("status", None)


@pytest.mark.parametrize(
    ("topic", "want"),
    [
        ("frd/door/cmd/enroll/alice", ("enroll", "alice")),
        ("frd/door/cmd/status", ("status", None)),
        ("frd/all/cmd/enroll/alice", ("enroll", "alice")),
        ("frd/all/cmd/reload", ("reload", None)),
        ("frd/garage/cmd/status", None),  # another device
        ("frd/doorbell/cmd/status", None),  # prefix of another device id
        ("other/door/cmd/status", None),
        ("frd/door/cmd/", None),
        ("frd/door/cmd/enroll/", None),
        ("frd/door/cmd/enroll/alice/extra", None),
        ("frd/door/cmd", None),
        ("frd/door/reply/status", None),
        ("frd/door/event", None),
    ],
)
def test_parse_cmd(t: Topics, topic: str, want: tuple[str, str | None] | None) -> None:
    assert t.parse_cmd(topic) == want


def test_parse_cmd_round_trips(t: Topics) -> None:
    assert t.parse_cmd(t.cmd("rename", "bob")) == ("rename", "bob")
    assert t.parse_cmd(t.fleet_cmd("sync")) == ("sync", None)


@pytest.mark.parametrize("bad", ["", "a/b", "a+", "#", "x\x00"])
def test_segments_validated(t: Topics, bad: str) -> None:
    with pytest.raises(ValueError):
        check_segment(bad)
    for build in (t.state_camera, t.state_person, t.cmd, t.reply, t.gallery_person, t.fleet_cmd, t.face_image,
                  t.last_seen, t.faces_now):
        with pytest.raises(ValueError):
            build(bad)
    with pytest.raises(ValueError):
        t.cmd("enroll", bad)


@pytest.mark.parametrize("bad", ["", "/frd", "frd/", "a//b", "frd/#", "+/x", "$SYS"])
def test_prefix_validated(bad: str) -> None:
    with pytest.raises(ValueError):
        check_prefix(bad)
    with pytest.raises(ValueError):
        Topics(bad, "door")
    with pytest.raises(ValueError):
        Topics("frd", "door", bad)


@pytest.mark.parametrize("bad", ["", "all", "gallery", "a/b", "a b", "a.b", "#"])
def test_device_id_validated(bad: str) -> None:
    with pytest.raises(ValueError):
        Topics("frd", bad)


def test_discovery_ids_validated(t: Topics) -> None:
    for component, object_id in [("sensor", "a b"), ("sensor", "a/b"), ("", "x"), ("sensor", ""), ("sen+sor", "x")]:
        with pytest.raises(ValueError):
            t.discovery(component, object_id)


def test_is_own_discovery(t: Topics) -> None:
    assert t.is_own_discovery("homeassistant/sensor/frd_door/fps/config")
    assert not t.is_own_discovery("homeassistant/sensor/frd_garage/fps/config")
    assert not t.is_own_discovery("homeassistant/sensor/frd_door/fps/state")
    assert not t.is_own_discovery("other/sensor/frd_door/fps/config")
    assert not t.is_own_discovery("homeassistant/sensor/frd_door/fps/x/config")


def test_message_defaults() -> None:
    m = Message("a/b", "x")
    assert (m.retain, m.qos) == (False, 0)
    with pytest.raises(AttributeError):
        m.topic = "c"  # type: ignore[misc]
