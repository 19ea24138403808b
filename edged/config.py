"""Strict YAML configuration, and the one home of every default.

A typo in a config key must not silently fall back to a default on a device
nobody is looking at, so unknown keys are refused, and every error names the
file, the line and the dotted key so it can be fixed without guessing.
Secrets never live in the YAML: the MQTT password comes from systemd
credentials or a separate file (see :func:`resolve_password`).

Every option's default is written once, in its section's model below, with the measurement behind it;
a constructor that has a default for the same value reads it from here (:func:`default`), so the daemon,
the command line and a part built alone (a test, a benchmark) start from the same numbers. The
vocabularies the schema checks (strictness levels, detectors) live here too. Imports nothing that loads
OpenCV, dlib or a model (a test guards it): every part may read its defaults from here.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .core.errors import FrdError, InputError
from .core.files import check_private
from .core.keys import AUTHORITY, public_key
from .core.logs import LEVELS as LOG_LEVELS
from .core.names import MAX_LEN, check_id, slugify
from .core.paths import default_gallery
from .core.sources import PICAMERA_PREFIXES, STREAM_SCHEMES, parse_picamera, url_scheme
from .core.topics import RESERVED_DEVICE_IDS, Topics, check_prefix

DEFAULT_CONFIG_PATH = Path("/etc/frd/frd.yaml")
#: Why ``frd run`` (and so ``frd check-config``) refuses a config without cameras: a valid file, but no daemon.
NO_CAMERAS = "no cameras configured (add at least one under 'cameras:')"
#: The strictness levels (``recognition.strictness``), strictest first; each is a promised rate of stranger
#: faces named (the calibration holds one threshold rule per level: edged/vision/match.py).
STRICTNESS_LEVELS = ("strict", "balanced", "lenient")
DEFAULT_STRICTNESS = "balanced"
#: The face detectors ``recognition.detector`` may name (edged/vision/detect/).
DETECTORS = ("hog", "yunet")
CREDENTIAL_NAME = "mqtt_password"
_PASSWORD_HINT = (
    "passwords are not accepted in the YAML; put it in a file named by mqtt.password_file "
    f"(mode 0600) or in the systemd credential {CREDENTIAL_NAME!r}"
)

# Paths come from YAML as strings, so they are the one thing converted leniently.
FilePath = Annotated[Path, Field(strict=False)]


class ConfigError(FrdError):
    """The configuration cannot be used; the message says where and why (one problem per line)."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems if problems is not None else [message]


def _located(msg: str, *sub: str | int) -> PydanticCustomError:
    """An error whose location is ``sub`` below the validator's own, so cross-field errors point at a line."""
    return PydanticCustomError("frd", "{msg}", {"msg": msg, "sub": sub})


def sanitize_device_id(raw: str) -> str:
    """Turn a hostname into a device id that is valid in topics and HA ids ([a-z0-9_-], max 64)."""
    label = raw.strip().split(".")[0].lower()
    slug = slugify(label).strip("-_")[:MAX_LEN].strip("-_")
    if not slug or slug in RESERVED_DEVICE_IDS:
        slug = f"frd-{slug}" if slug else "frd"
    return slug


def _none_is_empty(value: Any, empty: Any) -> Any:
    """A section whose keys are all commented out reads as null; treat it as empty, not as an error."""
    return empty if value is None else value


def _default_device_id() -> str:
    return sanitize_device_id(socket.gethostname())


