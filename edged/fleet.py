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
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .names import validate_name
from .topics import Message, Topics

VERSION = 1
MAX_EMBEDDINGS = 200
MAX_PAYLOAD = 2 * 1024 * 1024


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


def parse(name_from_topic: str, payload: bytes, dim: int) -> SyncRecord:
    """Validate a sync message; raises InputError saying what is wrong."""
    validate_name(name_from_topic)
    if not payload:
        return SyncRecord(name_from_topic, None, None, None, 0.0)
    if len(payload) > MAX_PAYLOAD:
        raise InputError(f"gallery/{name_from_topic}: {len(payload)} bytes is over {MAX_PAYLOAD}")
    try:
        body = json.loads(payload)
        if body.get("version") != VERSION:
            raise InputError(f"gallery/{name_from_topic}: unsupported version {body.get('version')!r}")
        if body.get("name") != name_from_topic:
            raise InputError(f"gallery/{name_from_topic}: name {body.get('name')!r} differs from the topic")
        n, d = (int(x) for x in body["shape"])
        if not 1 <= n <= MAX_EMBEDDINGS or d != dim:
            raise InputError(f"gallery/{name_from_topic}: shape {n}x{d}, expected 1..{MAX_EMBEDDINGS}x{dim}")
        raw = base64.b64decode(body["embeddings_b64"], validate=True)
        emb = np.frombuffer(raw, dtype="<f4").reshape(n, d).astype(np.float32)
        if not np.all(np.isfinite(emb)):
            raise InputError(f"gallery/{name_from_topic}: embeddings are not finite")
        return SyncRecord(name_from_topic, emb, str(body["model_sha256"]), str(body.get("origin")),
                          float(body["updated"]))
    except InputError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as e:
        raise InputError(f"gallery/{name_from_topic}: malformed sync message ({type(e).__name__}: {e})") from e
