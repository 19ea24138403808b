"""Home Assistant MQTT discovery, as pure functions that return messages.

Nothing here talks to MQTT: :mod:`edged.integrations.ha` publishes what these functions
return, which keeps the payloads testable against golden files and lets the
same code serve startup, Home Assistant's birth message and gallery changes.

Entities of one device (node id ``frd_<device_id>``):

* ``sensor``  ``camera_<camera>_last_person`` -- state = person name or "unknown";
  attributes = the camera state JSON.
* ``sensor``  ``camera_<camera>_faces`` -- how many faces the camera follows now.
* ``image``   ``camera_<camera>_face`` -- the last announced face (JPEG chip); only
  with ``homeassistant.face_image``.
* ``button``  ``camera_<camera>_take_snapshot`` and ``image`` ``camera_<camera>_snapshot`` -- a look
  through the camera when pressed (``cmd/snapshot/<camera>``, the frame on
  ``<base>/snapshot/<camera>``); only with ``snapshot.enabled``.
* ``binary_sensor`` ``person_<slug>`` -- presence of one enrolled person, turned
  off by Home Assistant ``off_delay_s`` after the last "on".
* ``sensor``  ``person_<slug>_last_seen`` -- when (state, a timestamp) and where
  (attribute ``camera``) the person was last seen.
* ``event``   ``recognition`` -- one per recognised / unknown face on ``<base>/event``.
* ``sensor``  ``fps``, ``dropped_frames``, ``gallery_size``, ``model`` -- diagnostics
  read from the retained ``<base>/status`` JSON.

Configs are published retained (QoS 1) so Home Assistant finds them after its
own restart; an empty retained payload removes an entity. Two formats
(``homeassistant.discovery_format``): ``entity``, one topic per entity (every Home
Assistant), or ``device``, Home Assistant 2024.11+'s one config for the whole device
(``<prefix>/device/frd_<device_id>/config`` with the same entities under
``components``, keyed by the same object ids and with the same unique ids).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..config import HomeAssistantConfig, SnapshotConfig, default
from ..core.models import Message
from ..core.names import ALPHABET, slugify
from ..core.topics import AVAILABLE, NOT_AVAILABLE, Topics
from ..mqtt.payloads import PERSON_OFF, PERSON_ON, UNKNOWN_PERSON

EVENT_TYPES = ("recognized", "unknown")
DISCOVERY_QOS = 1
_SLUG_RE = re.compile(rf"^[{ALPHABET}]+$")


@dataclass(frozen=True)
class DiscoveryDevice:
    """What every config payload says about the device: plain data, so callers need no config object."""

    topics: Topics
    version: str
    model_name: str
    off_delay_s: int = default(HomeAssistantConfig, "presence_off_delay_s")
    support_url: str | None = None
    face_image: bool = default(HomeAssistantConfig, "face_image")  # an image entity per camera
    snapshot: bool = default(SnapshotConfig, "enabled")  # a snapshot button and image per camera
    format: str = default(HomeAssistantConfig, "discovery_format")  # entity | device

    @property
    def device_id(self) -> str:
        return self.topics.device_id


def slug(name: str) -> str:
    """A discovery-safe id for a person name; a hash suffix keeps 'Alice' and 'alice' apart."""
    if _SLUG_RE.match(name):
        return name
    base = slugify(name, "_").strip("_-")[:48]
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return f"{base}_{digest}" if base else digest


def device_block(dev: DiscoveryDevice) -> dict[str, Any]:
    """The ``device`` map that groups all entities under one Home Assistant device."""
    return {
        "identifiers": [dev.topics.node_id],
        "name": f"frd {dev.device_id}",
        "manufacturer": "frd",
        "model": f"frd face recognition ({dev.model_name})",
        "sw_version": dev.version,
    }


def origin_block(dev: DiscoveryDevice) -> dict[str, Any]:
    """The ``origin`` map: tells Home Assistant users which software created the entity."""
    origin: dict[str, Any] = {"name": "frd", "sw_version": dev.version}
    if dev.support_url:
        origin["support_url"] = dev.support_url
    return origin


def _config(dev: DiscoveryDevice, component: str, object_id: str, fields: dict[str, Any]) -> Message:
    unique_id = f"{dev.topics.node_id}_{object_id}"
    payload: dict[str, Any] = {
        "unique_id": unique_id,
        # default_entity_id replaces the deprecated object_id; entity ids only allow [a-z0-9_].
        "default_entity_id": f"{component}.{unique_id.lower().replace('-', '_')}",
        **fields,
        "availability": [
            {
                "topic": dev.topics.availability,
                "payload_available": AVAILABLE,
                "payload_not_available": NOT_AVAILABLE,
            }
        ],
        "device": device_block(dev),
        "origin": origin_block(dev),
    }
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return Message(dev.topics.discovery(component, object_id), body, retain=True, qos=DISCOVERY_QOS)


def _removal(topics: Topics, component: str, object_id: str) -> Message:
    return Message(topics.discovery(component, object_id), "", retain=True, qos=DISCOVERY_QOS)


# ---------------------------------------------------------------- per camera


def _camera_object_id(camera: str, entity: str = "last_person") -> str:
    """A camera entity's object id: its last person (sensor), ``faces`` (sensor) or ``face`` (image)."""
    return f"camera_{slug(camera)}_{entity}"


