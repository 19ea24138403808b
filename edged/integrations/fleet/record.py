"""The fleet's wire format: one retained, signed MQTT message per person (``<base_topic>/gallery/<name>``).

The record carries the person's embeddings and the sha256 of the model that
made them — never images — so a device can only use it with the very same
model. It is the person's whole current state, which makes it idempotent and
lets a device that joins later rebuild the gallery from the broker's retained
messages alone. A deletion is a signed, retained record with ``"deleted":
true`` (a tombstone); a rename is a deletion of the old name plus the new
name's state.

Records of a person are ordered by ``rev``, the person's revision: a device that changes a person signs the
revision after the newest it knows of them (:mod:`.ledger`), so a change outranks every state it was made
from, whatever the clocks of the devices say; ``updated`` (Unix time) only tells when. Version 1 ordered
records by ``updated``, so a device whose clock was behind lost its deletes: it is refused
(:class:`OldRecord`), and an upgraded device republishes its own people as version 2.

The message is ``{"v": 2, "signer", "record", "sig"}`` where ``record`` is the record's JSON text and
``sig`` the base64 Ed25519 signature over ``"frd-gallery-v2\n" + topic + "\n" + record`` (the topic is
signed, so a record cannot be moved to another name); who may sign is :mod:`.trust`'s.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ...core import strictjson
from ...core.errors import InputError
from ...core.models import Message
from ...core.names import validate_name
from ...core.topics import Topics
from .trust import Trust

VERSION = 2  # the record: version 2 orders a person's records by ``rev``, version 1 did by ``updated``
MESSAGE_VERSION = 2  # the signed message around it
CONTEXT = b"frd-gallery-v2"
MAX_EMBEDDINGS = 200
MAX_PAYLOAD = 2 * 1024 * 1024
#: A revision is an integer in [1, MAX_REV) (exact in JSON readers that use doubles).
MAX_REV = 2**53
#: ``updated`` is a Unix time below this (year 36812): informational, but never a huge number.
MAX_UPDATED = 2**40


class OldRecord(InputError):
    """A record of version 1 (ordered by the devices' clocks): refused; ``origin`` may republish it (migration)."""

    def __init__(self, message: str, origin: str | None) -> None:
        super().__init__(message)
        self.origin = origin


@dataclass(frozen=True)
class SyncRecord:
    name: str
    embeddings: np.ndarray | None  # None: the person was deleted
    model_sha256: str | None
    origin: str | None
    updated: float
    rev: int = 0  # the person's revision (0: none, only before parsing)
    signer: str | None = None  # a device id, or AUTHORITY

    @property
    def deleted(self) -> bool:
        return self.embeddings is None


def _signed_bytes(topic: str, record: str) -> bytes:
    return CONTEXT + b"\n" + topic.encode() + b"\n" + record.encode()


def signed_message(topic: str, record: dict, signer: str, key: Ed25519PrivateKey) -> str:
    text = json.dumps(record, separators=(",", ":"))
    sig = key.sign(_signed_bytes(topic, text))
    return json.dumps({"v": MESSAGE_VERSION, "signer": signer, "record": text,
                       "sig": base64.b64encode(sig).decode()})


def person_message(topics: Topics, name: str, embeddings: np.ndarray, model_sha256: str, origin: str,
                   updated: float, key: Ed25519PrivateKey, signer: str | None = None, *, rev: int) -> Message:
    """A person's state at revision ``rev``, retained (a device that joins later gets it)."""
    emb = np.ascontiguousarray(embeddings, dtype="<f4")
    body = {
        "version": VERSION,
        "name": name,
        "rev": rev,
        "model_sha256": model_sha256,
        "origin": origin,
        "updated": updated,
        "shape": list(emb.shape),
        "embeddings_b64": base64.b64encode(emb.tobytes()).decode(),
    }
    topic = topics.gallery_person(name)
    return Message(topic, signed_message(topic, body, signer or origin, key), retain=True, qos=1)


def deletion_message(topics: Topics, name: str, origin: str, updated: float, key: Ed25519PrivateKey,
                     signer: str | None = None, *, rev: int) -> Message:
    """A signed deletion at revision ``rev`` (a tombstone), retained in place of the person's record: it carries no
    embedding, and a device that joins later learns from it that older records of the name are dead."""
    body = {"version": VERSION, "name": name, "rev": rev, "origin": origin, "updated": updated, "deleted": True}
    topic = topics.gallery_person(name)
    return Message(topic, signed_message(topic, body, signer or origin, key), retain=True, qos=1)


def _load(where: str, payload: bytes) -> object:
    """A sync message's JSON, size-capped and strict; InputError naming ``where`` otherwise."""
    if len(payload) > MAX_PAYLOAD:
        raise InputError(f"{where}: {len(payload)} bytes is over {MAX_PAYLOAD}")
    try:
        return strictjson.loads(payload)
    except strictjson.StrictJSONError as e:
        raise InputError(f"{where}: malformed sync message ({e})") from None


def verify(topic: str, payload: bytes, trust: Trust) -> tuple[str, bytes]:
    """(signer, record bytes) of a signed sync message; InputError if unsigned or badly signed."""
    where = topic.rsplit("/", 1)[-1]
    if not payload:
        raise InputError(f"gallery/{where}: empty (a retained record cleared; deletions are signed): ignored")
    msg = _load(f"gallery/{where}", payload)
    if not isinstance(msg, dict) or msg.get("v") != MESSAGE_VERSION or set(msg) != {"v", "signer", "record", "sig"}:
        raise InputError(f"gallery/{where}: unsigned sync message refused (expected "
                         f"{{\"v\": {MESSAGE_VERSION}, \"signer\", \"record\", \"sig\"}})")
    signer, record, sig = msg["signer"], msg["record"], msg["sig"]
    if not isinstance(signer, str) or not isinstance(record, str) or not isinstance(sig, str):
        raise InputError(f"gallery/{where}: signer, record and sig must be strings")
    keys = trust.keys_of(signer)
    if not keys:
        raise InputError(f"gallery/{where}: signer {signer[:64]!r} is not trusted (fleet.trusted_keys, "
                         "fleet.authority_keys)")
    try:
        raw_sig = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"gallery/{where}: sig is not base64") from None
    try:
        data = _signed_bytes(topic, record)
    except UnicodeEncodeError:  # JSON may escape a lone surrogate ("\udd8e"): no UTF-8 text, never signed
        raise InputError(f"gallery/{where}: record is not UTF-8 text (a lone surrogate)") from None
    for k in keys:
        try:
            k.verify(raw_sig, data)
            return signer, record.encode()
        except InvalidSignature:
            continue
    raise InputError(f"gallery/{where}: bad signature from {signer[:64]!r}: refused")


