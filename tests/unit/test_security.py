"""Who may enroll: signed commands, replay window, rate limits, broker password/ACL and TLS.

The first half checks the pieces in-process (real HMAC, real files, injectable
clocks); the second half runs the real thing: mosquitto with the repository's
ACL (``config/mosquitto/frd.acl``) and a password file, mosquitto with TLS and
client certificates, and ``frd run`` as a subprocess with a command key.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from edged.core.errors import FrdError
from edged.core.topics import Topics
from edged.mqtt.commands import CommandHandler
from edged.mqtt.security import (
    CommandGuard,
    NonceStore,
    RateLimiter,
    TokenBucket,
    TrustError,
    read_key,
    resolve_command_key,
    sign,
)

KEY = b"0123456789abcdef0123456789abcdef"
TOPIC = "frd/door/cmd/delete"
NOW = 1_800_000_000


class Clock:
    def __init__(self, t: float = NOW) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def guard(tmp_path: Path | None = None, *, require: bool = True, key: bytes | None = KEY, clock=None) -> CommandGuard:
    store = NonceStore(tmp_path / "nonces.json" if tmp_path else None, 300)
    return CommandGuard(key, require_signed=require, window_s=300, nonces=store, clock=clock or Clock())


def refused(g: CommandGuard, topic: str, payload: bytes | str) -> str:
    with pytest.raises(TrustError) as info:
        g.check(topic, payload.encode() if isinstance(payload, str) else payload)
    return str(info.value)


# ---------------------------------------------------------------- signatures, in-process


def test_a_right_signature_is_accepted_and_unwrapped():
    body = b'{"name": "alice"}'
    assert guard().check(TOPIC, sign(KEY, TOPIC, body, ts=NOW).encode()) == body
    image = bytes(range(256)) * 4  # not UTF-8: travels as payload_b64
    env = sign(KEY, "frd/door/cmd/enroll/alice", image, ts=NOW)
    assert "payload_b64" in json.loads(env)
    assert guard().check("frd/door/cmd/enroll/alice", env.encode()) == image


def test_wrong_key_unsigned_stale_and_replayed_are_refused(tmp_path):
    g = guard(tmp_path)
    body = b'{"name": "alice"}'
    assert "bad signature" in refused(g, TOPIC, sign(b"another key, 16+ bytes long", TOPIC, body, ts=NOW))
    assert "unsigned command refused" in refused(g, TOPIC, body)
    assert "unsigned" in refused(g, TOPIC, b"")
    assert "s old" in refused(g, TOPIC, sign(KEY, TOPIC, body, ts=NOW - 301))
    assert "in the future" in refused(g, TOPIC, sign(KEY, TOPIC, body, ts=NOW + 301))
    ok = sign(KEY, TOPIC, body, ts=NOW - 299)
    assert g.check(TOPIC, ok.encode()) == body
    assert "replayed" in refused(g, TOPIC, ok)
    assert g.accepted == 1 and g.refused == 6


def test_the_signature_covers_topic_payload_ts_and_nonce():
    g = guard()
    env = json.loads(sign(KEY, "frd/door/cmd/delete/alice", b"", ts=NOW, nonce="n" * 16))
    # a signed delete cannot be replayed as another command, another person or on another device
    for topic in ("frd/door/cmd/rename/alice", "frd/door/cmd/delete/bob", "frd/garden/cmd/delete/alice",
                  "frd/all/cmd/delete/alice"):
        assert "bad signature" in refused(g, topic, json.dumps(env))
    for field, value in (("payload", '{"name": "bob"}'), ("ts", NOW + 1), ("nonce", "m" * 16)):
        assert "bad signature" in refused(g, "frd/door/cmd/delete/alice", json.dumps({**env, field: value}))
    assert g.check("frd/door/cmd/delete/alice", json.dumps(env).encode()) == b""


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"ts": "1800000000"}, "whole seconds"),
        ({"ts": 1.5e9}, "whole seconds"),
        ({"ts": True}, "whole seconds"),
        ({"nonce": "short"}, "nonce must be"),
        ({"nonce": "x" * 16 + "/"}, "nonce must be"),
        ({"sig": "abc"}, "64 hex"),
        ({"v": 2}, "version"),
        ({"extra": 1}, "unknown field"),
        ({"payload_b64": "AAAA"}, "exactly one of"),
        ({"payload": 5}, "must be a string"),
    ],
)
def test_malformed_envelopes_are_refused_with_the_reason(change, why):
    env = {**json.loads(sign(KEY, TOPIC, b"{}", ts=NOW)), **change}
    assert why in refused(guard(), TOPIC, json.dumps(env))


def test_envelope_edge_cases():
    g = guard()
    assert "not valid JSON" in refused(g, TOPIC, b'{"sig": ')
    assert "duplicate key" in refused(g, TOPIC, b'{"sig": "a", "sig": "b"}')
    env = json.loads(sign(KEY, TOPIC, b"\x00\xff", ts=NOW))
    env["payload_b64"] = "%%%"
    assert "not valid base64" in refused(g, TOPIC, json.dumps(env))
    # without a key a signed command cannot be checked, so it is refused even when signing is optional
    assert "no command key" in refused(guard(require=False, key=None), TOPIC, sign(KEY, TOPIC, b"{}", ts=NOW))
    # optional signing: unsigned passes through untouched, a bad signature is still refused
    lax = guard(require=False)
    assert lax.check(TOPIC, b'{"name": "alice"}') == b'{"name": "alice"}'
    assert "bad signature" in refused(lax, TOPIC, sign(b"x" * 16, TOPIC, b"{}", ts=NOW))
    with pytest.raises(FrdError, match="no command key"):
        CommandGuard(None, require_signed=True)


def test_used_nonces_survive_a_restart(tmp_path):
    env = sign(KEY, TOPIC, b"{}", ts=NOW).encode()
    assert guard(tmp_path).check(TOPIC, env) == b"{}"
    assert (tmp_path / "nonces.json").stat().st_mode & 0o777 == 0o600
    assert "replayed" in refused(guard(tmp_path), TOPIC, env)  # a new process, the same file
    # outside the window the nonce is forgotten (and the command is stale anyway)
    later = guard(tmp_path, clock=Clock(NOW + 1000))
    later.check(TOPIC, sign(KEY, TOPIC, b"{}", ts=NOW + 1000).encode())
    assert len(later.nonces) == 1
    (tmp_path / "nonces.json").write_text("{broken")
    assert guard(tmp_path).check(TOPIC, sign(KEY, TOPIC, b"{}", ts=NOW).encode()) == b"{}"  # logged, not fatal


def test_command_key_comes_from_the_credential_first(tmp_path):
    cred = tmp_path / "creds"
    cred.mkdir()
    (cred / "command_key").write_text("k" * 32 + "\n")
    (cred / "command_key").chmod(0o400)  # as systemd makes a credential
    own = tmp_path / "key"
    own.write_text("f" * 32)
    own.chmod(0o644)
    with pytest.raises(FrdError, match=r"may be read by its group and others \(mode 0644\).*chmod 600"):
        resolve_command_key(own, {})
    own.chmod(0o600)
    assert resolve_command_key(own, {"CREDENTIALS_DIRECTORY": str(cred)}) == (b"k" * 32, cred / "command_key")
    assert resolve_command_key(own, {}) == (b"f" * 32, own)
    assert resolve_command_key(None, {}) is None
    own.write_text("short\n")
    with pytest.raises(FrdError, match="at least 16"):
        resolve_command_key(own, {})
    with pytest.raises(FrdError, match="cannot read the command key"):
        read_key(tmp_path / "missing")


# ---------------------------------------------------------------- rate limits


def test_token_bucket_allows_a_burst_then_refills():
    clock = Clock(0)
    b = TokenBucket(burst=3, per_minute=6, clock=clock)
    assert [b.take() for _ in range(3)] == [0, 0, 0]
    assert b.take() == pytest.approx(10.0)  # 6 per minute: one every 10 s
    clock.t = 10
    assert b.take() == 0 and b.take() > 0


class Recorder:
    """Services that only record calls (the parsing layer; the real daemon is tested below and in test_fuzz)."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def enroll_images(self, name, images, force=False):
        self.calls.append(("enroll", name, images))
        return {"name": name, "added": len(images), "rejected": []}

    def delete(self, name):
        self.calls.append(("delete", name))
        return {"deleted": name}

    def list_people(self):
        self.calls.append(("list",))
        return {"people": []}