class _Model(BaseModel):
    """Common settings: unknown keys refused, no silent type coercion (YAML already types values)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def default(section: type[BaseModel], key: str) -> Any:
    """The default of ``key`` in a config section (``default(RecognitionConfig, "vote_frames")``): what a
    constructor takes when its caller gives nothing, so that no default is written twice."""
    return section.model_fields[key].default


class TlsConfig(_Model):
    enabled: bool = False
    ca_file: FilePath | None = None
    cert_file: FilePath | None = None
    key_file: FilePath | None = None
    insecure: bool = False

    @model_validator(mode="after")
    def _key_needs_cert(self) -> TlsConfig:
        if self.key_file is not None and self.cert_file is None:
            raise _located("key_file needs cert_file (the client certificate it belongs to)", "key_file")
        return self


class MqttConfig(_Model):
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=1883, ge=1, le=65535)
    base_topic: str = "frd"
    username: str | None = Field(default=None, min_length=1)
    password_file: FilePath | None = None
    client_id: str | None = Field(default=None, min_length=1, max_length=128)
    keepalive: int = Field(default=30, ge=5, le=3600)
    protocol: Literal["auto", "5", "3.1.1"] = "auto"
    tls: TlsConfig = Field(default_factory=TlsConfig)
    session_expiry_s: int = Field(default=3600, ge=0, le=2**32 - 1)
    offline_queue: int = Field(default=1000, ge=0, le=1_000_000)
    #: ... and at most this many bytes of them (a face image is ~10 kB, an event ~0.5 kB).
    offline_queue_bytes: int = Field(default=8 * 1024 * 1024, ge=64 * 1024, le=1024 * 1024 * 1024)
    reconnect_max_s: int = Field(default=4, ge=1, le=300)

    @field_validator("tls", mode="before")
    @classmethod
    def _empty_section(cls, value: Any) -> Any:
        return _none_is_empty(value, {})

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol_number(cls, value: Any) -> Any:
        # YAML reads `protocol: 5` as an integer; "3.1.1" is already a string.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("base_topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        return check_prefix(value, "base_topic")


class CameraConfig(_Model):
    name: str
    source: int | str
    loop: bool = False
    fps_limit: float | None = Field(default=None, gt=0)
    #: This camera's working size for detection (None: ``recognition.detect_max_side``).
    detect_max_side: int | None = Field(default=None, ge=64, le=8192)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_id(value)

    @field_validator("source", mode="before")
    @classmethod
    def _source(cls, value: Any) -> Any:
        # One clear message instead of pydantic's two (one per union member).
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError("must be a camera index (integer), a device path, a video file or a stream URL "
                             f"({', '.join(STREAM_SCHEMES)})")
        if isinstance(value, int) and value < 0:
            raise ValueError("a camera index must be >= 0")
        if isinstance(value, str):
            if not value.strip():
                raise ValueError("must not be empty")
            if value.startswith(PICAMERA_PREFIXES):
                try:
                    parse_picamera(value)
                except InputError as e:
                    raise ValueError(str(e)) from e
            scheme = url_scheme(value)
            if scheme is not None and scheme not in STREAM_SCHEMES:
                raise ValueError(f"URL scheme {scheme!r} is not supported (use one of: {', '.join(STREAM_SCHEMES)})")
        return value


class GalleryConfig(_Model):
    #: <state dir>/gallery (edged/core/paths.py): /var/lib/frd/gallery under systemd or wherever /var/lib/frd
    #: exists, else the user's ~/.local/share/frd/gallery; the same for ``frd run`` and the command line.
    path: FilePath = Field(default_factory=default_gallery)
    keep_crops: bool = True
    #: Plenty for a home, and a bound on what a flood of enrollments (or of fleet records) can cost in disk,
    #: memory and Home Assistant entities.
    max_people: int = Field(default=100, ge=1, le=100_000)
    max_samples_per_person: int = Field(default=50, ge=1, le=1000)


class SnapshotConfig(_Model):
    """A look through the camera when asked (``cmd/snapshot[/<camera>]``; in Home Assistant a "snapshot" button
    and image per camera): one frame, reduced to ``max_side``, with the faces frd follows and its working size
    drawn, to aim and focus a door camera (edged/vision/snapshot.py). A frame shows everyone in view, so it is
    off by default; when on, it is published once, not retained, and never written to disk."""

    enabled: bool = False
    #: The snapshot's long side in pixels: enough to see where faces are and whether they are sharp.
    max_side: int = Field(default=640, ge=160, le=1920)


class HomeAssistantConfig(_Model):
    discovery: bool = True
    prefix: str = "homeassistant"
    presence_off_delay_s: int = Field(default=60, ge=1)
    #: per camera an image entity with the last announced face (the aligned chip): biometric, so opt-in
    face_image: bool = False
    #: ``entity``: one config topic per entity (every Home Assistant); ``device``: one per device (2024.11+)
    discovery_format: Literal["entity", "device"] = "entity"

    @field_validator("prefix")
    @classmethod
    def _topic(cls, value: str) -> str:
        return check_prefix(value, "prefix")


#: Video frames are reduced to this long side for detection (``recognition.detect_max_side``); None:
#: the detector's own working size: YuNet reduces to ``YUNET_MAX_SIDE`` (640 px; measured
#: on the clip at 1080p: 480 / 640 / 960 px cost 13 / 19 / 20 ms a frame, and at 640 faces of about 30 px
#: of the frame are still found), HOG is not reduced (its smallest face, 80 px, would become 240 px of a
#: 1080p frame: a door camera would miss everyone a step back).
DETECT_MAX_SIDE: int | None = None
#: The face detector when none is configured (``recognition.detector``; ``python -m edged.tools.calibrate``'s default).
#: YuNet: it finds every LFW photo's face (HOG misses 14 of 2,175), turned and small faces on video
#: (the clip: 509 faces to HOG's 159, 151 named to 122), costs a third of HOG's CPU at 1080p, and with
#: its own calibration names fewer strangers (50 people enrolled: 0.66 % against 1.03 %) for 0.8 points
#: fewer of the family named at 50 people (equal at 5 and 20). README, "Measurements".
DEFAULT_DETECTOR: Literal[DETECTORS] = "yunet"


#: Video: faces from this side (frame pixels) are followed and counted (``recognition.follow_min_face_px``).
FOLLOW_MIN_FACE_PX = 12


class MotionConfig(_Model):
    """The motion gate (edged/vision/motion.py ``MotionGate``): no detection while the picture does not change."""

    enabled: bool = True
    threshold: float = Field(default=12.0, gt=0, le=255)
    check_every_s: float = Field(default=2.0, gt=0, le=3600)


class QualityGateConfig(_Model):
    """The video quality gate (edged/vision/quality.py ``Gate``): unreliable faces are followed, never named.

    Its default size and sharpness limits are also what enrollment refuses below (the embedding is too far
    from the person's own; edged/vision/quality.py ``enrollment_verdict``)."""

    enabled: bool = True
    #: Measured on the earlier landmark-rotated chip; on today's (:mod:`edged.vision.align`) the same faces read
    #: the same sharpness within 6 % (300 LFW tuning photos: median 44.0 sharp, 6.6 at a blur of 2 px, 4.3 at
    #: 3 px), so the limits stand.
    min_face_px: int = Field(default=40, ge=1)
    min_sharpness: float = Field(default=5.0, ge=0)
    #: The turn from dlib's points (HOG), in eye distances: a face turned further is followed but not named. On
    #: the clip (benchmarks/quality_gate.py) one embedding disagrees with its own track's verdict 5 % of the time
    #: at 0.1-0.2, 17 % at 0.2-0.3, 53 % at 0.3-0.4 and 80 % at 0.4-0.5: beyond 0.3 it is a coin toss.
    max_yaw: float = Field(default=0.3, gt=0)
    #: The same limit for the turn read from YuNet's own points (``quality.detector_yaw``, the nose *tip*: a
    #: larger reading for the same turn). Chosen on the same clip (benchmarks/quality_gate.py --clip, 520
    #: embeddings in 19 tracks): one embedding disagrees with its track 0-3.6 % of the time per 0.1 bin up to
    #: 0.5, none of 43 at 0.3-0.5, then 50 % at 0.5-0.6, 7 of 7 at 0.6-0.7, 67 % at 0.7-0.8 and 23-29 % beyond
    #: (whole tracks in profile, whose majority is itself unreliable).
    max_yaw_yunet: float = Field(default=0.5, gt=0)


class RecognitionConfig(_Model):
    #: The face detector (:data:`DETECTORS`): OpenCV's YuNet (default) or dlib HOG.
    detector: Literal[DETECTORS] = DEFAULT_DETECTOR
    threshold: float | None = Field(default=None, ge=-20.0, le=50.0)
    strictness: Literal[STRICTNESS_LEVELS] = DEFAULT_STRICTNESS
    upsample: int = Field(default=0, ge=0, le=2)
    min_face_px: int = Field(default=40, ge=1)
    min_face_frac: float = Field(default=0.05, ge=0.0, lt=1.0)
    #: Video: the smallest face (side, frame pixels) detected and followed; under min_face_px / min_face_frac
    #: it is counted but never named (the quality gate). Photos keep min_face_px / min_face_frac.
    follow_min_face_px: int = Field(default=FOLLOW_MIN_FACE_PX, ge=1)
    vote_frames: int = Field(default=3, ge=1)
    vote_window: int = Field(default=5, ge=1)
    cooldown_s: float = Field(default=60, ge=0)
    unknown_cooldown_s: float = Field(default=30, ge=0)
    threads: int = Field(default=1, ge=1, le=64)
    detect_every: int = Field(default=3, ge=1, le=30)
    reverify_frames: int = Field(default=15, ge=1, le=600)
    detect_max_side: int | None = Field(default=DETECT_MAX_SIDE, ge=64, le=8192)
    motion: MotionConfig = Field(default_factory=MotionConfig)
    quality_gate: QualityGateConfig = Field(default_factory=QualityGateConfig)
    #: Several cameras: each in a child process of its own (edged/video/camproc.py) or a thread each.
    camera_mode: Literal["processes", "threads"] = "processes"

    @field_validator("motion", "quality_gate", mode="before")
    @classmethod
    def _empty_section(cls, value: Any) -> Any:
        return _none_is_empty(value, {})

    @model_validator(mode="after")
    def _votes_fit(self) -> RecognitionConfig:
        if self.vote_frames > self.vote_window:
            raise _located(
                f"vote_frames ({self.vote_frames}) cannot exceed vote_window ({self.vote_window})", "vote_frames"
            )
        return self


class UnknownFacesConfig(_Model):
    """Recent faces (unknown and recognized) held in memory so they can be named or reassigned
    (edged/store/unknowns.py); 0 = nothing held. The name predates reassign and stays for existing configs."""

    keep: int = Field(default=0, ge=0, le=1000)
    ttl_s: float = Field(default=3600, gt=0, le=7 * 86400)


class FleetConfig(_Model):
    """Fleet gallery sync and who may sign its records (see edged/integrations/fleet/ and README "Who may enroll")."""

    sync: bool = False
    signing_key_file: FilePath | None = None
    trusted_keys: dict[str, list[str]] = Field(default_factory=dict)
    authority_keys: list[str] = Field(default_factory=list)

    @field_validator("trusted_keys", "authority_keys", mode="before")
    @classmethod
    def _empty(cls, value: Any, info: Any) -> Any:
        return _none_is_empty(value, {} if info.field_name == "trusted_keys" else [])

    @field_validator("trusted_keys")
    @classmethod
    def _device_keys(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for device, keys in value.items():
            if device == AUTHORITY:
                raise _located(f"{AUTHORITY!r} is not a device: list its keys under fleet.authority_keys", device)
            try:
                check_id(device)
            except ValueError as e:
                raise _located(f"device id {e}", device) from None
            if not keys:
                raise _located("list at least one public key", device)
            for i, k in enumerate(keys):
                try:
                    public_key(k, "key")
                except FrdError as e:
                    raise _located(str(e), device, i) from None
        return value

    @field_validator("authority_keys")
    @classmethod
    def _authority_keys(cls, value: list[str]) -> list[str]:
        for i, k in enumerate(value):
            try:
                public_key(k, "key")
            except FrdError as e:
                raise _located(str(e), i) from None
        return value


class RateLimit(_Model):
    burst: int = Field(ge=1, le=100_000)
    per_minute: float = Field(gt=0, le=1_000_000)


class RateLimits(_Model):
    """Token bucket per MQTT command: ``burst`` at once, refilled at ``per_minute``."""

    enroll: RateLimit = RateLimit(burst=5, per_minute=10)
    delete: RateLimit = RateLimit(burst=10, per_minute=30)
    rename: RateLimit = RateLimit(burst=10, per_minute=30)
    list: RateLimit = RateLimit(burst=20, per_minute=120)
    status: RateLimit = RateLimit(burst=20, per_minute=120)
    reload: RateLimit = RateLimit(burst=2, per_minute=6)
    unknown: RateLimit = RateLimit(burst=20, per_minute=120)
    ignore: RateLimit = RateLimit(burst=10, per_minute=30)
    reassign: RateLimit = RateLimit(burst=5, per_minute=10)  # enrolls, like enroll
    samples: RateLimit = RateLimit(burst=10, per_minute=30)  # removes, like delete
    snapshot: RateLimit = RateLimit(burst=3, per_minute=6)  # a frame each: a look, not a video stream


class SecurityConfig(_Model):
    require_signed_commands: bool = False
    command_key_file: FilePath | None = None
    replay_window_s: int = Field(default=300, ge=5, le=86400)
    max_payload_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, le=128 * 1024 * 1024)
    #: Images from the network are refused with more pixels than this, or a longer side, before they are
    #: decoded (edged/vision/images.py: a 20000×20000 PNG of zeros is 1 MB on the wire and 1.2 GB decoded).
    max_image_pixels: int = Field(default=40_000_000, ge=10_000, le=400_000_000)
    max_image_side: int = Field(default=16384, ge=64, le=65535)
    #: One request's images are decoded one at a time, and together at most this many pixels: 3 images at the
    #: limit, or 10 photos of 12 M pixels (8 MiB of payload rarely holds more). Bounds the time one request
    #: holds the command thread; memory is bounded by the largest image (6 bytes a pixel while decoding).
    max_request_pixels: int = Field(default=120_000_000, ge=10_000, le=4_000_000_000)
    #: Commands waiting for the command thread, in bytes (one command is always let in, whatever its size):
    #: with the default payload limit that is 3 of the largest commands, or thousands of ordinary ones.
    max_queued_bytes: int = Field(default=32 * 1024 * 1024, ge=64 * 1024, le=1024 * 1024 * 1024)
    rate_limits: RateLimits = Field(default_factory=RateLimits)

    @field_validator("rate_limits", mode="before")
    @classmethod
    def _empty_section(cls, value: Any) -> Any:
        return _none_is_empty(value, {})


class Config(_Model):
    device_id: str = Field(default_factory=_default_device_id)
    log_level: Literal[LOG_LEVELS] = "info"  # the vocabulary is logs.LEVELS
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    cameras: list[CameraConfig] = Field(default_factory=list)
    gallery: GalleryConfig = Field(default_factory=GalleryConfig)
    homeassistant: HomeAssistantConfig = Field(default_factory=HomeAssistantConfig)
    recognition: RecognitionConfig = Field(default_factory=RecognitionConfig)
    unknown_faces: UnknownFacesConfig = Field(default_factory=UnknownFacesConfig)
    fleet: FleetConfig = Field(default_factory=FleetConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    snapshot: SnapshotConfig = Field(default_factory=SnapshotConfig)
    status_interval_s: float = Field(default=5, gt=0)

    @field_validator("mqtt", "gallery", "homeassistant", "recognition", "unknown_faces", "fleet", "security",
                     "snapshot", mode="before")

    @classmethod
    def _empty_section(cls, value: Any) -> Any:
        return _none_is_empty(value, {})

    @field_validator("cameras", mode="before")
    @classmethod
    def _empty_list(cls, value: Any) -> Any:
        return _none_is_empty(value, [])

    @field_validator("device_id")
    @classmethod
    def _device_id(cls, value: str) -> str:
        check_id(value)
        if value in RESERVED_DEVICE_IDS:
            raise ValueError(f"{value!r} is reserved (it would collide with fleet topics)")
        return value

    @field_validator("cameras")
    @classmethod
    def _unique_names(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        seen: dict[str, int] = {}
        for i, cam in enumerate(cameras):
            if cam.name in seen:
                raise _located(f"duplicate camera name {cam.name!r} (also cameras[{seen[cam.name]}])", i, "name")
            seen[cam.name] = i
        return cameras


# ---------------------------------------------------------------- loading


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: with last-wins, half of a config would be silently ignored."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            line = key_node.start_mark.line + 1
            if key_node.value in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key_node.value!r} (first on line {seen[key_node.value]})",
                    key_node.start_mark,
                )
            seen[key_node.value] = line
        return super().construct_mapping(node, deep=deep)


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _is_key(node: yaml.Node, part: object) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.value == str(part)


def _locate(root: yaml.Node | None, loc: tuple[Any, ...], kind: str) -> tuple[int, tuple[str | int, ...]]:
    """Line and cleaned key path of an error ``loc``.

    ``kind`` is "key" (unknown key: the key's line), "value" (bad value: the
    value's line) or "missing" (the line of the mapping that lacks the key).
    Parts that are not in the document (pydantic's union-member tags) are
    dropped from the path.
    """
    if root is None:
        return 1, tuple(loc)
    node: yaml.Node = root
    line = node.start_mark.line + 1
    path: list[str | int] = []
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, yaml.MappingNode):
            match = next((kv for kv in node.value if _is_key(kv[0], part)), None)
            if match is None:
                if last and kind == "missing":
                    path.append(part)
                continue
            key_node, value_node = match
            path.append(part)
            line = (key_node if last and kind == "key" else value_node).start_mark.line + 1
            node = value_node
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            path.append(part)
            node = node.value[part]
            line = node.start_mark.line + 1
    return line, tuple(path)