def camera_config(dev: DiscoveryDevice, camera: str) -> Message:
    """Sensor with the last person seen by ``camera`` (the camera state JSON's ``person``)."""
    state = dev.topics.state_camera(camera)
    return _config(
        dev,
        "sensor",
        _camera_object_id(camera),
        {
            "name": f"{camera} last person",
            "state_topic": state,
            "value_template": f"{{{{ value_json.person | default('{UNKNOWN_PERSON}', true) }}}}",
            "json_attributes_topic": state,
            "icon": "mdi:account-search",
        },
    )


def camera_removal(topics: Topics, camera: str) -> Message:
    return _removal(topics, "sensor", _camera_object_id(camera))


def faces_now_config(dev: DiscoveryDevice, camera: str) -> Message:
    """Sensor with how many faces ``camera`` follows now (published on change, at most once a second)."""
    return _config(
        dev,
        "sensor",
        _camera_object_id(camera, "faces"),
        {
            "name": f"{camera} faces now",
            "state_topic": dev.topics.faces_now(camera),
            "value_template": "{{ value_json.faces }}",
            "state_class": "measurement",
            "icon": "mdi:face-man-shimmer",
        },
    )


def face_image_config(dev: DiscoveryDevice, camera: str) -> Message:
    """Image entity with the last announced face of ``camera``: the aligned chip as JPEG bytes."""
    return _config(
        dev,
        "image",
        _camera_object_id(camera, "face"),
        {
            "name": f"{camera} last face",
            "image_topic": dev.topics.face_image(camera),
            "content_type": "image/jpeg",
            "icon": "mdi:face-recognition",
        },
    )


#: What the snapshot button sends (a command's payload is JSON: an empty object, no options).
SNAPSHOT_PRESS = "{}"


def snapshot_configs(dev: DiscoveryDevice, camera: str) -> list[Message]:
    """A button that asks ``camera`` for a snapshot, and the image entity that shows it (aiming a camera)."""
    button = _config(dev, "button", _camera_object_id(camera, "take_snapshot"), {
        "name": f"{camera} snapshot",
        "command_topic": dev.topics.cmd("snapshot", camera),
        "payload_press": SNAPSHOT_PRESS,
        "icon": "mdi:camera-iris",
        "entity_category": "config",
    })
    image = _config(dev, "image", _camera_object_id(camera, "snapshot"), {
        "name": f"{camera} snapshot",
        "image_topic": dev.topics.snapshot(camera),
        "content_type": "image/jpeg",
        "icon": "mdi:camera-iris",
    })
    return [button, image]


def camera_configs(dev: DiscoveryDevice, camera: str) -> list[Message]:
    """Every entity of one camera (the face image only with ``face_image``, the snapshot only with ``snapshot``)."""
    out = [camera_config(dev, camera), faces_now_config(dev, camera)]
    if dev.face_image:
        out.append(face_image_config(dev, camera))
    return [*out, *snapshot_configs(dev, camera)] if dev.snapshot else out


