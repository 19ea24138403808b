"""Fleet gallery sync: one retained, signed MQTT message per person, shared by every device.

The record carries the person's embeddings and the sha256 of the model that
made them — never images — so a device can only use it with the very same
model. It is the person's whole current state (last writer wins, by
``updated``), which makes it idempotent and lets a device that joins later
rebuild the gallery from the broker's retained messages alone. A deletion is
a signed record with ``"deleted": true``; a rename is a deletion of the old
name plus the new name's state.

Trust: a record enrolls a face on every device, so each one is signed with
Ed25519. The message is ``{"v": 2, "signer", "record", "sig"}`` where
``record`` is the record's JSON text and ``sig`` the base64 signature over
``"frd-gallery-v2\n" + topic + "\n" + record`` (the topic is signed, so a
record cannot be moved to another name). ``signer`` is a device id whose
public key is in ``fleet.trusted_keys`` (and must equal the record's
``origin``), or ``authority`` for a key in ``fleet.authority_keys``. A device
may create people and change or delete the people it enrolled; only the
authority may change a person another device enrolled (see README "Who may
enroll").

In ``frd run``, :class:`FleetSync` is the component that does this: a listener
(shares each change) and a guard (the owner check) of the people service.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..core import strictjson
from ..core.errors import FrdError, InputError
from ..core.names import validate_name
from ..core.topics import Message, Topics
from ..mqtt.security import AUTHORITY, public_key
from ..store.gallery import Person, describe_space

if TYPE_CHECKING:
    from ..mqtt.bus import Incoming, Publisher
    from ..service.people import Change, People

log = logging.getLogger(__name__)

VERSION = 1  # the record
MESSAGE_VERSION = 2  # the signed message around it
CONTEXT = b"frd-gallery-v2"
#: systemd credential name ($CREDENTIALS_DIRECTORY/fleet_key) of this device's signing key.
KEY_CREDENTIAL = "fleet_key"
#: Salted hashes of deleted people's names and when they were deleted, in the gallery folder.
TOMBSTONE_FILE = ".fleet-deleted.json"
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
    signer: str | None = None  # a device id, or AUTHORITY


# ---------------------------------------------------------------- keys


def _private_file(path: Path, credential: bool) -> bytes:
    """A secret file's bytes; refused when group or others may read it (the fix is in the message)."""
    from ..mqtt.security import check_private

    if not credential:  # systemd makes credentials readable by the service only
        check_private(path, "fleet signing key")
    try:
        return path.read_bytes()
    except OSError as e:
        raise FrdError(f"{path}: cannot read the fleet signing key ({e.strerror or e})") from None


