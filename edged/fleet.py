"""Fleet gallery sync: one retained MQTT message per person, shared by every device.

The message carries the person's embeddings and the sha256 of the model that
made them — never images — so a device can only use it with the very same
model. It is the person's whole current state (last writer wins, by
``updated``), which makes it idempotent and lets a device that joins later
rebuild the gallery from the broker's retained messages alone. An empty
retained payload deletes the person everywhere; a rename is a delete of the
old name plus the new name's state.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass

import numpy as np

from . import strictjson
from .errors import InputError
from .names import validate_name
from .topics import Message, Topics

VERSION = 1
MAX_EMBEDDINGS = 200
MAX_PAYLOAD = 2 * 1024 * 1024
#: How far ahead of this device's clock a record's ``updated`` may be.
MAX_CLOCK_SKEW_S = 300


@dataclass(frozen=True)
class SyncRecord:
    name: str
    embeddings: np.ndarray | None  # None: the person was deleted
    model_sha256: str | None
    origin: str | None
    updated: float


def person_message(topics: Topics, name: str, embeddings: np.ndarray, model_sha256: str, origin: str,
                   updated: float) -> Message:
    emb = np.ascontiguousarray(embeddings, dtype="<f4")
    body = {
        "version": VERSION,
        "name": name,
        "model_sha256": model_sha256,
        "origin": origin,
        "updated": updated,
        "shape": list(emb.shape),
        "embeddings_b64": base64.b64encode(emb.tobytes()).decode(),
    }
    return Message(topics.gallery_person(name), json.dumps(body), retain=True, qos=1)


def deletion_message(topics: Topics, name: str) -> Message:
    return Message(topics.gallery_person(name), "", retain=True, qos=1)


def parse(name_from_topic: str, payload: bytes, dim: int, *, now: float | None = None,
          max_embeddings: int = MAX_EMBEDDINGS) -> SyncRecord:
    """Validate a sync message; raises InputError saying what is wrong.

    Numbers are strict (no NaN, infinities or huge integers) and ``updated`` may not lie in the future:
    a record dated 1e300 would otherwise win every later comparison, for good.
    """
    validate_name(name_from_topic)
    where = f"gallery/{name_from_topic}"
    if not payload:
        return SyncRecord(name_from_topic, None, None, None, 0.0)
    if len(payload) > MAX_PAYLOAD:
        raise InputError(f"{where}: {len(payload)} bytes is over {MAX_PAYLOAD}")
    try:
        body = strictjson.loads(payload)
    except strictjson.StrictJSONError as e:
        raise InputError(f"{where}: malformed sync message ({e})") from None
    if not isinstance(body, dict):
        raise InputError(f"{where}: malformed sync message (not a JSON object)")
    if body.get("version") != VERSION or isinstance(body.get("version"), bool):
        raise InputError(f"{where}: unsupported version {str(body.get('version'))[:20]!r}")
    if body.get("name") != name_from_topic:
        raise InputError(f"{where}: name {str(body.get('name'))[:80]!r} differs from the topic")
    shape = body.get("shape")
    if (not isinstance(shape, list) or len(shape) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in shape)):
        raise InputError(f"{where}: shape must be two integers [n, {dim}]")
    n, d = shape
    if not 1 <= n <= max_embeddings or d != dim:
        raise InputError(f"{where}: shape {n}x{d}, expected 1..{max_embeddings}x{dim}")
    updated = body.get("updated")
    if not isinstance(updated, (int, float)) or isinstance(updated, bool) or updated < 0:
        raise InputError(f"{where}: updated must be a Unix time (a number >= 0)")
    limit = (time.time() if now is None else now) + MAX_CLOCK_SKEW_S
    if updated > limit:
        raise InputError(f"{where}: updated {updated:.6g} lies in the future (more than {MAX_CLOCK_SKEW_S} s "
                         "ahead of this device's clock)")
    sha, origin, b64 = body.get("model_sha256"), body.get("origin"), body.get("embeddings_b64")
    if not isinstance(sha, str) or not isinstance(b64, str) or not (origin is None or isinstance(origin, str)):
        raise InputError(f"{where}: model_sha256, origin and embeddings_b64 must be strings")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InputError(f"{where}: embeddings_b64 is not valid base64 ({e})") from None
    if len(raw) != n * d * 4:
        raise InputError(f"{where}: {len(raw)} bytes of embeddings, shape {n}x{d} needs {n * d * 4}")
    emb = np.frombuffer(raw, dtype="<f4").reshape(n, d).astype(np.float32)
    if not np.all(np.isfinite(emb)):
        raise InputError(f"{where}: embeddings are not finite")
    return SyncRecord(name_from_topic, emb, sha[:128], None if origin is None else origin[:128], float(updated))
