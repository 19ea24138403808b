"""Every MQTT topic frd uses, built in one place.

Topics are an interface with Home Assistant, other frd devices and people's
automations: building them anywhere else invites a typo that nobody notices
until a message goes nowhere. Segments are validated so that a camera or
person name can never inject a wildcard or an extra level.

Layout (``<base>`` = ``<base_topic>/<device_id>``)::

    <base>/availability              online | offline (retained, LWT)
    <base>/status                    diagnostics JSON (retained)
    <base>/event                     one JSON per recognition / unknown face
    <base>/state/camera/<camera>     last result of a camera (retained JSON)
    <base>/state/person/<name>       a person was seen (JSON)
    <base>/face/<camera>             last announced face, aligned chip as JPEG (opt-in, not retained)
    <base>/snapshot/<camera>         one downscaled frame when asked (cmd/snapshot; opt-in, not retained)
    <base>/state/last_seen/<name>    where and when a person was last seen (retained JSON)
    <base>/state/faces/<camera>      how many faces a camera follows now (retained JSON)
    <base>/cmd/<command>[/<arg>]     commands to this device
    <base>/reply/<command>           replies to commands
    <base_topic>/all/cmd/<command>[/<arg>]   commands to every device
    <base_topic>/gallery/<name>      fleet gallery sync
    <prefix>/status                  Home Assistant birth / will
    <prefix>/<component>/frd_<device_id>/<object_id>/config   HA discovery, one entity a topic
    <prefix>/device/frd_<device_id>/config                    HA discovery, the whole device (2024.11+)
"""

from __future__ import annotations

import re

AVAILABLE = "online"
NOT_AVAILABLE = "offline"
FLEET = "all"
GALLERY = "gallery"
RESERVED_DEVICE_IDS = frozenset({FLEET, GALLERY})

# Home Assistant only accepts these characters in discovery node and object ids.
_DISCOVERY_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
_FORBIDDEN = ("+", "#", "/", "\x00")


def check_segment(value: str, what: str = "topic segment") -> str:
    """Return ``value`` if it is usable as one topic level, so names cannot add levels or wildcards."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string")
    for ch in _FORBIDDEN:
        if ch in value:
            shown = "NUL" if ch == "\x00" else repr(ch)
            raise ValueError(f"{what} {value!r} must not contain {shown}")
    return value


def check_prefix(value: str, what: str = "topic prefix") -> str:
    """Validate a multi-level prefix (``home/frd``): every level non-empty and wildcard-free."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string")
    if value.startswith("$"):
        raise ValueError(f"{what} {value!r} must not start with '$' (reserved by brokers)")
    for level in value.split("/"):
        if not level:
            raise ValueError(f"{what} {value!r} has an empty level (leading, trailing or double '/')")
        if any(ch in level for ch in _FORBIDDEN):
            raise ValueError(f"{what} {value!r} must not contain the wildcards '+' or '#'")
    return value