def load_signing_key(path: Path, *, credential: bool = False) -> Ed25519PrivateKey:
    """An Ed25519 private key in PEM (``openssl genpkey -algorithm ed25519 -out fleet_key.pem``)."""
    data = _private_file(path, credential)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise FrdError(f"{path}: not a PEM private key without a passphrase ({e})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise FrdError(f"{path}: the fleet signing key must be Ed25519 (openssl genpkey -algorithm ed25519)")
    return key


def resolve_signing_key(key_file: Path | None, environ: Mapping[str, str] | None = None) -> Ed25519PrivateKey | None:
    """This device's key: the systemd credential ``fleet_key`` first, else ``fleet.signing_key_file``."""
    env = os.environ if environ is None else environ
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir and (Path(cred_dir) / KEY_CREDENTIAL).exists():
        return load_signing_key(Path(cred_dir) / KEY_CREDENTIAL, credential=True)
    return load_signing_key(key_file) if key_file is not None else None


def public_key_text(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


@dataclass
class Trust:
    """Who may sign fleet records: this device's own key, the devices' public keys, the authority's keys."""

    device_id: str
    signing_key: Ed25519PrivateKey | None
    devices: dict[str, list[Ed25519PublicKey]]
    authorities: list[Ed25519PublicKey]

    def keys_of(self, signer: str) -> list[Ed25519PublicKey]:
        if signer == AUTHORITY:
            return self.authorities
        if signer == self.device_id and self.signing_key is not None:
            return [self.signing_key.public_key(), *self.devices.get(signer, [])]
        return self.devices.get(signer, [])


def trust_from_config(fleet_cfg, device_id: str, environ: Mapping[str, str] | None = None) -> Trust:
    """The :class:`Trust` of ``config.fleet`` (keys are validated by the config already)."""
    return Trust(
        device_id,
        resolve_signing_key(fleet_cfg.signing_key_file, environ),
        {d: [public_key(k, f"fleet.trusted_keys.{d}") for k in keys] for d, keys in fleet_cfg.trusted_keys.items()},
        [public_key(k, "fleet.authority_keys") for k in fleet_cfg.authority_keys],
    )


class Tombstones:
    """When each deleted person was deleted, so that an old signed record replayed later cannot bring them back.

    Kept in a small private file in the gallery folder. Names are stored as salted hashes: deleting a person
    must not leave their name on disk.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._salt = os.urandom(16)
        self._deleted: dict[str, float] = {}
        if path is None or not path.exists():
            return
        try:
            obj = strictjson.loads(path.read_bytes())
            self._salt = bytes.fromhex(obj["salt"])
            self._deleted = {str(k): float(v) for k, v in obj["deleted"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            log.error("%s: unreadable list of deleted people (%s): old records of them could be replayed",
                      path, e)

    def _key(self, name: str) -> str:
        return hashlib.sha256(self._salt + name.encode()).hexdigest()

    def deleted_at(self, name: str) -> float | None:
        return self._deleted.get(self._key(name))

    def record(self, name: str, when: float) -> None:
        key = self._key(name)
        self._deleted[key] = max(when, self._deleted.get(key, 0.0))
        if self.path is None:
            return
        from ..store.gallery import atomic_write

        body = json.dumps({"v": 1, "salt": self._salt.hex(), "deleted": self._deleted})
        try:
            atomic_write(self.path, body.encode())
        except OSError as e:
            log.error("%s: cannot save the list of deleted people (%s)", self.path, e.strerror or e)


def _signed_bytes(topic: str, record: str) -> bytes:
    return CONTEXT + b"\n" + topic.encode() + b"\n" + record.encode()


def signed_message(topic: str, record: dict, signer: str, key: Ed25519PrivateKey) -> str:
    text = json.dumps(record, separators=(",", ":"))
    sig = key.sign(_signed_bytes(topic, text))
    return json.dumps({"v": MESSAGE_VERSION, "signer": signer, "record": text,
                       "sig": base64.b64encode(sig).decode()})


def person_message(topics: Topics, name: str, embeddings: np.ndarray, model_sha256: str, origin: str,
                   updated: float, key: Ed25519PrivateKey, signer: str | None = None) -> Message:
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
    topic = topics.gallery_person(name)
    return Message(topic, signed_message(topic, body, signer or origin, key), retain=True, qos=1)


def deletion_message(topics: Topics, name: str, origin: str, updated: float, key: Ed25519PrivateKey,
                     signer: str | None = None) -> Message:
    """A signed deletion; not retained (see :func:`clear_message`), so the broker keeps no trace of the name."""
    body = {"version": VERSION, "name": name, "origin": origin, "updated": updated, "deleted": True}
    topic = topics.gallery_person(name)
    return Message(topic, signed_message(topic, body, signer or origin, key), retain=False, qos=1)


def clear_message(topics: Topics, name: str) -> Message:
    """Clears the retained record on the broker; receivers ignore it (it is not signed)."""
    return Message(topics.gallery_person(name), "", retain=True, qos=1)


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


def parse(name_from_topic: str, payload: bytes, dim: int, *, now: float | None = None,
          max_embeddings: int = MAX_EMBEDDINGS) -> SyncRecord:
    """Validate a sync message; raises InputError saying what is wrong.

    Numbers are strict (no NaN, infinities or huge integers) and ``updated`` may not lie in the future:
    a record dated 1e300 would otherwise win every later comparison, for good.
    """
    validate_name(name_from_topic)
    where = f"gallery/{name_from_topic}"
    body = _load(where, payload)
    if not isinstance(body, dict):
        raise InputError(f"{where}: malformed sync message (not a JSON object)")
    if body.get("version") != VERSION or isinstance(body.get("version"), bool):
        raise InputError(f"{where}: unsupported version {str(body.get('version'))[:20]!r}")
    if body.get("name") != name_from_topic:
        raise InputError(f"{where}: name {str(body.get('name'))[:80]!r} differs from the topic")
    updated = body.get("updated")
    if not isinstance(updated, (int, float)) or isinstance(updated, bool) or updated < 0:
        raise InputError(f"{where}: updated must be a Unix time (a number >= 0)")
    limit = (time.time() if now is None else now) + MAX_CLOCK_SKEW_S
    if updated > limit:
        raise InputError(f"{where}: updated {updated:.6g} lies in the future (more than {MAX_CLOCK_SKEW_S} s "
                         "ahead of this device's clock)")
    origin = body.get("origin")
    if not (origin is None or isinstance(origin, str)):
        raise InputError(f"{where}: origin must be a string")
    origin = None if origin is None else origin[:128]
    if body.get("deleted") is True:
        return SyncRecord(name_from_topic, None, None, origin, float(updated))
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
    return SyncRecord(name_from_topic, emb, sha[:128], origin, float(updated))


# ---------------------------------------------------------------- the daemon's component


#: Fleet records waiting for the command thread (one per person; more people than this are dropped).
MAX_PENDING_SYNC = 2000


class FleetSync:
    """Shares this device's people and applies the fleet's records: a listener and a guard of the people service.

    Wired by ``app.py`` when ``fleet.sync`` is on. Records arrive on paho's thread (:meth:`accept` keeps
    only the newest per person, without blocking) and are applied on the command thread (:meth:`work`).
    """

    def __init__(self, people: People, bus: Publisher, topics: Topics, trust: Trust, *, embedding_dim: int,
                 tombstones: Tombstones) -> None:
        self.people = people
        self.bus = bus
        self.topics = topics
        self.trust = trust
        self.device_id = trust.device_id
        self.embedding_dim = embedding_dim
        self.tombstones = tombstones
        self._lock = threading.Lock()
        self._pending: dict[str, bytes] = {}  # the newest message per person, not yet applied
        self.dropped = 0

    @property
    def subscriptions(self) -> list[str]:
        return [self.topics.gallery_wildcard]

    def on_connected(self) -> None:
        """Records come retained from the broker: nothing to publish."""

    def poll(self) -> None:
        """Nothing to tidy: deletions are shared when they happen."""

    # -- incoming (paho's thread, then the command thread) ----------------------------------
    def _name(self, topic: str) -> str | None:
        """The person of a fleet gallery topic, or None for any other topic."""
        name = topic.rsplit("/", 1)[-1]
        try:
            return name if topic == self.topics.gallery_person(name) else None
        except ValueError:
            return None

    def accept(self, msg: Incoming) -> bool:
        """Keep a person's record for :meth:`work`; True if ``msg`` was a fleet record (taken or not)."""
        name = self._name(msg.topic)
        if name is None:
            return False
        if not msg.payload:  # a cleared retained record (deletions are signed): it must not replace one
            log.debug("fleet: retained record of %s cleared", name)
            return True
        # A record is the person's whole state, so only the newest per person matters.
        with self._lock:
            if name not in self._pending and len(self._pending) >= MAX_PENDING_SYNC:
                self.dropped += 1
                log.warning("dropped fleet sync of %s: more than %d people waiting", name, MAX_PENDING_SYNC)
                return True
            self._pending[name] = msg.payload
        return True

    def work(self) -> None:
        """Apply every pending record (on the command thread); a bad one is logged and skipped."""
        while True:
            with self._lock:
                if not self._pending:
                    return
                name = next(iter(self._pending))
                payload = self._pending.pop(name)
            try:
                self.apply(name, payload)
            except FrdError as e:
                log.warning("fleet sync message ignored: %s", e)
            except Exception:
                log.exception("fleet sync message for %s ignored", name[:80])

    def owner(self, name: str) -> str | None:
        """The device that enrolled ``name`` (this one unless every sample came from fleet sync), or None."""
        p = self.people.gallery.people.get(name)
        if p is None:
            return None
        shared = [s for s in p.sources if s.startswith("fleet:")]
        return shared[-1][len("fleet:"):] if p.sources and len(shared) == len(p.sources) else self.device_id

    def check_owner(self, name: str) -> None:
        """The people service's guard: a person shared by another device is changed there, so every device agrees."""
        owner = self.owner(name)
        if owner is not None and owner != self.device_id:
            raise InputError(f"{name} was enrolled on device {owner!r} and is shared by fleet sync: enroll, "
                             "rename or delete them there")

    def apply(self, name: str, payload: bytes) -> None:
        """Take one signed record: a person's new state, or their deletion."""
        gallery = self.people.gallery
        topic = self.topics.gallery_person(name)
        signer, body = verify(topic, payload, self.trust)
        rec = parse(name, body, self.embedding_dim, max_embeddings=gallery.max_samples)
        if signer != AUTHORITY and rec.origin != signer:
            raise InputError(f"gallery/{name}: signed by {signer!r} but claims to come from {rec.origin!r}")
        if signer == self.device_id:
            return  # our own state, echoed by the broker
        owner = self.owner(name)
        if signer != AUTHORITY and owner is not None and owner != signer:
            raise InputError(f"gallery/{name}: {name} was enrolled on {owner!r}; {signer!r} may not replace or "
                             "delete them (only the enrollment authority may)")
        local = gallery.people.get(name)
        if rec.embeddings is None:
            if local is not None and local.updated <= rec.updated:
                self.people.remove(name, from_fleet=True)
                self.tombstones.record(name, rec.updated)
                log.info("fleet: %s deleted by %s", name, signer)
            return
        deleted = self.tombstones.deleted_at(name)
        if local is None and deleted is not None and rec.updated <= deleted:
            raise InputError(f"gallery/{name}: a record older than {name}'s deletion (a replay?): ignored")
        if rec.model_sha256 != gallery.model_sha256:
            log.info("fleet: %s from %s was made in another embedding space (%s; ours: %s): ignored", name,
                     rec.origin, describe_space(rec.model_sha256 or "?"), describe_space(gallery.model_sha256))
            return
        if local is not None and local.updated >= rec.updated:
            return
        person = Person(name, rec.embeddings, rec.model_sha256, None, [f"fleet:{rec.origin or signer}"],
                        rec.updated)
        self.people.replace(person)
        log.info("fleet: %s (%d embeddings) from %s, signed by %s", name, person.count, rec.origin, signer)

    # -- outgoing: the people service's changes ------------------------------------------
    def on_change(self, change: Change) -> None:
        if change.from_fleet or change.name is None:
            return  # a record another device shared is not shared back; a reload changes nobody by itself
        self.share(change.name)
        if change.new_name is not None:
            self.share(change.new_name)

    def share(self, name: str) -> None:
        """Publish ``name``'s current state (or its deletion) to the fleet."""
        p = self.people.gallery.people.get(name)
        now = time.time()
        if p is None:
            self.tombstones.record(name, now)
        key = self.trust.signing_key
        if key is None:
            log.warning("fleet: %s not shared: this device has no fleet signing key (fleet.signing_key_file)", name)
            return
        if p is None:
            # The signed deletion reaches every device online or with a live session; then the retained record
            # is cleared, so that the broker keeps no embedding (and no name) of a deleted person.
            self.bus.publish(deletion_message(self.topics, name, self.device_id, now, key))
            self.bus.publish(clear_message(self.topics, name))
        else:
            self.bus.publish(person_message(self.topics, name, p.embeddings, p.model_sha256, self.device_id,
                                            p.updated, key))


# ---------------------------------------------------------------- the administrator's tool


def main(argv: list[str] | None = None) -> int:
    """``python -m edged.integrations.fleet``: public keys, and records signed by the enrollment authority.

    The authority's key stays with the administrator, so this runs on the administrator's machine; the
    output is published with ``mosquitto_pub`` (see README, "Who may enroll").
    """
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m edged.integrations.fleet", description=main.__doc__)
    sub = ap.add_subparsers(dest="what", required=True)
    pk = sub.add_parser("pubkey", help="print the base64 public key of a PEM private key (for fleet.*_keys)")
    pk.add_argument("key", type=Path)
    sg = sub.add_parser("sign", help="sign a gallery record as the authority (or as a device)")
    sg.add_argument("--key", type=Path, required=True, help="PEM private key")
    sg.add_argument("--signer", default=AUTHORITY, help=f"'{AUTHORITY}' (default) or a device id")
    sg.add_argument("--topic", required=True, help="e.g. frd/gallery/lin")
    how = sg.add_mutually_exclusive_group(required=True)
    how.add_argument("--from-message", type=Path, metavar="FILE",
                     help="re-sign the record of a message (mosquitto_sub -C 1 -t TOPIC), dated now: it wins")
    how.add_argument("--delete", action="store_true", help="a signed deletion (publish it without -r)")
    sg.add_argument("--origin", help="the device that owns the person afterwards (default: the record's)")
    args = ap.parse_args(argv)
    try:
        if args.what == "pubkey":
            print(public_key_text(load_signing_key(args.key)))
            return 0
        key = load_signing_key(args.key)
        name = args.topic.rsplit("/", 1)[-1]
        if args.delete:
            record: dict = {"version": VERSION, "name": name, "origin": args.origin or args.signer,
                            "updated": time.time(), "deleted": True}
        else:
            outer = strictjson.loads(args.from_message.read_bytes())
            record = strictjson.loads(outer["record"]) if isinstance(outer, dict) and "record" in outer else outer
            if not isinstance(record, dict) or record.get("name") != name:
                raise FrdError(f"{args.from_message}: not a record of {name!r}")
            record["updated"] = time.time()
            if args.origin:
                record["origin"] = args.origin
        print(signed_message(args.topic, record, args.signer, key))
        return 0
    except (FrdError, OSError, KeyError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
