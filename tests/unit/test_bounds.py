"""What keeps frd up under floods, in-process: counted log lines, rate limits per sender, Home Assistant births
answered at most once per interval, JSON bounded in values, and the start-up's security warnings.

The same behaviour through a real mosquitto into a real ``frd run`` is tests/integration/test_bounded.py.
"""

from __future__ import annotations

import json
import logging
import time
import weakref
from pathlib import Path

import pytest

from edged.config import Config, ConfigError, check_tls_key, security_warnings
from edged.core import strictjson
from edged.core.logs import MAX_KINDS, Tally
from edged.core.topics import Topics
from edged.integrations.discovery import DiscoveryDevice
from edged.integrations.ha import REPUBLISH_MIN_S, HomeAssistant
from edged.mqtt.bus import Incoming
from edged.mqtt.commands import CommandHandler
from edged.mqtt.security import MAX_SENDERS, SIGNED_SENDER, CommandGuard, NonceStore, RateLimiter, sign
from tests.fakebus import FakeBus


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


# ---------------------------------------------------------------- the log under a flood


def test_a_flood_of_warnings_is_a_few_lines_and_a_count_per_interval(caplog):
    clock = Clock()
    tally = Tally(logging.getLogger("t"), "commands refused", interval_s=10, burst=3, clock=clock)
    with caplog.at_level(logging.WARNING, "t"):
        for i in range(10_000):
            tally.warning("status: rate limit" if i % 4 else "enroll: unsigned", "refused %d", i)
        assert [r.getMessage() for r in caplog.records] == ["refused 0", "refused 1", "refused 2"]
        clock.t += 10
        tally.flush()
    assert caplog.records[-1].getMessage() == ("9997 more commands refused in the last 10 s "
                                               "(status: rate limit: 7498, enroll: unsigned: 2499)")
    assert len(caplog.records) == 4 and tally.total == 10_000
    caplog.clear()
    with caplog.at_level(logging.WARNING, "t"):
        tally.flush()  # nothing held back: nothing said
        tally.warning("x", "again")  # a new interval starts with lines in full
    assert [r.getMessage() for r in caplog.records] == ["again"]


def test_the_kinds_a_tally_keeps_apart_are_bounded(caplog):
    clock = Clock()
    tally = Tally(logging.getLogger("t"), "messages", interval_s=10, burst=0, clock=clock)
    for i in range(MAX_KINDS * 3):
        tally.warning(f"unknown command {i}", "x")  # kinds a sender chose
    clock.t += 10
    with caplog.at_level(logging.WARNING, "t"):
        tally.flush()
    assert f"other: {MAX_KINDS * 2}" in caplog.text


# ---------------------------------------------------------------- rate limits per sender


class Recorder:
    def __init__(self) -> None:
        self.calls = 0

    def enroll_images(self, name, images):
        self.calls += 1
        return {"name": name, "added": 1, "rejected": []}


def test_one_sender_cannot_use_up_another_senders_rate():
    clock = Clock()
    h = CommandHandler(Recorder(), rate=RateLimiter({"enroll": (2, 10)}, clock=clock))
    flood = [h.handle("enroll", "x", b"\xff\xd8", sender="automation/loop").ok for _ in range(50)]
    assert flood.count(True) == 2
    admin = [h.handle("enroll", "x", b"\xff\xd8", sender="admin/replies").ok for _ in range(3)]
    assert admin == [True, True, False]  # the admin's own bucket: the flood did not touch it
    assert [h.handle("enroll", "x", b"\xff\xd8").ok for _ in range(3)] == [True, True, False]  # no response topic


def test_senders_are_bounded_and_only_a_refilled_bucket_gives_up_its_place():
    clock = Clock()
    rate = RateLimiter({"status": (1, 60)}, clock=clock)
    for i in range(MAX_SENDERS):
        rate.take("status", f"s{i}")  # every bucket used: none may be forgotten
    rate.take("status", "newcomer")  # no place left: the overflow bucket, shared
    with pytest.raises(Exception, match="rate limit: status"):
        rate.take("status", "another newcomer")
    clock.t += 1  # s0..s7 refilled: forgetting one loses nothing
    rate.take("status", "late")
    with pytest.raises(Exception, match="rate limit"):
        rate.take("status", "late")  # its own bucket now, used
    assert len(rate._buckets["status"]) <= MAX_SENDERS + 3  # named, anonymous, overflow, signed


