"""Who may command this device: signed commands, replay protection, rate limits.

Enrolling a face over MQTT hands out a door key, so besides the broker's own
authentication and ACL (``config/mosquitto/``) frd can require every command
to be signed with a key shared with the administrator.

The signed envelope is plain JSON, so ``mosquitto_pub -f signed.json`` sends
it and raw-image enrollment keeps working (the image travels base64-encoded)::

    {"v": 1, "ts": 1732750000, "nonce": "4f1c…", "payload_b64": "<base64>", "sig": "<64 hex digits>"}

``payload`` (UTF-8 text) may be used instead of ``payload_b64``. The
signature is HMAC-SHA256 with the command key over::

    "frd-command-v1\\n" + topic + "\\n" + str(ts) + "\\n" + nonce + "\\n" + payload bytes

where ``topic`` is the MQTT topic the envelope is published on (so a signed
``delete`` cannot be replayed as another command, or to another device),
``ts`` is Unix time in whole seconds and ``nonce`` is 16–64 characters of
``[A-Za-z0-9_-]``. A command is accepted when the signature is right, ``ts``
is within ``replay_window_s`` of the device's clock, ``ts`` is not more than
that window older than a command already accepted, and the nonce has not been
seen (:class:`NonceStore`: seen nonces survive restarts and clock changes).
``frd sign`` builds envelopes; docs/security.md shows the same with ``openssl dgst``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..config import SecurityConfig, default
from ..core import strictjson
from ..core.errors import FrdError
from ..core.files import atomic_write, check_private

log = logging.getLogger(__name__)

VERSION = 1
MAC_CONTEXT = b"frd-command-v1"
#: systemd credential name ($CREDENTIALS_DIRECTORY/command_key).
KEY_CREDENTIAL = "command_key"
MIN_KEY_BYTES = 16
MAX_KEY_BYTES = 4096
NONCE_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
#: Nonces remembered at once; more signed commands than this within one window are refused.
MAX_NONCES = 20_000
_ENVELOPE_KEYS = frozenset({"v", "ts", "nonce", "payload", "payload_b64", "sig"})


class TrustError(FrdError):
    """A command refused by a trust check: unsigned, badly signed, stale, replayed or over its rate."""


class RateLimited(TrustError):
    """Too many requests of one command."""


# ---------------------------------------------------------------- the key


def read_key(path: Path, *, credential: bool = False) -> bytes:
    """The command key in ``path``: its bytes, one trailing newline stripped; at least 16 bytes.

    ``credential``: a systemd credential, which systemd makes readable by the service only.
    """
    if not credential:
        check_private(path, "command key")
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise FrdError(f"{path}: cannot read the command key ({e.strerror or e})") from None
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    if len(data) < MIN_KEY_BYTES:
        raise FrdError(f"{path}: the command key is {len(data)} bytes; use at least {MIN_KEY_BYTES} "
                       "(e.g. openssl rand -hex 32)")
    if len(data) > MAX_KEY_BYTES:
        raise FrdError(f"{path}: the command key is longer than {MAX_KEY_BYTES} bytes")
    return data


def resolve_command_key(key_file: Path | None, environ: Mapping[str, str] | None = None) -> tuple[bytes, Path] | None:
    """(key, where it came from): the systemd credential first, else ``security.command_key_file``."""
    env = os.environ if environ is None else environ
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir and (Path(cred_dir) / KEY_CREDENTIAL).exists():
        path = Path(cred_dir) / KEY_CREDENTIAL
        return read_key(path, credential=True), path
    if key_file is not None:
        return read_key(key_file), Path(key_file)
    return None


# ---------------------------------------------------------------- signing


def mac_input(topic: str, ts: int, nonce: str, payload: bytes) -> bytes:
    return b"\n".join([MAC_CONTEXT, topic.encode("utf-8"), str(ts).encode(), nonce.encode()]) + b"\n" + payload


def signature(key: bytes, topic: str, ts: int, nonce: str, payload: bytes) -> str:
    return hmac.new(key, mac_input(topic, ts, nonce, payload), hashlib.sha256).hexdigest()


def new_nonce() -> str:
    return secrets.token_hex(16)


def sign(key: bytes, topic: str, payload: bytes, *, ts: int | None = None, nonce: str | None = None,
         binary: bool | None = None) -> str:
    """The JSON envelope for ``payload`` on ``topic``.

    ``binary``: carry the payload base64-encoded (default: only when it is not UTF-8 text).
    """
    _check_topic(topic)
    ts = int(time.time()) if ts is None else ts
    nonce = new_nonce() if nonce is None else nonce
    if not NONCE_RE.fullmatch(nonce):
        raise FrdError("nonce must be 16-64 characters from A-Z, a-z, 0-9, '_' and '-'")
    if binary is None:
        try:
            payload.decode("utf-8")
            binary = False
        except UnicodeDecodeError:
            binary = True
    env: dict[str, object] = {"v": VERSION, "ts": ts, "nonce": nonce}
    if binary:
        env["payload_b64"] = base64.b64encode(payload).decode("ascii")
    else:
        env["payload"] = payload.decode("utf-8")
    env["sig"] = signature(key, topic, ts, nonce, payload)
    return json.dumps(env, ensure_ascii=False)


def _check_topic(topic: str) -> None:
    if not isinstance(topic, str) or not topic or "\n" in topic or any(c in topic for c in "+#\x00"):
        raise FrdError(f"topic {topic!r} cannot carry a signed command (empty, a wildcard, NUL or a newline)")


@dataclass(frozen=True)
class Envelope:
    ts: int
    nonce: str
    payload: bytes
    sig: str


def looks_signed(payload: bytes) -> bool:
    """Cheap test: a JSON object that mentions ``"sig"`` is treated (and checked) as an envelope."""
    return payload.lstrip()[:1] == b"{" and b'"sig"' in payload


def open_envelope(raw: bytes) -> Envelope:
    """Parse and shape-check an envelope (the signature is checked by :class:`CommandGuard`)."""
    try:
        obj = strictjson.loads(raw)
    except strictjson.StrictJSONError as e:
        why = strictjson.reason(e)
        if "appears twice" in why:  # JSON's last-wins would let an unseen second value override the checked one
            raise TrustError(f"signed envelope: duplicate key ({why})") from None
        raise TrustError(f"signed envelope is not valid JSON ({why})") from None
    if not isinstance(obj, dict):
        raise TrustError("signed envelope must be a JSON object")
    extra = sorted(set(obj) - _ENVELOPE_KEYS)
    if extra:
        raise TrustError(f"signed envelope: unknown field(s) {', '.join(extra)[:200]}; "
                         f"allowed: {', '.join(sorted(_ENVELOPE_KEYS))}")
    if obj.get("v", VERSION) != VERSION or isinstance(obj.get("v"), bool):
        raise TrustError(f"signed envelope: version {obj.get('v')!r} is not supported (this frd speaks {VERSION})")
    ts = obj.get("ts")
    if not isinstance(ts, int) or isinstance(ts, bool) or not 0 <= ts < 2**40:
        raise TrustError("signed envelope: ts must be Unix time in whole seconds")
    nonce = obj.get("nonce")
    if not isinstance(nonce, str) or not NONCE_RE.fullmatch(nonce):
        raise TrustError("signed envelope: nonce must be 16-64 characters from A-Z, a-z, 0-9, '_' and '-'")
    sig = obj.get("sig")
    if not isinstance(sig, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", sig):
        raise TrustError("signed envelope: sig must be 64 hex digits (HMAC-SHA256)")
    if ("payload" in obj) == ("payload_b64" in obj):
        raise TrustError("signed envelope needs exactly one of 'payload' (text) or 'payload_b64'")
    if "payload" in obj:
        if not isinstance(obj["payload"], str):
            raise TrustError("signed envelope: payload must be a string (use payload_b64 for bytes)")
        try:
            payload = obj["payload"].encode("utf-8")
        except UnicodeEncodeError:
            raise TrustError("signed envelope: payload is not valid Unicode text") from None
    else:
        value = obj["payload_b64"]
        if not isinstance(value, str):
            raise TrustError("signed envelope: payload_b64 must be a base64 string")
        try:
            payload = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise TrustError("signed envelope: payload_b64 is not valid base64") from None
    return Envelope(ts, nonce, payload, sig.lower())


# ---------------------------------------------------------------- replay protection


class NonceStore:
    """The nonces of the signed commands already accepted, and the floor below which none is accepted any more,
    in a small JSON file, so that neither a restart nor a change of this device's clock lets one be replayed.

    Ordered by the envelopes' own ``ts``, never by this device's clock: after accepting an envelope signed at
    ``ts``, the floor rises to ``ts - window`` (a persisted high-water mark), envelopes signed before the floor
    are refused, and only nonces below the floor are forgotten. Every envelope that could still be accepted
    therefore has its nonce remembered, whatever the clock says later: a clock set back (a spoofed NTP) makes
    old envelopes look fresh to the freshness check, but they are under the floor.

    It fails closed:

    - a file that cannot be read at start-up (missing, corrupt, an older format) means the nonces used before
      are unknown, so the floor starts just after the start-up: envelopes signed before it are refused ("sign
      it again");
    - a nonce is saved before its command runs; when the file cannot be saved (a full disk), the command is
      refused, and so is every signed command until a save succeeds (:attr:`save_error`, in the status).
    """

    def __init__(self, path: Path | None, window_s: float, max_entries: int = MAX_NONCES,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.window_s = window_s
        self.max_entries = max_entries
        self._seen: dict[str, int] = {}
        #: envelopes signed before this (Unix seconds) are refused
        self.floor = 0
        self._lock = threading.Lock()
        #: start-up time, when the nonces used before it are unknown (None: they are known)
        self.lost_at: float | None = None
        #: why the last save failed (None: it did not); signed commands are refused meanwhile
        self.save_error: str | None = None
        self._clock = clock
        self._load()

    def _load(self) -> None:
        if self.path is None:
            return
        why = None
        try:
            obj = strictjson.loads(self.path.read_bytes())
            seen, floor = obj["nonces"], obj.get("floor")
            if not isinstance(seen, dict):
                raise ValueError("nonces is not an object")
            self._seen = {str(k): int(v) for k, v in seen.items()}
            if obj.get("v") == 2 and isinstance(floor, int) and not isinstance(floor, bool):
                self.floor = floor
                return
            why = "it is of an older format, without the floor"
        except FileNotFoundError:
            log.info("%s: no list of used command nonces (first start, or it was removed): commands signed "
                     "before now are refused", self.path)
        except (OSError, ValueError, KeyError, TypeError, OverflowError, AttributeError,
                strictjson.StrictJSONError) as e:
            why = str(e)
            self._seen = {}
        if why is not None:
            log.error("%s: the list of used command nonces cannot be trusted (%s): commands signed before now "
                      "are refused", self.path, why)
        self.lost_at = self._clock()
        self.floor = max(self.floor, int(self.lost_at) + 1)

    def _save(self, seen: dict[str, int], floor: int) -> None:
        """Write the list; TrustError (and :attr:`save_error`) when it cannot be written."""
        if self.path is None:
            return
        try:
            atomic_write(self.path, json.dumps({"v": 2, "floor": floor, "nonces": seen}).encode())
        except OSError as e:
            if self.save_error is None:
                log.error("%s: cannot save used command nonces (%s): signed commands are refused until it can, so "
                          "that a restart cannot forget one and let it be replayed", self.path, e.strerror or e)
            self.save_error = f"{self.path}: cannot save used command nonces ({e.strerror or e}): signed commands " \
                              "are refused until it can"
            raise TrustError(f"refused: {self.save_error} (a full disk?)") from None
        if self.save_error is not None:
            log.info("%s: used command nonces saved again: signed commands are accepted", self.path)
        self.save_error = None

    def use(self, nonce: str, ts: int, now: float) -> None:
        """Record ``nonce`` (saved before the command runs); TrustError if it was already used (a replay), was
        signed before the floor, the store is full, or it cannot be saved."""
        with self._lock:
            if nonce in self._seen:
                raise TrustError("replayed command refused: this nonce was already used")
            if ts < self.floor:
                if self.lost_at is not None and ts <= self.lost_at:
                    raise TrustError("refused: this command was signed before frd started and the list of used "
                                     "nonces could not be read at start-up, so it may be a replay; sign it again")
                raise TrustError(f"refused: signed at {ts}, more than {self.window_s:g} s before a signed command "
                                 "already accepted, so its nonce may be forgotten and it may be a replay; sign it "
                                 "again (and check the clocks of the signing machines)")
            if len(self._seen) >= self.max_entries:
                raise TrustError(f"refused: more than {self.max_entries} signed commands within the replay window")
            floor = max(self.floor, ts - int(self.window_s))
            seen = {n: t for n, t in self._seen.items() if t >= floor}
            seen[nonce] = ts
            self._save(seen, floor)  # before the command runs: a command whose nonce is not on disk never runs
            self._seen, self.floor = seen, floor

    def clock_behind(self, now: float) -> str | None:
        """A problem for the status: the floor lies ahead of this device's clock by more than the window, so
        every signed command is refused until the clock passes it (a clock set back, or a wrong clock at a
        start-up that lost the list)."""
        ahead = self.floor - now
        if ahead <= self.window_s:
            return None
        return (f"signed commands are refused for {ahead:.0f} s more: a signed command already accepted (or the "
                f"start-up after a lost list of used nonces) is dated ahead of this device's clock; check the "
                f"clock (NTP), or remove {self.path} and restart if the clock was wrong then")

    def __len__(self) -> int:
        return len(self._seen)


class CommandGuard:
    """Checks (and unwraps) a command's payload before anything else looks at it."""

    def __init__(self, key: bytes | None, *, require_signed: bool,
                 window_s: float = default(SecurityConfig, "replay_window_s"),
                 nonces: NonceStore | None = None, clock: Callable[[], float] = time.time) -> None:
        if require_signed and key is None:
            raise FrdError("security.require_signed_commands is on but there is no command key: set "
                           f"security.command_key_file or provide the systemd credential {KEY_CREDENTIAL!r}")
        self.key = key
        self.require_signed = require_signed
        self.window_s = window_s
        self.nonces = nonces if nonces is not None else NonceStore(None, window_s)
        self.clock = clock
        self.accepted = 0
        self.refused = 0

    def check(self, topic: str, payload: bytes) -> bytes:
        """The command's payload (unwrapped from its envelope if signed); TrustError if refused."""
        try:
            inner = self._check(topic, payload)
        except TrustError:
            self.refused += 1
            raise
        return inner

    def _check(self, topic: str, payload: bytes) -> bytes:
        if not looks_signed(payload):
            if self.require_signed:
                raise TrustError("unsigned command refused: this device accepts only signed commands "
                                 "(sign with `frd sign --key-file KEY --topic TOPIC`)")
            return payload
        if self.key is None:
            raise TrustError("signed command refused: this device has no command key to check it with "
                             "(security.command_key_file)")
        env = open_envelope(payload)
        if "\n" in topic:
            raise TrustError("a topic with a newline cannot carry a signed command")
        want = signature(self.key, topic, env.ts, env.nonce, env.payload)
        if not hmac.compare_digest(want, env.sig):
            raise TrustError("bad signature: wrong key, or the payload, topic, ts or nonce was changed")
        now = self.clock()
        skew = env.ts - now
        if abs(skew) > self.window_s:
            when = f"{-skew:.0f} s old" if skew < 0 else f"{skew:.0f} s in the future"
            raise TrustError(f"stale command refused: its timestamp is {when} (allowed: ±{self.window_s:g} s; "
                             "check the clocks of both sides)")
        self.nonces.use(env.nonce, env.ts, now)
        self.accepted += 1
        return env.payload


# ---------------------------------------------------------------- rate limits


class TokenBucket:
    """``burst`` requests at once, refilled at ``per_minute``."""

    def __init__(self, burst: int, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.rate = per_minute / 60.0
        self.clock = clock
        self.tokens = float(burst)
        self.t = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
        self.t = now

    def full(self) -> bool:
        """Whether the bucket has refilled: forgetting it now loses nothing."""
        self._refill()
        return self.tokens >= self.burst

    def take(self) -> float:
        """0 when a token was taken, else the seconds until one is available."""
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


#: Who a signed command is from, for the rate limits: the command key's holder (NUL: no response topic can be it).
SIGNED_SENDER = "\x00signed"
#: Senders that name no response topic, or that find every sender's place taken, share one bucket each.
_ANONYMOUS, _OVERFLOW = "", "\x00overflow"
#: Named senders (MQTT 5 response topics) kept apart per command, besides the signed, the anonymous and the overflow.
MAX_SENDERS = 8


class RateLimiter:
    """Token buckets per command and per sender; commands without a limit are not limited.

    MQTT does not say who published a message, so a sender is what the message says it is: its MQTT 5 response
    topic (:meth:`take`'s ``sender``), which anyone may set. That keeps well-behaved clients apart (an automation
    that loops ``status`` does not use up the administrator's), not a hostile one, which can pose as any other.
    A command whose signature was checked is :data:`SIGNED_SENDER`'s: with a command key, unsigned floods never
    use up the signed commands' buckets. At most :data:`MAX_SENDERS` named senders are kept per command; a new one
    takes the place of a sender whose bucket has refilled (nothing is lost), else shares the overflow bucket.
    """

    def __init__(self, limits: Mapping[str, tuple[int, float]], clock: Callable[[], float] = time.monotonic,
                 max_senders: int = MAX_SENDERS) -> None:
        self.limits = dict(limits)
        self.clock = clock
        self.max_senders = max_senders
        self._buckets: dict[str, dict[str, TokenBucket]] = {cmd: {} for cmd in limits}
        self._lock = threading.Lock()
        self.refused: dict[str, int] = {}

    def _bucket(self, command: str, sender: str | None) -> TokenBucket:
        """``sender``'s bucket of ``command`` (under the lock)."""
        buckets = self._buckets[command]
        key = _ANONYMOUS if sender is None else sender
        if key not in buckets:
            named = [k for k in buckets if k not in (_ANONYMOUS, _OVERFLOW, SIGNED_SENDER)]
            if key not in (_ANONYMOUS, SIGNED_SENDER) and len(named) >= self.max_senders:
                idle = next((k for k in named if buckets[k].full()), None)
                if idle is None:
                    key = _OVERFLOW
                else:
                    del buckets[idle]
            if key not in buckets:
                burst, per_minute = self.limits[command]
                buckets[key] = TokenBucket(burst, per_minute, self.clock)
        return buckets[key]

    def take(self, command: str, sender: str | None = None) -> None:
        """Charge one ``command`` to ``sender`` (None: a sender that names itself nowhere); RateLimited if its bucket
        is empty."""
        if command not in self._buckets:
            return
        with self._lock:
            wait = self._bucket(command, sender).take()
            if wait:
                self.refused[command] = self.refused.get(command, 0) + 1
        if wait:
            burst, per_minute = self.limits[command]
            raise RateLimited(f"rate limit: {command} is allowed {burst} at once and {per_minute:g} per minute "
                              f"(per sender); try again in {wait:.1f} s")