def test_rate_limit_refusals_are_replied_and_do_nothing():
    clock = Clock(0)
    h = CommandHandler(Recorder(), rate=RateLimiter({"delete": (2, 6)}, clock=clock))
    replies = [h.handle("delete", "alice", json.dumps({"request_id": i}).encode()) for i in range(4)]
    assert [r.ok for r in replies] == [True, True, False, False]
    assert replies[2].request_id == 2 and "rate limit: delete" in replies[2].error and "10.0 s" in replies[2].error
    assert len(h.services.calls) == 2
    assert h.handle("list", None, b"").ok  # other commands have their own bucket (or none)
    clock.t = 10
    assert h.handle("delete", "alice", b"").ok
    assert h.rate.refused == {"delete": 2}


def test_guarded_handler_unwraps_signed_raw_image_enrollment():
    rec = Recorder()
    h = CommandHandler(rec, topics=Topics("frd", "door"), guard=guard(clock=time.time))
    image = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    topic = "frd/door/cmd/enroll/alice"
    cmd, reply = h.handle_topic(topic, sign(KEY, topic, image).encode())
    assert (cmd, reply.ok) == ("enroll", True) and rec.calls == [("enroll", "alice", [("payload", image)])]
    cmd, reply = h.handle_topic(topic, image)
    assert not reply.ok and "unsigned" in reply.error and len(rec.calls) == 1
    cmd, reply = h.handle_topic("frd/door/cmd/a/b/c", b"")
    assert cmd == "error" and not reply.ok and "malformed command topic" in reply.error


