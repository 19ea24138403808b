"""MQTT commands: payload parsing, validation and replies.

Every request gets exactly one reply ``{"request_id", "ok", "error", "data"}``;
a bad payload is answered with a precise error and changes nothing. Commands
come from one table (:data:`TABLE`: name → handler, allowed keys, rate-limit
class). The actual work is done by a :class:`Services` implementation
(:class:`Routes`: the people service and the daemon's status), so this module
is testable without a broker, a camera or a model.

Order of checks for one message: topic shape, size, command name, then the
trust checks of :mod:`edged.mqtt.security` (signature, freshness, replay), then
the JSON shape and the command's keys, then its rate limit, then the values,
and only then the work. Whatever fails first is the reply's error.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..config import SecurityConfig
from ..core import strictjson
from ..core.errors import FrdError, InputError
from ..core.models import SHORT_ID
from ..core.names import normalize_name
from ..core.topics import Topics
from ..vision import images
from ..vision.match import Matcher
from .security import (
    SIGNED_SENDER,
    CommandGuard,
    NonceStore,
    RateLimiter,
    looks_signed,
    open_envelope,
    resolve_command_key,
)

if TYPE_CHECKING:
    from ..config import Config
    from ..service.people import People
    from ..store.ignore import IgnoreList
    from ..store.unknowns import UnknownFaces

log = logging.getLogger(__name__)

MAX_IMAGES = 20
MAX_CAPTURE_FRAMES = 20
MAX_CAPTURE_TIMEOUT_S = 60.0
MAX_ERROR_CHARS = 1000
MAX_REQUEST_ID_CHARS = 128
#: How many held face ids one request may name.
MAX_FACE_IDS = 20
#: An event's id (``uuid4().hex``), as ``cmd/reassign {"event_id"}`` takes it.
EVENT_ID = re.compile(r"[0-9a-f]{32}")
#: Reply topic (``<base>/reply/error``) for messages whose topic is not ``<base>/cmd/<command>[/<arg>]``.
ERROR_REPLY = "error"
#: Used nonces of signed commands, kept next to the people in the gallery folder.
NONCE_FILE = ".command-nonces.json"


@dataclass(frozen=True)
class Limits:
    """Size limits of one request (``security.max_payload_bytes``; images: see :mod:`edged.vision.images`)."""

    max_payload: int
    max_images: int = MAX_IMAGES

    @property
    def max_envelope(self) -> int:
        """A signed envelope carries the payload base64-encoded (4/3) plus a few fields."""
        return self.max_payload * 4 // 3 + 4096


def options_from_config(cfg: Config, state_dir: Path, environ: Mapping[str, str] | None = None) -> dict:
    """The command handler's checks from ``cfg.security``: ``{"guard", "rate", "limits"}``.

    Also sets the process-wide image limits. Used nonces are kept in ``state_dir``.
    """
    sec = cfg.security
    images.configure(sec.max_image_pixels, sec.max_image_side, sec.max_request_pixels)
    found = resolve_command_key(sec.command_key_file, environ)
    # without a key no signed command is accepted, so there are no nonces to remember (and no file to miss)
    nonces = NonceStore(state_dir / NONCE_FILE, sec.replay_window_s) if found else None
    guard = CommandGuard(found[0] if found else None, require_signed=sec.require_signed_commands,
                         window_s=sec.replay_window_s, nonces=nonces)
    if found:
        log.info("command key from %s: signed commands are %s", found[1],
                 "required" if sec.require_signed_commands else "checked (unsigned ones accepted)")
    limits = {cmd: (lim.burst, lim.per_minute) for cmd, lim in sec.rate_limits}
    return {"guard": guard, "rate": RateLimiter(limits), "limits": Limits(max_payload=sec.max_payload_bytes)}


class Services(Protocol):
    def enroll_images(self, name: str, images: list[tuple[str, bytes]], force: bool = False) -> dict: ...
    def enroll_capture(self, name: str, camera: str | None, frames: int, timeout_s: float, force: bool = False
                       ) -> dict: ...
    def delete(self, name: str) -> dict: ...
    def rename(self, name: str, new_name: str) -> dict: ...
    def list_people(self, name: str | None = None, detail: bool = False) -> dict: ...
    def status(self) -> dict: ...
    def reload(self) -> dict: ...
    def enroll_unknown(self, name: str, face_ids: list[str], visitor: bool = False, force: bool = False) -> dict: ...
    def unknown_list(self) -> dict: ...
    def unknown_forget(self, face_ids: list[str] | None) -> dict: ...
    def ignore_add(self, face_id: str) -> dict: ...
    def ignore_list(self) -> dict: ...
    def ignore_remove(self, ignore_id: str) -> dict: ...
    def reassign(self, name: str, face_id: str | None, event_id: str | None) -> dict: ...
    def remove_samples(self, name: str, sample_ids: list[str]) -> dict: ...
    def snapshot(self, camera: str | None) -> dict: ...


class Routes:
    """The :class:`Services` of ``frd run``: the people service does the gallery, ``status`` is the daemon's,
    ``unknowns`` holds the unknown faces (None: ``unknown_faces.keep`` is 0, nothing is held), ``ignored``
    the faces not to announce."""

    def __init__(self, people: People, status: Callable[[], dict], unknowns: UnknownFaces | None = None,
                 ignored: IgnoreList | None = None, snapshot: Callable[[str | None], dict] | None = None) -> None:
        self.people = people
        self._status = status
        self.unknowns = unknowns
        self.ignored = ignored
        self._snapshot = snapshot

    def snapshot(self, camera: str | None) -> dict:
        if self._snapshot is None:
            raise InputError("this device takes no snapshots")
        return self._snapshot(camera)

    def enroll_images(self, name: str, images: list[tuple[str, bytes]], force: bool = False) -> dict:
        return self.people.enroll_images(name, images, force=force)

    def enroll_capture(self, name: str, camera: str | None, frames: int, timeout_s: float, force: bool = False
                       ) -> dict:
        return self.people.enroll_capture(name, camera, frames, timeout_s, force=force)

    def delete(self, name: str) -> dict:
        return self.people.delete(name)

    def rename(self, name: str, new_name: str) -> dict:
        return self.people.rename(name, new_name)

    def list_people(self, name: str | None = None, detail: bool = False) -> dict:
        return self.people.list_people(name, detail)

    def status(self) -> dict:
        return self._status()

    def reload(self) -> dict:
        return self.people.reload()

    def _store(self) -> UnknownFaces:
        if self.unknowns is None or not self.unknowns.enabled:
            raise InputError("unknown faces are not kept on this device (unknown_faces.keep is 0)")
        return self.unknowns

    def _visitor_matcher(self) -> Matcher:
        """Judges whether two unknown entries are one visitor exactly as recognition would: a matcher built like
        the recognition matcher (same calibration, strictness, threshold), as the ignore list's is."""
        m = self.people.pipeline.matcher
        return Matcher(m.calibration, m.strictness, m.fixed_threshold)

    def enroll_unknown(self, name: str, face_ids: list[str], visitor: bool = False, force: bool = False) -> dict:
        """Enroll held unknown faces (the same screen as photos); ``visitor``: every entry of their visitors.
        The entries used are then no longer unknown."""
        store = self._store()
        if visitor:
            face_ids = store.visitor_faces(face_ids, self._visitor_matcher())
        result = self.people.enroll_held(name, store.faces(face_ids), force=force)
        if result["added"]:
            store.enrolled(face_ids, name)  # no longer unknown; held on so that cmd/reassign can fix the name
        return result

    def unknown_list(self) -> dict:
        if self.unknowns is None:
            return {"keep": 0, "faces": []}
        return self.unknowns.listing(self._visitor_matcher())

    def unknown_forget(self, face_ids: list[str] | None) -> dict:
        return {"forgotten": [] if self.unknowns is None else self.unknowns.forget(face_ids)}

    def _ignore(self) -> IgnoreList:
        if self.ignored is None:
            raise InputError("this device keeps no ignore list")
        return self.ignored

    def ignore_add(self, face_id: str) -> dict:
        """Ignore a held unknown face: its embeddings join the ignore list, the held entry is forgotten."""
        ignored = self._ignore()
        camera, embeddings = self._store().held(face_id)
        ignore_id = ignored.add(camera, embeddings)
        self._store().forget([face_id])  # and a shown chip of it is blanked
        return {"ignore_id": ignore_id, "face_id": face_id}

    def ignore_list(self) -> dict:
        return self._ignore().listing()

    def reassign(self, name: str, face_id: str | None, event_id: str | None) -> dict:
        """Move a recent recognition (held face) to ``name``: see :meth:`People.reassign`."""
        if self.unknowns is None:
            raise InputError("recent faces are not kept on this device (unknown_faces.keep is 0), so a recognition "
                             "cannot be moved; remove its samples with cmd/samples/remove instead")
        fid, who, label, faces = self.unknowns.recent(face_id, event_id)
        result = self.people.reassign(name, faces, label=label, old_name=who)
        self.unknowns.enrolled([fid], name)
        return {"face_id": fid, **result}

    def remove_samples(self, name: str, sample_ids: list[str]) -> dict:
        return self.people.remove_samples(name, sample_ids)

    def ignore_remove(self, ignore_id: str) -> dict:
        self._ignore().remove(ignore_id)
        return {"removed": ignore_id}