def _problems(exc: ValidationError, root: yaml.Node | None, filename: str) -> list[str]:
    out: list[str] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        ctx = err.get("ctx") or {}
        if err["type"] == "frd":
            loc += tuple(ctx.get("sub", ()))
        msg = err["msg"].removeprefix("Value error, ")
        kind = {"extra_forbidden": "key", "missing": "missing"}.get(err["type"], "value")
        line, path = _locate(root, loc, kind)
        if kind == "key":
            msg = _PASSWORD_HINT if loc[-1:] == ("password",) else "unknown key (check the spelling)"
        text = f"{filename}:{line}: {_dotted(path)}: {msg}"
        if text not in out:
            out.append(text)
    return out


def parse_config(text: str, filename: str) -> Config:
    """Parse and validate YAML text; ``filename`` is only used in error messages."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = ": ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise ConfigError(f"{filename}:{line}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{filename}:1: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{filename}:1: (top level): must be a mapping of keys, not {type(data).__name__}")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = _problems(exc, root, filename)
        raise ConfigError("\n".join(problems), problems) from None


def load_config(path: Path | None) -> Config:
    """Load a config file; ``None`` means no file at all, i.e. every default."""
    if path is None:
        return Config()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_config(text, str(path))


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$FRD_CONFIG`` if set (tests, non-standard installs), else /etc/frd/frd.yaml."""
    env = os.environ if environ is None else environ
    value = env.get("FRD_CONFIG")
    return Path(value) if value else DEFAULT_CONFIG_PATH