def parse(name_from_topic: str, payload: bytes, dim: int, *, max_embeddings: int = MAX_EMBEDDINGS) -> SyncRecord:
    """Validate a sync message; raises InputError saying what is wrong (:class:`OldRecord` for version 1).

    Numbers are strict (no NaN, infinities or huge integers). Nothing here reads this device's clock: records
    are ordered by ``rev``, and ``updated`` is only bounded.
    """
    validate_name(name_from_topic)
    where = f"gallery/{name_from_topic}"
    body = _load(where, payload)
    if not isinstance(body, dict):
        raise InputError(f"{where}: malformed sync message (not a JSON object)")
    origin = body.get("origin")
    if not (origin is None or isinstance(origin, str)):
        raise InputError(f"{where}: origin must be a string")
    origin = None if origin is None else origin[:128]
    version = body.get("version")
    if version == 1 and not isinstance(version, bool):
        raise OldRecord(f"{where}: a record of version 1 (ordered by the devices' clocks) is refused: this frd "
                        f"speaks version {VERSION}; {origin or 'its device'!r} republishes it once upgraded", origin)
    if version != VERSION or isinstance(version, bool):
        raise InputError(f"{where}: unsupported version {str(version)[:20]!r} (this frd speaks {VERSION})")
    if body.get("name") != name_from_topic:
        raise InputError(f"{where}: name {str(body.get('name'))[:80]!r} differs from the topic")
    rev = body.get("rev")
    if not isinstance(rev, int) or isinstance(rev, bool) or not 1 <= rev < MAX_REV:
        raise InputError(f"{where}: rev must be an integer in [1, 2^53) (the person's revision)")
    updated = body.get("updated")
    if not isinstance(updated, (int, float)) or isinstance(updated, bool) or not 0 <= updated < MAX_UPDATED:
        raise InputError(f"{where}: updated must be a Unix time (a number in [0, 2^40))")
    if body.get("deleted") is True:
        return SyncRecord(name_from_topic, None, None, origin, float(updated), rev)
    shape = body.get("shape")
    if (not isinstance(shape, list) or len(shape) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in shape)):
        raise InputError(f"{where}: shape must be two integers [n, {dim}]")
    n, d = shape
    if not 1 <= n <= max_embeddings or d != dim:
        raise InputError(f"{where}: shape {n}x{d}, expected 1..{max_embeddings}x{dim}")
    sha, b64 = body.get("model_sha256"), body.get("embeddings_b64")
    if not isinstance(sha, str) or not isinstance(b64, str):
        raise InputError(f"{where}: model_sha256 and embeddings_b64 must be strings")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InputError(f"{where}: embeddings_b64 is not valid base64 ({e})") from None
    if len(raw) != n * d * 4:
        raise InputError(f"{where}: {len(raw)} bytes of embeddings, shape {n}x{d} needs {n * d * 4}")
    emb = np.frombuffer(raw, dtype="<f4").reshape(n, d).astype(np.float32)
    if not np.all(np.isfinite(emb)):
        raise InputError(f"{where}: embeddings are not finite")
    return SyncRecord(name_from_topic, emb, sha[:128], origin, float(updated), rev)