@dataclass
class Reply:
    request_id: Any
    ok: bool
    error: str | None
    data: Any

    def payload(self) -> str:
        return json.dumps({"request_id": self.request_id, "ok": self.ok, "error": self.error, "data": self.data})


def _is_json(payload: bytes) -> bool:
    return payload.lstrip()[:1] == b"{"


def _clip(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parse_json(payload: bytes) -> dict:
    if not payload.strip():
        return {}
    try:
        obj = strictjson.loads(payload)
    except strictjson.StrictJSONError as e:
        raise InputError(f"payload is not valid JSON: {strictjson.reason(e)}") from None
    if not isinstance(obj, dict):
        raise InputError(f"payload must be a JSON object, not {type(obj).__name__}")
    return obj


def peek_request_id(payload: bytes, max_bytes: int) -> Any:
    """The ``request_id`` a command carries, read without running it (nor checking its signature), or None.

    For a reply to a command frd could not run (it was queued when frd stopped): the id only lets the sender
    match the reply to its request, so an unchecked one is harmless.
    """
    if len(payload) > max_bytes:
        return None
    try:
        if looks_signed(payload):
            payload = open_envelope(payload).payload
        return _request_id(_parse_json(payload))
    except FrdError:
        return None


def _request_id(obj: dict) -> Any:
    rid = obj.get("request_id")
    if rid is not None and (not isinstance(rid, (str, int)) or isinstance(rid, bool)):
        raise InputError("request_id must be a string or an integer")
    if isinstance(rid, str) and len(rid) > MAX_REQUEST_ID_CHARS:
        raise InputError(f"request_id is longer than {MAX_REQUEST_ID_CHARS} characters")
    if isinstance(rid, int) and not -(2**63) <= rid < 2**63:
        raise InputError("request_id is outside the 64-bit integer range")
    return rid


def _only(obj: dict, allowed: set[str], command: str) -> None:
    extra = sorted(set(obj) - allowed - {"request_id"})
    if extra:
        shown = _clip(", ".join(repr(k) for k in extra[:10]), 300)
        raise InputError(f"{command}: unknown field(s) {shown}; allowed: {', '.join(sorted(allowed)) or 'none'}")


def _name_field(obj: dict, arg: str | None, key: str = "name") -> str:
    raw = obj.get(key, arg)
    if raw is None:
        raise InputError(f"missing {key!r}")
    name = normalize_name(raw)
    if key in obj and arg is not None and name != normalize_name(arg):
        raise InputError(f"{key} {_clip(str(obj[key]), 80)!r} in the payload differs from {arg!r} in the topic")
    return name


def _b64(value: Any, field: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise InputError(f"{field} must be a non-empty base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InputError(f"{field} is not valid base64 ({e})") from e


def _face_ids(value: Any, field: str = "face_ids", what: str = "face id") -> list[str]:
    """A list of held face ids (as ``cmd/unknown/list`` and the events show them)."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_FACE_IDS:
        raise InputError(f"{field} must be a list of 1 to {MAX_FACE_IDS} face ids (see cmd/unknown/list)")
    for v in value:
        if not isinstance(v, str) or not SHORT_ID.fullmatch(v):
            raise InputError(f"{field}: {_clip(repr(v), 80)} is not a {what} (12 hex digits)")
    return list(value)


def _enroll(h: CommandHandler, obj: dict, arg: str | None) -> dict:
    name = _name_field(obj, arg)
    if sum(k in obj for k in ("image_b64", "capture", "face_ids")) != 1:
        raise InputError("enroll needs exactly one of 'image_b64', 'capture' or 'face_ids'")
    if "visitor" in obj and ("face_ids" not in obj or obj["visitor"] is not True):
        raise InputError("enroll: 'visitor': true goes with 'face_ids' (every entry of their visitors)")
    force = obj.get("force", False)
    if not isinstance(force, bool):
        raise InputError("enroll: 'force' must be true or false (true: enroll a face already enrolled as someone "
                         "else, e.g. two people who look alike)")
    if "face_ids" in obj:
        ids = _face_ids(obj["face_ids"])
        if "visitor" in obj:
            return _checked(h.services.enroll_unknown(name, ids, visitor=True, force=force))
        return _checked(h.services.enroll_unknown(name, ids, force=force))
    if "image_b64" in obj:
        raw = obj["image_b64"]
        items = raw if isinstance(raw, list) else [raw]
        if not 1 <= len(items) <= h.limits.max_images:
            raise InputError(f"image_b64: 1 to {h.limits.max_images} images")
        images = [(f"image_b64[{i}]", _b64(v, f"image_b64[{i}]")) for i, v in enumerate(items)]
        return _checked(h.services.enroll_images(name, images, force=force))
    cap = obj["capture"]
    if not isinstance(cap, dict):
        raise InputError("capture must be an object {camera, frames, timeout_s}")
    _only(cap, {"camera", "frames", "timeout_s"}, "enroll.capture")
    camera = cap.get("camera")
    if camera is not None and (not isinstance(camera, str) or not 1 <= len(camera) <= 64):
        raise InputError("capture.camera must be a camera name (1-64 characters)")
    frames = cap.get("frames", 5)
    if not isinstance(frames, int) or isinstance(frames, bool) or not 1 <= frames <= MAX_CAPTURE_FRAMES:
        raise InputError(f"capture.frames must be an integer from 1 to {MAX_CAPTURE_FRAMES}")
    timeout = cap.get("timeout_s", 10)
    number = isinstance(timeout, (int, float)) and not isinstance(timeout, bool)
    if not number or not 0 < timeout <= MAX_CAPTURE_TIMEOUT_S:
        raise InputError(f"capture.timeout_s must be a number in (0, {MAX_CAPTURE_TIMEOUT_S:g}]")
    return _checked(h.services.enroll_capture(name, camera, frames, float(timeout), force=force))


def _checked(result: dict) -> dict:
    """An enrollment that added nothing is an error, with every image's reason."""
    if not result.get("added"):
        reasons = "; ".join(f"{r['image']}: {r['reason']}" for r in result.get("rejected", []))
        raise InputError(f"nothing enrolled ({reasons or 'no face'})")
    return result


@dataclass(frozen=True)
class Command:
    """One row of the command table: what runs, which payload keys it takes, which rate bucket it draws on."""

    run: Callable[[CommandHandler, dict, str | None], dict]
    keys: frozenset[str]
    #: the ``security.rate_limits`` entry charged for it (None: not limited)
    rate: str | None
    #: takes a non-JSON payload (``mosquitto_pub -f photo.jpg``) when the topic names the person
    raw: Callable[[CommandHandler, str, bytes], dict] | None = None


def _unknown(h: CommandHandler, obj: dict, arg: str | None) -> dict:
    """``cmd/unknown/list`` and ``cmd/unknown/forget {"face_id"} | {"all": true}``."""
    if arg == "list":
        _only(obj, set(), "unknown/list")
        return h.services.unknown_list()
    if arg == "forget":
        if ("face_id" in obj) == ("all" in obj):
            raise InputError("unknown/forget needs exactly one of 'face_id' or 'all': true")
        if "all" in obj:
            if obj["all"] is not True:
                raise InputError("unknown/forget: 'all' must be true")
            return h.services.unknown_forget(None)
        return h.services.unknown_forget(_face_ids([obj["face_id"]], "face_id"))
    raise InputError("unknown needs an action: cmd/unknown/list or cmd/unknown/forget")


def _ignore(h: CommandHandler, obj: dict, arg: str | None) -> dict:
    """``cmd/ignore {"face_id"}``, ``cmd/ignore/list``, ``cmd/ignore/remove {"ignore_id"}``."""
    if arg is None:
        _only(obj, {"face_id"}, "ignore")
        if "face_id" not in obj:
            raise InputError("ignore needs 'face_id' (of an unknown event; see cmd/unknown/list)")
        return h.services.ignore_add(_face_ids([obj["face_id"]], "face_id")[0])
    if arg == "list":
        _only(obj, set(), "ignore/list")
        return h.services.ignore_list()
    if arg == "remove":
        _only(obj, {"ignore_id"}, "ignore/remove")
        if "ignore_id" not in obj:
            raise InputError("ignore/remove needs 'ignore_id' (see cmd/ignore/list)")
        return h.services.ignore_remove(_face_ids([obj["ignore_id"]], "ignore_id")[0])
    raise InputError("ignore: use cmd/ignore {\"face_id\"}, cmd/ignore/list or cmd/ignore/remove")


def _list(h: CommandHandler, obj: dict, arg: str | None) -> dict:
    """``cmd/list``; ``{"name"}`` (or ``cmd/list/<name>``): that person with their samples' ids;
    ``{"detail": true}``: everyone with their samples' ids."""
    detail = obj.get("detail", False)
    if not isinstance(detail, bool):
        raise InputError("list: 'detail' must be true or false")
    name = _name_field(obj, arg) if "name" in obj or arg is not None else None
    if name is None and not detail:
        return h.services.list_people()  # the plain list, as before samples had ids
    return h.services.list_people(name, detail)


def _event_id(value: Any) -> str:
    if not isinstance(value, str) or not EVENT_ID.fullmatch(value):
        raise InputError(f"event_id: {_clip(repr(value), 80)} is not an event id (32 hex digits, as in an event)")
    return value


def _reassign(h: CommandHandler, obj: dict, arg: str | None) -> dict:
    """``cmd/reassign {"face_id" | "event_id", "name"}``: a recent recognition belongs to ``name``."""
    if ("face_id" in obj) == ("event_id" in obj):
        raise InputError("reassign needs exactly one of 'face_id' or 'event_id' (of a recent event)")
    name = _name_field(obj, arg)
    if "face_id" in obj:
        return h.services.reassign(name, _face_ids([obj["face_id"]], "face_id")[0], None)
    return h.services.reassign(name, None, _event_id(obj["event_id"]))


def _samples(h: CommandHandler, obj: dict, arg: str | None) -> dict:
    """``cmd/samples/remove {"name", "sample_id"}`` (ids: ``cmd/list {"name"}``)."""
    if arg != "remove":
        raise InputError("samples needs an action: cmd/samples/remove {\"name\", \"sample_id\"}")
    if "name" not in obj:
        raise InputError("samples/remove needs 'name'")
    name = _name_field(obj, None)
    if "sample_id" not in obj:
        raise InputError(f"samples/remove needs 'sample_id' (see cmd/list {{\"name\": \"{name}\"}})")
    return h.services.remove_samples(name, _face_ids([obj["sample_id"]], "sample_id", "sample id"))


def _snapshot(h: CommandHandler, obj: dict, arg: str | None) -> dict:
    """``cmd/snapshot/<camera>`` (or ``{"camera"}``; with one camera, neither): a look through the camera."""
    camera = obj.get("camera", arg)
    if camera is not None and (not isinstance(camera, str) or not 1 <= len(camera) <= 64):
        raise InputError("snapshot: camera must be a camera name (1-64 characters)")
    if "camera" in obj and arg is not None and camera != arg:
        raise InputError(f"camera {_clip(str(camera), 80)!r} in the payload differs from {arg!r} in the topic")
    return h.services.snapshot(camera)


def _enroll_raw(h: CommandHandler, name: str, payload: bytes) -> dict:
    if not payload:
        raise InputError("empty payload: publish the image file (mosquitto_pub -f photo.jpg)")
    return _checked(h.services.enroll_images(name, [("payload", payload)]))


#: Every command frd answers, in one place: ``<base>/cmd/<name>[/<arg>]`` → handler, allowed keys
#: (besides ``request_id``), rate-limit class. A topic's ``<arg>`` is the payload's ``name``.
TABLE: dict[str, Command] = {
    "enroll": Command(_enroll, frozenset({"name", "image_b64", "capture", "face_ids", "visitor", "force"}), "enroll",
                      raw=_enroll_raw),
    "delete": Command(lambda h, obj, arg: h.services.delete(_name_field(obj, arg)), frozenset({"name"}), "delete"),
    "rename": Command(lambda h, obj, arg: h.services.rename(_name_field(obj, arg), _name_field(obj, None, "new_name")),
                      frozenset({"name", "new_name"}), "rename"),
    "list": Command(_list, frozenset({"name", "detail"}), "list"),
    "status": Command(lambda h, obj, arg: h.services.status(), frozenset(), "status"),
    "reload": Command(lambda h, obj, arg: h.services.reload(), frozenset(), "reload"),
    # cmd/unknown/list, cmd/unknown/forget: the topic's <arg> is the action
    "unknown": Command(_unknown, frozenset({"face_id", "all"}), "unknown"),
    # cmd/ignore {"face_id"}, cmd/ignore/list, cmd/ignore/remove {"ignore_id"}
    "ignore": Command(_ignore, frozenset({"face_id", "ignore_id"}), "ignore"),
    # cmd/reassign {"face_id" | "event_id", "name"}: fix a wrong name (the face must still be held)
    "reassign": Command(_reassign, frozenset({"face_id", "event_id", "name"}), "reassign"),
    # cmd/samples/remove {"name", "sample_id"}
    "samples": Command(_samples, frozenset({"name", "sample_id"}), "samples"),
    # cmd/snapshot[/<camera>]: one frame of the camera, with its faces drawn (snapshot.enabled)
    "snapshot": Command(_snapshot, frozenset({"camera"}), "snapshot"),
}
COMMANDS = tuple(TABLE)


class CommandHandler:
    """Turns one command message into exactly one :class:`Reply`; never raises for bad input.

    ``guard`` (signatures, freshness, replays) and ``rate`` (per-command token
    buckets) are optional so the parsing can be used and tested on its own.
    """

    def __init__(self, services: Services, *, topics: Topics | None = None, guard: CommandGuard | None = None,
                 rate: RateLimiter | None = None, limits: Limits | None = None) -> None:
        self.services = services
        self.topics = topics
        self.guard = guard
        self.rate = rate
        self.limits = limits or Limits(SecurityConfig().max_payload_bytes)  # the config's default

    @property
    def max_message_bytes(self) -> int:
        """The largest message this handler will look at (a signed envelope's limit when there is a guard)."""
        return self.limits.max_envelope if self.guard is not None else self.limits.max_payload

    def handle_topic(self, topic: str, payload: bytes, sender: str | None = None) -> tuple[str, Reply]:
        """(the command to reply as, the reply) for a message on a command topic; needs ``topics``."""
        parsed = self.topics.parse_cmd(topic) if self.topics is not None else None
        if parsed is None:
            why = (f"malformed command topic {_clip(topic, 200)!r}: expected <base_topic>/<device>/cmd/<command> "
                   "or .../cmd/<command>/<name>")
            return ERROR_REPLY, Reply(None, False, why, None)
        command, arg = parsed
        return command, self.handle(command, arg, payload, topic=topic, sender=sender)

    def handle(self, command: str, arg: str | None, payload: bytes, topic: str | None = None,
               sender: str | None = None) -> Reply:
        """Run one command; never raises for bad input, always returns the reply.

        ``topic`` is the topic the message arrived on; a guard needs it (the signature covers it). ``sender`` is
        who the message says it is from (its MQTT 5 response topic; chosen by the sender, never trusted): rate
        limits are kept per sender (:class:`~edged.mqtt.security.RateLimiter`), and a command whose signature
        was checked is the command key's, whatever it says.
        """
        rid = None
        try:
            limit = self.max_message_bytes
            if len(payload) > limit:
                raise InputError(f"payload of {len(payload)} bytes exceeds the limit of {limit}")
            if command not in COMMANDS:
                raise InputError(f"unknown command {_clip(command, 80)!r}; commands: {', '.join(COMMANDS)}")
            if self.guard is not None:
                if topic is None:
                    raise RuntimeError("a guarded command handler needs the message topic")
                signed = looks_signed(payload)
                payload = self.guard.check(topic, payload)
                if signed:  # checked: the key's holder, whoever the message says it is from
                    sender = SIGNED_SENDER
                if len(payload) > self.limits.max_payload:
                    raise InputError(f"payload of {len(payload)} bytes exceeds the limit of {self.limits.max_payload}")
            row = TABLE[command]
            if row.raw is not None and arg is not None and not _is_json(payload):
                name = normalize_name(arg)
                if payload:
                    self._rate(command, sender)
                return Reply(None, True, None, row.raw(self, name, payload))
            obj = _parse_json(payload)
            rid = _request_id(obj)
            _only(obj, row.keys, command)
            self._rate(command, sender)
            return Reply(rid, True, None, row.run(self, obj, arg))
        except FrdError as e:
            return Reply(rid, False, _clip(str(e)), None)
        except Exception as e:  # a bug must cost one reply, not the daemon
            log.exception("command %s failed", _clip(command, 80))
            return Reply(rid, False, _clip(f"internal error: {type(e).__name__}: {e}"), None)

    def _rate(self, command: str, sender: str | None) -> None:
        rate = TABLE[command].rate
        if self.rate is not None and rate is not None:
            self.rate.take(rate, sender)