def _credential_given(path: Path) -> bool:
    """The credential exists and holds more than a line break (unreadable: yes, so the caller reports why)."""
    try:
        return path.read_bytes() not in (b"", b"\n", b"\r\n")
    except FileNotFoundError:
        return False
    except OSError:
        return True


def resolve_password(cfg: Config, environ: Mapping[str, str] | None = None) -> str | None:
    """The MQTT password: systemd credential first (never on disk in clear), else mqtt.password_file.

    One trailing newline is stripped because editors and ``echo`` add it. An empty credential (or one
    that is just a newline) counts as none: systemd/frd.service falls back to ``SetCredential=mqtt_password:\\n``
    when /etc/frd/mqtt_password does not exist, and that must not hide mqtt.password_file.
    """
    env = os.environ if environ is None else environ
    candidates: list[Path] = []
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir and _credential_given(Path(cred_dir) / CREDENTIAL_NAME):

        candidates.append(Path(cred_dir) / CREDENTIAL_NAME)
    elif cfg.mqtt.password_file is not None:
        candidates.append(cfg.mqtt.password_file)
    for path in candidates:
        try:
            if path == cfg.mqtt.password_file:  # systemd makes credentials private itself
                check_private(path, "MQTT password file")
        except FrdError as e:
            raise ConfigError(str(e)) from None
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise ConfigError(f"{path}: cannot read the MQTT password file: {reason}") from None
        if text.endswith("\r\n"):
            return text[:-2]
        return text.removesuffix("\n")
    return None