def camera_removals(topics: Topics, camera: str) -> list[Message]:
    return [camera_removal(topics, camera), _removal(topics, "sensor", _camera_object_id(camera, "faces")),
            _removal(topics, "image", _camera_object_id(camera, "face")),
            _removal(topics, "button", _camera_object_id(camera, "take_snapshot")),
            _removal(topics, "image", _camera_object_id(camera, "snapshot"))]


# ---------------------------------------------------------------- per person


def _person_object_id(name: str) -> str:
    return f"person_{slug(name)}"


def person_config(dev: DiscoveryDevice, name: str) -> Message:
    """Presence binary_sensor; Home Assistant turns it off ``off_delay_s`` after the last sighting."""
    state = dev.topics.state_person(name)
    return _config(
        dev,
        "binary_sensor",
        _person_object_id(name),
        {
            "name": f"{name} presence",
            "device_class": "presence",
            "state_topic": state,
            "value_template": "{{ value_json.state }}",
            "payload_on": PERSON_ON,
            "payload_off": PERSON_OFF,
            "off_delay": dev.off_delay_s,
            "json_attributes_topic": state,
        },
    )


def person_removal(topics: Topics, name: str) -> Message:
    return _removal(topics, "binary_sensor", _person_object_id(name))


def last_seen_config(dev: DiscoveryDevice, name: str) -> Message:
    """Timestamp sensor: when ``name`` was last seen, with the camera as an attribute (retained state)."""
    state = dev.topics.last_seen(name)
    return _config(
        dev,
        "sensor",
        f"{_person_object_id(name)}_last_seen",
        {
            "name": f"{name} last seen",
            "device_class": "timestamp",
            "state_topic": state,
            "value_template": "{{ value_json.ts }}",
            "json_attributes_topic": state,
            "icon": "mdi:account-clock",
        },
    )


def person_configs(dev: DiscoveryDevice, name: str) -> list[Message]:
    """Every entity of one person: presence and last seen."""
    return [person_config(dev, name), last_seen_config(dev, name)]


def person_removals(topics: Topics, name: str) -> list[Message]:
    return [person_removal(topics, name), _removal(topics, "sensor", f"{_person_object_id(name)}_last_seen")]


def person_rename(dev: DiscoveryDevice, old: str, new: str) -> list[Message]:
    """A rename is a removal of the old entities then configs of the new (ids derive from the name)."""
    return [*person_removals(dev.topics, old), *person_configs(dev, new)]


# ---------------------------------------------------------------- device level


def event_config(dev: DiscoveryDevice) -> Message:
    """Event entity fed by ``<base>/event``; each event JSON must carry ``event_type``."""
    return _config(
        dev,
        "event",
        "recognition",
        {
            "name": "Recognition",
            "state_topic": dev.topics.event,
            "event_types": list(EVENT_TYPES),
            "icon": "mdi:face-recognition",
        },
    )


_DIAGNOSTICS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "fps",
        {
            "name": "FPS",
            "value_template": "{{ value_json.fps }}",
            # each camera's state (a camera away: reconnecting, its error) and frd's errors, as attributes
            "json_attributes_template": "{{ {'cameras': value_json.cameras, 'errors': value_json.errors} | tojson }}",
            "unit_of_measurement": "fps",
            "state_class": "measurement",
            "suggested_display_precision": 1,
            "icon": "mdi:speedometer",
        },
    ),
    (
        "dropped_frames",
        {
            "name": "Dropped frames",
            "value_template": "{{ value_json.dropped_frames }}",
            "state_class": "total_increasing",
            "icon": "mdi:image-off-outline",
        },
    ),
    (
        "gallery_size",
        {
            "name": "Gallery size",
            "value_template": "{{ value_json.gallery_size }}",
            "unit_of_measurement": "people",
            "state_class": "measurement",
            "icon": "mdi:account-group",
        },
    ),
    (
        "model",
        {
            "name": "Model",
            "value_template": "{{ value_json.model }}",
            "json_attributes_template": "{{ {'model_sha256': value_json.model_sha256} | tojson }}",
            "icon": "mdi:brain",
        },
    ),
)


