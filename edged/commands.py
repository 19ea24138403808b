"""MQTT commands: payload parsing, validation and replies.

Every request gets exactly one reply ``{"request_id", "ok", "error", "data"}``;
a bad payload is answered with a precise error and changes nothing. The
actual work is done by a :class:`Services` implementation (the daemon), so
this module is testable without a broker, a camera or a model.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import FrdError, InputError
from .names import validate_name

log = logging.getLogger(__name__)

MAX_PAYLOAD = 8 * 1024 * 1024
MAX_IMAGES = 20
MAX_CAPTURE_FRAMES = 20
MAX_CAPTURE_TIMEOUT_S = 60.0
COMMANDS = ("enroll", "delete", "rename", "list", "status", "reload")


class Services(Protocol):
    def enroll_images(self, name: str, images: list[tuple[str, bytes]]) -> dict: ...
    def enroll_capture(self, name: str, camera: str | None, frames: int, timeout_s: float) -> dict: ...
    def delete(self, name: str) -> dict: ...
    def rename(self, name: str, new_name: str) -> dict: ...
    def list_people(self) -> dict: ...
    def status(self) -> dict: ...
    def reload(self) -> dict: ...


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


def _parse_json(payload: bytes) -> dict:
    if not payload.strip():
        return {}
    try:
        obj = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"payload is not valid JSON: {e}") from e
    if not isinstance(obj, dict):
        raise InputError(f"payload must be a JSON object, not {type(obj).__name__}")
    return obj


def _request_id(obj: dict) -> Any:
    rid = obj.get("request_id")
    if rid is not None and not isinstance(rid, (str, int)):
        raise InputError("request_id must be a string or an integer")
    if isinstance(rid, str) and len(rid) > 128:
        raise InputError("request_id is longer than 128 characters")
    return rid


def _only(obj: dict, allowed: set[str], command: str) -> None:
    extra = sorted(set(obj) - allowed - {"request_id"})
    if extra:
        raise InputError(f"{command}: unknown field(s) {', '.join(extra)}; allowed: {', '.join(sorted(allowed))}")


def _name_field(obj: dict, arg: str | None, key: str = "name") -> str:
    name = obj.get(key, arg)
    if key in obj and arg is not None and obj[key] != arg:
        raise InputError(f"{key} {obj[key]!r} in the payload differs from {arg!r} in the topic")
    if name is None:
        raise InputError(f"missing {key!r}")
    return validate_name(name)


def _b64(value: Any, field: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise InputError(f"{field} must be a non-empty base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InputError(f"{field} is not valid base64 ({e})") from e


class CommandHandler:
    def __init__(self, services: Services) -> None:
        self.services = services

    def handle(self, command: str, arg: str | None, payload: bytes) -> Reply:
        """Run one command; never raises for bad input, always returns the reply."""
        rid = None
        try:
            if len(payload) > MAX_PAYLOAD:
                raise InputError(f"payload of {len(payload)} bytes exceeds the limit of {MAX_PAYLOAD}")
            if command not in COMMANDS:
                raise InputError(f"unknown command {command!r}; commands: {', '.join(COMMANDS)}")
            if command == "enroll" and arg is not None and not _is_json(payload):
                validate_name(arg)
                if not payload:
                    raise InputError("empty payload: publish the image file (mosquitto_pub -f photo.jpg)")
                return Reply(None, True, None, self._checked(self.services.enroll_images(arg, [("payload", payload)])))
            obj = _parse_json(payload)
            rid = _request_id(obj)
            data = getattr(self, f"_{command}")(obj, arg)
            return Reply(rid, True, None, data)
        except FrdError as e:
            return Reply(rid, False, str(e), None)
        except Exception as e:  # a bug must cost one reply, not the daemon
            log.exception("command %s failed", command)
            return Reply(rid, False, f"internal error: {type(e).__name__}: {e}", None)

    @staticmethod
    def _checked(result: dict) -> dict:
        if not result.get("added"):
            reasons = "; ".join(f"{r['image']}: {r['reason']}" for r in result.get("rejected", []))
            raise InputError(f"nothing enrolled ({reasons or 'no face'})")
        return result

    def _enroll(self, obj: dict, arg: str | None) -> dict:
        _only(obj, {"name", "image_b64", "capture"}, "enroll")
        name = _name_field(obj, arg)
        if ("image_b64" in obj) == ("capture" in obj):
            raise InputError("enroll needs exactly one of 'image_b64' or 'capture'")
        if "image_b64" in obj:
            raw = obj["image_b64"]
            items = raw if isinstance(raw, list) else [raw]
            if not 1 <= len(items) <= MAX_IMAGES:
                raise InputError(f"image_b64: 1 to {MAX_IMAGES} images")
            images = [(f"image_b64[{i}]", _b64(v, f"image_b64[{i}]")) for i, v in enumerate(items)]
            return self._checked(self.services.enroll_images(name, images))
        cap = obj["capture"]
        if not isinstance(cap, dict):
            raise InputError("capture must be an object {camera, frames, timeout_s}")
        _only(cap, {"camera", "frames", "timeout_s"}, "enroll.capture")
        camera = cap.get("camera")
        if camera is not None and not isinstance(camera, str):
            raise InputError("capture.camera must be a camera name")
        frames = cap.get("frames", 5)
        if not isinstance(frames, int) or isinstance(frames, bool) or not 1 <= frames <= MAX_CAPTURE_FRAMES:
            raise InputError(f"capture.frames must be an integer from 1 to {MAX_CAPTURE_FRAMES}")
        timeout = cap.get("timeout_s", 10)
        number = isinstance(timeout, (int, float)) and not isinstance(timeout, bool)
        if not number or not 0 < timeout <= MAX_CAPTURE_TIMEOUT_S:
            raise InputError(f"capture.timeout_s must be a number in (0, {MAX_CAPTURE_TIMEOUT_S:g}]")
        return self._checked(self.services.enroll_capture(name, camera, frames, float(timeout)))

    def _delete(self, obj: dict, arg: str | None) -> dict:
        _only(obj, {"name"}, "delete")
        return self.services.delete(_name_field(obj, arg))

    def _rename(self, obj: dict, arg: str | None) -> dict:
        _only(obj, {"name", "new_name"}, "rename")
        name = _name_field(obj, arg)
        return self.services.rename(name, _name_field(obj, None, "new_name"))

    def _list(self, obj: dict, arg: str | None) -> dict:
        _only(obj, set(), "list")
        return self.services.list_people()

    def _status(self, obj: dict, arg: str | None) -> dict:
        _only(obj, set(), "status")
        return self.services.status()

    def _reload(self, obj: dict, arg: str | None) -> dict:
        _only(obj, set(), "reload")
        return self.services.reload()