# ---------------------------------------------------------------- time that cannot be turned back


def test_a_clock_set_back_cannot_replay_a_command_whose_nonce_was_pruned(tmp_path):
    """The review's replay: an enroll accepted at T; 400 s later (another command meanwhile, so the old nonce is
    pruned) the device's clock is set back 400 s (a spoofed NTP) and the captured envelope is sent again. Nonces
    are pruned by the envelopes' own times, below a persisted floor, never by the clock: refused, also after a
    restart."""
    clock = Clock(NOW)
    g = guard(tmp_path, clock=clock)
    captured = sign(KEY, TOPIC, b'{"name": "alice"}', ts=NOW).encode()
    assert g.check(TOPIC, captured) == b'{"name": "alice"}'
    clock.t = NOW + 400
    assert g.check(TOPIC, sign(KEY, TOPIC, b"{}", ts=NOW + 400).encode()) == b"{}"
    assert len(g.nonces) == 1 and g.nonces.floor == NOW + 100  # the first nonce is forgotten ...
    clock.t = NOW + 5  # ... and the clock goes back: the envelope looks fresh again
    assert "before a signed command already accepted" in refused(g, TOPIC, captured)
    restarted = guard(tmp_path, clock=Clock(NOW + 5))
    assert restarted.nonces.floor == NOW + 100 and restarted.nonces.lost_at is None
    assert "before a signed command already accepted" in refused(restarted, TOPIC, captured)
    # commands signed by a machine whose clock agrees with the device's (both set back) are refused too, and
    # the status says why once the floor is ahead of the clock by more than the window
    assert restarted.nonces.clock_behind(NOW + 5) is None
    assert "check the clock" in restarted.nonces.clock_behind(NOW - 300)


def test_a_nonce_is_never_forgotten_while_its_envelope_could_pass(tmp_path):
    """No other command comes: whatever the clock does, the used nonce stays, and its envelope is a replay."""
    clock = Clock(NOW)
    g = guard(tmp_path, clock=clock)
    captured = sign(KEY, TOPIC, b"{}", ts=NOW).encode()
    g.check(TOPIC, captured)
    for t in (NOW + 10_000, NOW - 200, NOW + 250):
        clock.t = t
        why = refused(guard(tmp_path, clock=clock), TOPIC, captured)
        assert "replayed" in why or "stale" in why, (t, why)
    clock.t = NOW + 100
    assert "replayed" in refused(g, TOPIC, captured)


def test_an_older_nonce_file_is_refused_as_lost_and_migrated(tmp_path):
    """The list of the previous version has no floor: nonces pruned by its clock may be missing, so commands signed
    before the start-up are refused (as for a lost list) and the next save writes the new format."""
    path = tmp_path / "nonces.json"
    path.write_text(json.dumps({"v": 1, "nonces": {"a" * 16: NOW - 10}}))
    store = NonceStore(path, 300, clock=lambda: NOW)
    assert store.lost_at == NOW and store.floor == NOW + 1 and len(store) == 1
    with pytest.raises(TrustError, match="signed before frd started"):
        store.use("b" * 16, NOW - 5, NOW)
    store.use("c" * 16, NOW + 2, NOW + 3)
    saved = json.loads(path.read_text())
    assert saved["v"] == 2 and saved["floor"] == NOW + 1 and set(saved["nonces"]) == {"c" * 16}