def diagnostic_configs(dev: DiscoveryDevice) -> list[Message]:
    """Diagnostic sensors, all reading the one retained status JSON (one publish updates them all)."""
    out = []
    for object_id, fields in _DIAGNOSTICS:
        extra: dict[str, Any] = {"state_topic": dev.topics.status, "entity_category": "diagnostic"}
        if "json_attributes_template" in fields:
            extra["json_attributes_topic"] = dev.topics.status
        out.append(_config(dev, "sensor", object_id, {**fields, **extra}))
    return out


def _device_removals(topics: Topics) -> list[Message]:
    return [_removal(topics, "event", "recognition")] + [_removal(topics, "sensor", oid) for oid, _ in _DIAGNOSTICS]


# ---------------------------------------------------------------- whole device


def all_discovery(dev: DiscoveryDevice, cameras: Iterable[str], persons: Iterable[str]) -> list[Message]:
    """Every config for the device: publish at start and whenever Home Assistant says it is online."""
    out = [event_config(dev), *diagnostic_configs(dev)]
    out += [m for c in cameras for m in camera_configs(dev, c)]
    out += [m for p in persons for m in person_configs(dev, p)]
    topics = [m.topic for m in out]
    dupes = sorted({t for t in topics if topics.count(t) > 1})
    if dupes:
        raise ValueError(f"two entities would share a discovery topic: {', '.join(dupes)}")
    return out


def removal_all(topics: Topics, cameras: Iterable[str], persons: Iterable[str]) -> list[Message]:
    """Empty retained configs that remove every entity of the device (e.g. on uninstall)."""
    out = _device_removals(topics)
    out += [m for c in cameras for m in camera_removals(topics, c)]
    out += [m for p in persons for m in person_removals(topics, p)]
    return out


ENTITY_FORMAT = "entity"
DEVICE_FORMAT = "device"


def device_config(dev: DiscoveryDevice, cameras: Iterable[str], persons: Iterable[str],
                  gone: Iterable[Message] = ()) -> Message:
    """Every entity in one device-based config (Home Assistant 2024.11+).

    ``gone``: removals (entity format) of entities to drop now; Home Assistant removes a component
    whose config holds only its platform, after which it may be left out.
    """
    components: dict[str, dict[str, Any]] = {}
    for m in gone:
        platform, object_id = m.topic.split("/")[-4], m.topic.split("/")[-2]
        components[object_id] = {"platform": platform}
    for m in all_discovery(dev, cameras, persons):
        platform, object_id = m.topic.split("/")[-4], m.topic.split("/")[-2]
        fields = {k: v for k, v in json.loads(m.payload).items() if k not in ("device", "origin")}
        components[object_id] = {"platform": platform, **fields}
    payload = {"device": device_block(dev), "origin": origin_block(dev), "components": components}
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return Message(dev.topics.discovery_device, body, retain=True, qos=DISCOVERY_QOS)


def device_removal(topics: Topics) -> Message:
    """Empties the device-based config: every entity of the device goes."""
    return _removal_topic(topics.discovery_device)


def wanted_discovery(dev: DiscoveryDevice, cameras: Iterable[str], persons: Iterable[str]) -> list[Message]:
    """The configs for the device in its format: what the broker should hold (anything else of ours is stale)."""
    if dev.format == DEVICE_FORMAT:
        return [device_config(dev, cameras, persons)]
    return all_discovery(dev, cameras, persons)


def _removal_topic(topic: str) -> Message:
    return Message(topic, "", retain=True, qos=DISCOVERY_QOS)


def stale_removals(topics: Topics, retained_topics: Iterable[str], wanted: Iterable[Message]) -> list[Message]:
    """Removals for this device's retained configs (seen on ``Topics.discovery_wildcard``) no longer wanted.

    Covers people deleted or cameras dropped while the daemon was not running;
    topics of other devices are never touched.
    """
    keep = {m.topic for m in wanted}
    stale = sorted({t for t in retained_topics if topics.is_own_discovery(t) and t not in keep})
    return [Message(t, "", retain=True, qos=DISCOVERY_QOS) for t in stale]