def check_tls_key(cfg: Config) -> None:
    """ConfigError when ``mqtt.tls.key_file`` may be read by others: whoever holds it is this device to the broker
    (checked like the password, command and fleet keys)."""
    key = cfg.mqtt.tls.key_file
    if key is not None:
        try:
            check_private(key, "TLS client key")
        except FrdError as e:
            raise ConfigError(str(e)) from None


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def security_warnings(cfg: Config, *, password: bool) -> list[str]:
    """What makes this configuration weaker than it could be, said at start-up: each line says what and why.

    ``password``: an MQTT password was found (the file or the systemd credential).
    """
    m, out = cfg.mqtt, []
    if m.tls.enabled and m.tls.insecure:
        out.append("mqtt.tls.insecure is on: the broker's certificate is not checked against its host name, so "
                   "whoever is on the network path can pose as the broker (for testing only)")
    if password and not m.tls.enabled and not _loopback(m.host):
        out.append(f"the MQTT password goes to {m.host}:{m.port} in clear (mqtt.tls.enabled is off): whoever is on "
                   "the network path can read it and log in as this device")
    if not cfg.security.require_signed_commands:
        out.append(f"commands are accepted unsigned (security.require_signed_commands is off): whoever may publish "
                   f"on {topics_for(cfg).cmd_wildcard} at the broker can enroll a face (docs/security.md)")
    return out


def topics_for(cfg: Config) -> Topics:
    """The topic builder this config describes (one place that wires config keys to topics)."""
    return Topics(cfg.mqtt.base_topic, cfg.device_id, cfg.homeassistant.prefix)


def client_id_for(cfg: Config) -> str:
    """mqtt.client_id, else ``frd-<device_id>``: stable, so the broker can resume the session."""
    return cfg.mqtt.client_id or f"frd-{cfg.device_id}"