def test_a_signed_command_is_the_keys_whatever_sender_it_names():
    key = b"0123456789abcdef0123456789abcdef"
    topics = Topics("frd", "door")
    guard = CommandGuard(key, require_signed=False, nonces=NonceStore(None, 300))
    h = CommandHandler(Recorder(), topics=topics, guard=guard, rate=RateLimiter({"enroll": (1, 1)}))
    topic = topics.cmd("enroll", "x")
    assert h.handle_topic(topic, b"\xff\xd8", sender="admin/replies")[1].ok
    refused = h.handle_topic(topic, b"\xff\xd8", sender="admin/replies")[1]
    assert not refused.ok and "rate limit" in refused.error  # unsigned, posing as the admin: its bucket is used
    signed = sign(key, topic, b"\xff\xd8").encode()
    assert h.handle_topic(topic, signed, sender="admin/replies")[1].ok  # the key's own bucket
    assert SIGNED_SENDER in h.rate._buckets["enroll"]


# ---------------------------------------------------------------- Home Assistant births


def test_home_assistant_births_are_answered_at_once_then_at_most_once_per_interval():
    clock = Clock()
    bus = FakeBus()
    bus.connected.set()
    topics = Topics("frd", "door")
    ha = HomeAssistant(DiscoveryDevice(topics, "1.0", "facenet"), bus, ["front"], lambda: ["alice"], clock=clock)
    per_publish = len(ha.wanted())
    birth = Incoming(topics.ha_status, b"online")
    assert ha.accept(birth)
    assert len(bus.published) == per_publish  # the first: at once
    for _ in range(2000):  # 200 a second for 10 s
        ha.accept(birth)
        clock.t += 0.005
    ha.poll()
    assert len(bus.published) == per_publish and ha.births_deferred == 2000
    clock.t += REPUBLISH_MIN_S
    ha.poll()  # the held-back births, answered once
    ha.poll()
    assert len(bus.published) == 2 * per_publish


# ---------------------------------------------------------------- JSON bounded in values


def test_json_is_refused_by_its_count_of_values_before_it_is_parsed():
    flood = b"[" + b"{}," * 2_800_000 + b"{}]"  # 8 MiB: 2.8 M dicts, ~180 MB as Python objects
    t0 = time.perf_counter()
    with pytest.raises(strictjson.StrictJSONError, match="more than 100000 values"):
        strictjson.loads(flood)
    with pytest.raises(strictjson.StrictJSONError, match="more than 100000 values"):
        strictjson.loads(b"[" * 8_000_000)  # the depth check walks no more than the bound
    assert time.perf_counter() - t0 < 30  # not a speed figure: a bound on a walk of 16 MB (it took 4 s before)
    body = {"name": "alice", "image_b64": ["QUJD" * 1000] * 20, "request_id": 7}
    assert strictjson.loads(json.dumps(body)) == body  # a real enrollment is a few dozen values


# ---------------------------------------------------------------- the start-up's warnings, the TLS key


def _cfg(**mqtt) -> Config:
    return Config.model_validate({"mqtt": mqtt, "device_id": "door"})


def test_start_up_warns_about_an_unchecked_broker_a_clear_password_and_unsigned_commands():
    warnings = security_warnings(_cfg(host="broker.lan", tls={"enabled": True, "insecure": True}), password=True)
    assert len(warnings) == 2
    assert "tls.insecure is on" in warnings[0] and "unsigned" in warnings[1] and "frd/door/cmd/#" in warnings[1]
    warnings = security_warnings(_cfg(host="broker.lan"), password=True)
    assert "goes to broker.lan:1883 in clear" in warnings[0]
    assert not any("clear" in w for w in security_warnings(_cfg(host="127.0.0.1"), password=True))  # loopback
    signed = Config.model_validate({"security": {"require_signed_commands": True}})
    assert security_warnings(signed, password=False) == []