class Topics:
    """Topic builder for one device; see the module docstring for the layout."""

    def __init__(self, base_topic: str, device_id: str, discovery_prefix: str = "homeassistant") -> None:
        self.base_topic = check_prefix(base_topic, "base_topic")
        self.device_id = check_segment(device_id, "device_id")
        if device_id in RESERVED_DEVICE_IDS:
            raise ValueError(f"device_id {device_id!r} is reserved (it would collide with fleet topics)")
        if not _DISCOVERY_ID.match(device_id):
            raise ValueError(f"device_id {device_id!r} may only use letters, digits, '_' and '-'")
        self.discovery_prefix = check_prefix(discovery_prefix, "discovery prefix")
        self.base = f"{self.base_topic}/{self.device_id}"
        self.node_id = f"frd_{self.device_id}"

    def __repr__(self) -> str:
        return f"Topics({self.base_topic!r}, {self.device_id!r}, {self.discovery_prefix!r})"

    # -- device state -------------------------------------------------
    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def event(self) -> str:
        return f"{self.base}/event"

    def state_camera(self, camera: str) -> str:
        return f"{self.base}/state/camera/{check_segment(camera, 'camera name')}"

    def state_person(self, name: str) -> str:
        return f"{self.base}/state/person/{check_segment(name, 'person name')}"

    def face_image(self, camera: str) -> str:
        """The last announced face of ``camera`` (``homeassistant.face_image``): JPEG bytes."""
        return f"{self.base}/face/{check_segment(camera, 'camera name')}"

    def snapshot(self, camera: str) -> str:
        """A look through ``camera`` when asked (``snapshot.enabled``, ``cmd/snapshot``): JPEG bytes."""
        return f"{self.base}/snapshot/{check_segment(camera, 'camera name')}"

    def last_seen(self, name: str) -> str:
        return f"{self.base}/state/last_seen/{check_segment(name, 'person name')}"

    def faces_now(self, camera: str) -> str:
        return f"{self.base}/state/faces/{check_segment(camera, 'camera name')}"

    # -- commands -------------------------------------------------------
    def cmd(self, command: str, arg: str | None = None) -> str:
        return _with_arg(f"{self.base}/cmd/{check_segment(command, 'command')}", arg)

    @property
    def cmd_wildcard(self) -> str:
        return f"{self.base}/cmd/#"

    def fleet_cmd(self, command: str, arg: str | None = None) -> str:
        return _with_arg(f"{self.base_topic}/{FLEET}/cmd/{check_segment(command, 'command')}", arg)

    @property
    def fleet_cmd_wildcard(self) -> str:
        return f"{self.base_topic}/{FLEET}/cmd/#"

    def reply(self, command: str) -> str:
        return f"{self.base}/reply/{check_segment(command, 'command')}"

    def parse_cmd(self, topic: str) -> tuple[str, str | None] | None:
        """Split a command topic into (command, arg); None for anything that is not a well-formed command."""
        for prefix in (f"{self.base}/cmd/", f"{self.base_topic}/{FLEET}/cmd/"):
            if topic.startswith(prefix):
                parts = topic[len(prefix) :].split("/")
                if len(parts) > 2 or not all(parts):
                    return None
                return parts[0], (parts[1] if len(parts) == 2 else None)
        return None

    # -- fleet gallery sync -------------------------------------------
    def gallery_person(self, name: str) -> str:
        return f"{self.base_topic}/{GALLERY}/{check_segment(name, 'person name')}"

    @property
    def gallery_wildcard(self) -> str:
        return f"{self.base_topic}/{GALLERY}/+"

    # -- Home Assistant -----------------------------------------------
    @property
    def ha_status(self) -> str:
        return f"{self.discovery_prefix}/status"

    def discovery(self, component: str, object_id: str) -> str:
        for value, what in ((component, "discovery component"), (object_id, "discovery object_id")):
            if not isinstance(value, str) or not _DISCOVERY_ID.match(value):
                raise ValueError(f"{what} {value!r} may only use letters, digits, '_' and '-'")
        return f"{self.discovery_prefix}/{component}/{self.node_id}/{object_id}/config"

    @property
    def discovery_device(self) -> str:
        """Home Assistant 2024.11+'s device-based discovery: every entity of the device in one config."""
        return f"{self.discovery_prefix}/device/{self.node_id}/config"

    @property
    def discovery_wildcard(self) -> str:
        """Matches every per-entity discovery config of this device, to find stale retained ones."""
        return f"{self.discovery_prefix}/+/{self.node_id}/+/config"

    def is_own_discovery(self, topic: str) -> bool:
        """A discovery config of this device, in either format."""
        if topic == self.discovery_device:
            return True
        head = f"{self.discovery_prefix}/"
        if not topic.startswith(head):
            return False
        parts = topic[len(head) :].split("/")
        return len(parts) == 4 and parts[1] == self.node_id and parts[3] == "config" and all(parts)


def _with_arg(topic: str, arg: str | None) -> str:
    return topic if arg is None else f"{topic}/{check_segment(arg, 'command argument')}"