def test_a_tls_client_key_others_may_read_is_refused(tmp_path: Path):
    key = tmp_path / "door.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    key.chmod(0o644)
    cfg = _cfg(tls={"enabled": True, "cert_file": str(tmp_path / "door.crt"), "key_file": str(key)})
    with pytest.raises(ConfigError, match=r"the TLS client key may be read by its group and others \(mode 0644\)"):
        check_tls_key(cfg)
    key.chmod(0o600)
    check_tls_key(cfg)


# ---------------------------------------------------------------- an enrollment's images, one at a time


class OneAtATime:
    """A pipeline stand-in that only looks at how many decoded images are alive when it is handed one."""

    def __init__(self) -> None:
        self.seen: list[weakref.ref] = []
        self.alive_at_each: list[int] = []

    def subject_face(self, rgb, aligned=False):
        self.alive_at_each.append(sum(r() is not None for r in self.seen))
        self.seen.append(weakref.ref(rgb))
        return None, 0, None


def test_an_enrollment_decodes_its_images_one_at_a_time_within_the_request_budget(tmp_path):
    import cv2
    import numpy as np

    from edged.service.people import People
    from edged.store.gallery import Gallery
    from edged.vision import images

    png = cv2.imencode(".png", np.zeros((1000, 1000, 3), np.uint8))[1].tobytes()  # 1 M pixels each
    pipeline = OneAtATime()
    people = People(pipeline, Gallery(tmp_path / "g", "space"), keep_crops=False)
    old = images.LIMITS.max_request_pixels
    images.configure(images.LIMITS.max_pixels, images.LIMITS.max_side, 3_500_000)
    try:
        result = people.enroll_images("alice", [(f"image_b64[{i}]", png) for i in range(6)])
    finally:
        images.configure(images.LIMITS.max_pixels, images.LIMITS.max_side, old)
    assert pipeline.alive_at_each == [0, 0, 0]  # the one before was let go before the next was decoded
    reasons = [r["reason"] for r in result["rejected"]]
    assert reasons[:3] == ["no face found"] * 3
    assert reasons[3] == ("1000x1000 would pass the request's budget of 3500000 decoded pixels (500000 left; "
                          "security.max_request_pixels): send fewer or smaller images")


# ---------------------------------------------------------------- frd's client id taken by another client


def _dropped(bus, reason: int) -> None:
    from paho.mqtt.client import DisconnectFlags
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.reasoncodes import ReasonCode

    bus.connected.set()
    bus._connected_at = time.monotonic()
    bus._handle_disconnect(None, None, DisconnectFlags(True), ReasonCode(PacketTypes.DISCONNECT, identifier=reason),
                           None)


def test_a_session_taken_over_is_said_in_the_log_and_the_status(caplog):
    from edged.mqtt.bus import SESSION_TAKEN_OVER, SHORT_SESSIONS, Bus, BusSettings

    bus = Bus(BusSettings("127.0.0.1", 1, "frd-door"), Topics("frd", "door"))
    assert bus.connection_problem() is None
    with caplog.at_level(logging.WARNING):
        _dropped(bus, SESSION_TAKEN_OVER)  # MQTT 5 says it (mosquitto from 2.0.15)
    assert bus.taken_over == 1 and "Session taken over" in caplog.text and "use_username_as_clientid" in caplog.text
    assert "frd-door" in bus.connection_problem()
    other = Bus(BusSettings("127.0.0.1", 1, "frd-door", protocol="3.1.1"), Topics("frd", "door"))
    for _ in range(SHORT_SESSIONS - 1):
        _dropped(other, 128)  # 3.1.1 (and mosquitto 2.0.11): the connection is closed, nothing said
    assert other.taken_over == 0
    _dropped(other, 128)
    assert other.taken_over == 1 and other.connection_problem() is not None
