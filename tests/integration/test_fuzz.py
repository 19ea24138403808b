"""Hostile input: generated and mutated command messages, answered every time, never a crash, nothing half-written.

Three layers, all driven by hypothesis with the same strategies:

1. the parsing layer alone (``CommandHandler`` with services that only record
   what they were asked), to check that nothing invalid ever reaches them;
2. the real services: a ``Daemon`` (not running its loop) with the real
   model pipeline, a real ``Gallery`` in a temporary folder and a real
   ``Bus`` — after every message the gallery on disk must equal the one in
   memory and a refused message must not have changed a byte;
3. the real thing: messages published to a real mosquitto and answered by a
   real ``frd run``; every one carries an MQTT 5 correlation id and every
   one must be answered.

The counts are asserted, not assumed: hypothesis runs exactly as many
examples as asked unless something fails.
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from edged.core.names import ALPHABET, MAX_LEN, validate_name
from edged.core.topics import Topics
from edged.mqtt.bus import Bus, BusSettings, unpublishable
from edged.mqtt.commands import COMMANDS, CommandHandler, Limits
from edged.mqtt.security import CommandGuard, NonceStore, sign
from edged.store.gallery import Gallery
from tests.broker import subscribe_collect
from tests.daemon_helpers import DEVICE, FrdProcess, write_config
from tests.waiting import Mqtt5Client

KEY = b"fuzz-command-key-0123456789abcdef"
BASE = f"frd/{DEVICE}"
NAMES = ["alice", "bob", "lin", "carol-2", "x9"]
FACE_IDS = ["a1b2c3d4e5f6", "000000000000", "A1B2C3D4E5F6", "a1b2c3", "a1b2c3d4e5f6\n", ""]
EVENT_IDS = ["0123456789abcdef0123456789abcdef", "0" * 32, "0123456789ABCDEF0123456789ABCDEF", "a1b2c3d4e5f6", ""]
LOOKALIKES = ["ａｌｉｃｅ", "аlice", "Alice", "ﬁona", "alice\u200b", "unknown", "gallery", "all", "../etc/passwd",
              ".hidden", "a" * 65, "", " alice", "al ice", "-rf", "😀", "x²", "ǅ", "ｕｎｋｎｏｗｎ", "alice\n"]
SETTINGS = {"database": None, "deadline": None, "derandomize": False,
            "suppress_health_check": list(HealthCheck), "phases": [Phase.explicit, Phase.generate]}

# ---------------------------------------------------------------- seeds


def _png(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _seeds(data: Path) -> dict[str, list[bytes]]:
    faces = []
    for who in ("lin_manuel_miranda_1", "alex_lacamoire_1"):
        img = cv2.imread(str(data / f"video/enroll/{who}.png"))
        small = cv2.resize(img, (200, int(img.shape[0] * 200 / img.shape[1])), interpolation=cv2.INTER_AREA)
        faces.append(cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes())
        faces.append(cv2.imencode(".png", small)[1].tobytes())
    noise = (np.random.default_rng(0).random((24, 32, 3)) * 255).astype(np.uint8)
    others = [cv2.imencode(ext, noise)[1].tobytes() for ext in (".png", ".jpg", ".bmp", ".webp")]
    bombs = [_png(30000, 30000), _png(20000, 100), _png(0, 10),
             b"\xff\xd8\xff\xc0\x00\x11\x08\xff\xff\xff\xff\x03" + b"\x00" * 32,  # JPEG claiming 65535x65535
             b"BM" + b"\x00" * 12 + (40).to_bytes(4, "little") + (1 << 30).to_bytes(4, "little", signed=True) * 2]
    junk = [b"", b"GIF89a\x01\x00\x01\x00", b"%PDF-1.4", b"hello", b"\x00" * 100, "ümlaut".encode()]
    return {"faces": faces, "images": faces + others + bombs + junk}


# ---------------------------------------------------------------- strategies


json_scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=40))
json_any = st.recursive(json_scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c,
                                                                                          max_size=4), max_leaves=12)
names = st.one_of(st.sampled_from(NAMES), st.sampled_from(LOOKALIKES), st.text(max_size=80),
                  st.from_regex(rf"[a-z0-9][{ALPHABET}]{{0,{MAX_LEN + 6}}}", fullmatch=True))  # some too long


@st.composite
def mutated(draw, base: st.SearchStrategy[bytes]) -> bytes:
    """A seed with a few byte-level mutations: flips, cuts, insertions, duplications."""
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "dup", "truncate"]))
        n = len(data)
        if op == "flip" and n:
            i = draw(st.integers(0, n - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut" and n:
            i = draw(st.integers(0, n - 1))
            del data[i : i + draw(st.integers(1, 64))]
        elif op == "insert":
            i = draw(st.integers(0, n))
            data[i:i] = draw(st.binary(min_size=1, max_size=32))
        elif op == "dup" and n:
            i = draw(st.integers(0, n - 1))
            data[i:i] = data[i : i + draw(st.integers(1, 256))]
        elif op == "truncate" and n:
            del data[draw(st.integers(0, n - 1)) :]
    return bytes(data)


SPECIAL = [b"[" * 5000, b'{"a":' * 3000, b'{"request_id": 1' + b"0" * 5000 + b"}", b'{"name": "a", "name": "b"}',
           '{"name": "alice"}'.encode("utf-16"), b'{"request_id": NaN}', b"{}", b"null", b"[]", b"   ", b"{",
           b'{"sig": "' + b"0" * 64 + b'"}', b'{"capture": {"frames": 1e309}}', b"\xef\xbb\xbf{}"]


def strategies(seeds: dict[str, list[bytes]], broker_safe: bool = False):
    images = st.sampled_from(seeds["images"])
    faces = st.sampled_from(seeds["faces"])
    image_bytes = st.one_of(faces, images, mutated(images))
    b64 = image_bytes.map(lambda b: base64.b64encode(b).decode())
    image_b64 = st.one_of(b64, st.lists(b64, min_size=0, max_size=22), json_any, st.text(max_size=20))
    capture = st.fixed_dictionaries({}, optional={
        "camera": st.sampled_from(["stage", "nope", ""]) | json_any,
        "frames": st.integers(-3, 25) | json_any,
        "timeout_s": st.floats(-1, 0.5 if broker_safe else 60) | json_any,
        "extra": json_any})
    request_id = st.integers(-(2**70), 2**70) | st.text(max_size=140) | json_any
    objects = st.fixed_dictionaries({}, optional={
        "name": names | json_any, "new_name": names | json_any, "image_b64": image_b64, "capture": capture,
        "request_id": request_id, "junk": json_any,
        "face_ids": st.lists(st.sampled_from(FACE_IDS) | json_any, max_size=22) | json_any,
        "face_id": st.sampled_from(FACE_IDS) | json_any, "all": st.just(True) | json_any,
        "ignore_id": st.sampled_from(FACE_IDS) | json_any,
        "event_id": st.sampled_from(EVENT_IDS) | json_any, "sample_id": st.sampled_from(FACE_IDS) | json_any,
        "detail": st.booleans() | json_any, "visitor": st.just(True) | json_any})
    json_payload = objects.map(lambda o: json.dumps(o).encode())
    raw = st.one_of(image_bytes, st.binary(max_size=2000), st.sampled_from(SPECIAL), mutated(json_payload))
    odd_commands = ["frobnicate", "ENROLL", "enroll ", "é", "x" * 300]
    commands = st.sampled_from(list(COMMANDS) * 5 + odd_commands)

    @st.composite
    def topic(draw) -> str:
        base = draw(st.sampled_from([BASE, BASE, BASE, "frd/all"]))
        command = draw(commands)
        actions = st.sampled_from(["list", "forget", "remove"])  # cmd/unknown/<action>, cmd/ignore|samples/<action>
        arg = draw(st.none() | st.none() | st.sampled_from(NAMES) | names | actions)
        t = f"{base}/cmd/{command}" + (f"/{arg}" if arg is not None else "")
        if draw(st.integers(0, 20)) == 0:
            t = draw(st.sampled_from([t + "/extra/level", f"{base}/cmd//{command}", f"{base}/cmd/{command}/"]))
        if broker_safe:  # only what a broker accepts as a topic (it disconnects the client otherwise)
            t = "".join(ch for ch in t if unpublishable(ch) is None)[:20000] or f"{BASE}/cmd/list"
        return t

    good_names = st.sampled_from(NAMES) | st.sampled_from(["ａｌｉｃｅ", "ﬁona", "x²"])  # the last three map
    rid = st.none() | st.integers(0, 10**6) | st.text(max_size=20)

    def with_rid(obj: dict, r) -> bytes:
        return json.dumps(obj if r is None else {**obj, "request_id": r}).encode()

    shaped = {  # well-formed requests per command, so the fuzz reaches the work and not only the parser
        "enroll": st.one_of(
            st.builds(lambda n, imgs, r: with_rid({"name": n, "image_b64": imgs}, r), good_names,
                      st.lists(faces.map(lambda b: base64.b64encode(b).decode()), min_size=1, max_size=2), rid),
            st.builds(lambda n, cam, k, t, r: with_rid({"name": n, "capture": {"camera": cam, "frames": k,
                                                                               "timeout_s": t}}, r),
                      good_names, st.sampled_from(["stage", "nope"]), st.integers(1, 3), st.floats(0.05, 0.3), rid),
            faces),  # raw bytes: with a name in the topic
        "delete": st.one_of(st.builds(lambda n, r: with_rid({"name": n}, r), good_names, rid), st.just(b"")),
        "rename": st.builds(lambda a, b, r: with_rid({"name": a, "new_name": b}, r), good_names, good_names, rid),
        "reassign": st.one_of(
            st.builds(lambda n, f, r: with_rid({"name": n, "face_id": f}, r), good_names, st.sampled_from(FACE_IDS),
                      rid),
            st.builds(lambda n, e, r: with_rid({"name": n, "event_id": e}, r), good_names,
                      st.sampled_from(EVENT_IDS), rid)),
        "samples": st.builds(lambda n, f, r: with_rid({"name": n, "sample_id": f}, r), good_names,
                             st.sampled_from(FACE_IDS), rid),
        "list": st.one_of(st.builds(lambda n, r: with_rid({"name": n}, r), good_names, rid),
                          st.builds(lambda d, r: with_rid({"detail": d}, r), st.booleans(), rid)),
    }

    @st.composite
    def message(draw) -> tuple[str, bytes]:
        t = draw(topic())
        command = t.split("/cmd/", 1)[-1].split("/", 1)[0]
        good = shaped.get(command, st.builds(lambda r: with_rid({}, r), rid) | st.just(b""))
        payload = draw(st.one_of(good, good, mutated(good), json_payload, raw))
        how = draw(st.sampled_from(["plain"] * 9 + ["signed"] * 3 + ["wrong key", "stale", "tampered"]))
        if how == "plain" or any(ch in t for ch in "\n+#\x00"):  # sign() refuses such topics
            return t, payload
        key = KEY if how != "wrong key" else b"not-the-key-but-long-enough"
        ts = int(time.time()) - (3600 if how == "stale" else 0)
        env = sign(key, t, payload, ts=ts)
        if how == "tampered":
            env = draw(mutated(st.just(env.encode()))).decode("utf-8", "replace")
        return t, env.encode()

    return message()


# ---------------------------------------------------------------- invariants


def _check_reply(command: str, reply) -> dict:
    body = json.loads(reply.payload())
    assert set(body) == {"request_id", "ok", "error", "data"}
    assert isinstance(body["ok"], bool)
    if body["ok"]:
        assert body["error"] is None
    else:
        assert isinstance(body["error"], str) and 0 < len(body["error"]) <= 1000
        assert not body["error"].startswith("internal error"), body["error"]  # a bug, not a refusal
    assert isinstance(command, str) and command
    return body


class Recorder:
    """Services that record calls and check that only valid requests reach them."""

    def __init__(self) -> None:
        self.calls = 0

    def _name(self, name):
        assert validate_name(name) == name  # canonical: NFKC-mapped and valid
        self.calls += 1

    def enroll_images(self, name, images, force=False):
        self._name(name)
        assert 1 <= len(images) <= 20 and all(isinstance(b, bytes) and b for _, b in images)
        return {"name": name, "added": len(images), "rejected": []}

    def enroll_capture(self, name, camera, frames, timeout_s, force=False):
        self._name(name)
        assert (camera is None or (isinstance(camera, str) and 0 < len(camera) <= 64))
        assert isinstance(frames, int) and 1 <= frames <= 20 and 0 < timeout_s <= 60
        return {"name": name, "added": frames, "rejected": []}

    def delete(self, name):
        self._name(name)
        return {"deleted": name}

    def rename(self, name, new_name):
        self._name(name)
        assert validate_name(new_name) == new_name
        return {"renamed": name, "to": new_name}

    def list_people(self, name=None, detail=False):
        assert name is None or validate_name(name) == name
        assert detail in (True, False)
        return {"people": []}

    def status(self):
        return {}

    def reload(self):
        return {}

    def enroll_unknown(self, name, face_ids, visitor=False, force=False):
        self._name(name)
        assert visitor in (True, False)
        assert 1 <= len(face_ids) <= 20 and all(isinstance(f, str) and len(f) == 12 for f in face_ids)
        return {"name": name, "added": len(face_ids), "rejected": []}

    def unknown_list(self):
        return {"keep": 0, "faces": []}

    def unknown_forget(self, face_ids):
        assert face_ids is None or (len(face_ids) == 1 and len(face_ids[0]) == 12)
        return {"forgotten": []}

    def ignore_add(self, face_id):
        assert isinstance(face_id, str) and len(face_id) == 12
        return {"ignore_id": face_id, "face_id": face_id}

    def ignore_list(self):
        return {"ignored": []}

    def ignore_remove(self, ignore_id):
        assert isinstance(ignore_id, str) and len(ignore_id) == 12
        return {"removed": ignore_id}

    def reassign(self, name, face_id, event_id):
        self._name(name)
        assert (face_id is None) != (event_id is None)
        assert face_id is None or (isinstance(face_id, str) and len(face_id) == 12)
        assert event_id is None or (isinstance(event_id, str) and len(event_id) == 32)
        return {"face_id": face_id, "name": name, "added": 1}

    def remove_samples(self, name, sample_ids):
        self._name(name)
        assert len(sample_ids) == 1 and isinstance(sample_ids[0], str) and len(sample_ids[0]) == 12
        return {"name": name, "removed": sample_ids}

    def snapshot(self, camera):
        assert camera is None or (isinstance(camera, str) and 0 < len(camera) <= 64)
        return {"camera": camera}


def _guard(tmp_path: Path) -> CommandGuard:
    return CommandGuard(KEY, require_signed=False, window_s=300, nonces=NonceStore(tmp_path / "nonces.json", 300))


def test_parsing_layer_5000_messages_only_valid_requests_reach_the_services(tmp_path, data):
    rec = Recorder()
    handler = CommandHandler(rec, topics=Topics("frd", DEVICE), guard=_guard(tmp_path))
    counts = {"messages": 0, "ok": 0}

    @settings(max_examples=5000, **SETTINGS)
    @given(strategies(_seeds(data)))
    def run(msg):
        topic, payload = msg
        command, reply = handler.handle_topic(topic, payload)
        body = _check_reply(command, reply)
        counts["messages"] += 1
        counts["ok"] += body["ok"]

    run()
    print(f"\nparsing layer: {counts['messages']} messages, {counts['ok']} accepted, "
          f"{counts['messages'] - counts['ok']} refused with a reason; {rec.calls} reached the services")
    assert counts["messages"] >= 5000 and rec.calls > 0 and counts["ok"] > 0


def _disk(root: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.glob("*.npz")}


def test_real_daemon_services_10000_messages_never_crash_and_never_half_write(tmp_path, data):
    from edged.config import parse_config
    from edged.daemon.app import build_daemon, build_pipeline
    from edged.service.people import People

    pipeline = build_pipeline(still=False)
    gallery = Gallery(tmp_path / "gallery", pipeline.embedder.sha256)
    topics = Topics("frd", DEVICE)
    bus = Bus(BusSettings("127.0.0.1", 1, "frd-fuzz", offline_queue=100), topics, lambda m: None)  # never started
    cfg = parse_config(f"device_id: {DEVICE}\nfleet: {{sync: true}}\n", "fuzz.yaml")  # HA discovery on
    daemon = build_daemon(cfg, pipeline=pipeline, people=People(pipeline, gallery, keep_crops=True), bus=bus,
                          readers=[], handler_options={"guard": _guard(tmp_path),
                                                       "limits": Limits(max_payload=64 * 1024)})
    counts = {"messages": 0, "ok": 0, "enrolled": 0}

    @settings(max_examples=10_000, **SETTINGS)
    @given(strategies(_seeds(data)))
    def run(msg):
        topic, payload = msg
        before = _disk(gallery.root)
        command, reply = daemon._handler.handle_topic(topic, payload)
        body = _check_reply(command, reply)
        after = _disk(gallery.root)
        assert set(after) == {f"{n}.npz" for n in gallery.people}  # memory and disk agree
        if not body["ok"]:
            assert after == before, "a refused request changed the gallery"
        counts["messages"] += 1
        counts["ok"] += body["ok"]
        counts["enrolled"] += bool(body["ok"] and command == "enroll")

    run()
    fresh = Gallery(gallery.root, gallery.model_sha256)  # what a restart would load
    assert fresh.quarantined == [] and fresh.names() == gallery.names()
    print(f"\nreal services: {counts['messages']} messages, {counts['ok']} accepted ({counts['enrolled']} "
          f"enrollments), {counts['messages'] - counts['ok']} refused; gallery {fresh.names()}; bus queued "
          f"{bus.queued} (dropped {bus.dropped})")
    assert counts["messages"] >= 10_000 and counts["enrolled"] > 0


def test_1000_messages_through_the_broker_into_frd_run_are_all_answered(tmp_path, broker, data):
    messages: list[tuple[str, bytes]] = []

    @settings(max_examples=1000, **SETTINGS)
    @given(strategies(_seeds(data), broker_safe=True))
    def collect(msg):
        messages.append(msg)

    collect()
    assert len(messages) >= 1000
    key = tmp_path / "command_key"
    key.write_bytes(KEY)
    key.chmod(0o600)
    high = {"burst": 100_000, "per_minute": 1_000_000}
    cfg = write_config(tmp_path, broker, data / "video/short_hamilton_clip.mp4",
                       security={"command_key_file": str(key),
                                 "rate_limits": {c: high for c in COMMANDS}})
    p = FrdProcess(cfg).start()
    try:
        with Mqtt5Client(broker, [f"{BASE}/reply/#", "fuzz/inbox"]) as c:
            with subscribe_collect(broker.host, broker.port, [f"{BASE}/availability"]) as s:
                s.wait_for(lambda m: m.text == "online", 60)
            window = 20  # requests in flight at once (frd's command queue holds 100)
            for i, (topic, payload) in enumerate(messages):
                if not c.wait(lambda got, i=i: i - len(got) < window, 60):
                    break  # replies stopped: the assertion below says which requests were not answered
                c.publish(topic, payload, correlation=i.to_bytes(4, "big"), ResponseTopic="fuzz/inbox")
            c.wait(lambda got: len(got) >= len(messages), 60)
            alive = p.alive()
    finally:
        p.stop()
    assert [r.topic for r in c.messages if not r.topic.startswith(f"{BASE}/reply/")] == []  # never "fuzz/inbox"
    sent = {i.to_bytes(4, "big") for i in range(len(messages))}
    assert [r.correlation for r in c.messages if r.correlation not in sent] == []  # each echoes its request's
    twice = [k for k, n in Counter(r.correlation for r in c.messages).items() if n > 1]
    assert twice == [], f"answered twice: {twice[:5]}"
    replies = {int.from_bytes(r.correlation, "big"): r.json() for r in c.messages}
    missing = sorted(set(range(len(messages))) - set(replies))
    assert missing == [], f"{len(missing)} not answered, e.g. {[messages[i][0][:80] for i in missing[:5]]}"
    assert alive, p.log_text()[-3000:]
    bugs = [r["error"] for r in replies.values() if not r["ok"] and r["error"].startswith("internal error")]
    assert bugs == []
    assert "Traceback" not in p.log_text(), p.log_text()[-6000:]
    assert Gallery(tmp_path / "gallery", "x").quarantined == []  # what is on disk loads (as stale: another sha)
    ok = sum(r["ok"] for r in replies.values())
    print(f"\nthrough mosquitto into frd run: {len(messages)} messages, {len(replies)} answered "
          f"({ok} accepted, {len(replies) - ok} refused), 0 crashes")


# ---------------------------------------------------------------- fleet sync and MQTT 5 properties


def _clean(text: str) -> str:
    """Text a broker accepts in a UTF-8 field (mosquitto disconnects a client that sends NUL or a surrogate)."""
    return "".join(ch for ch in text if unpublishable(ch) is None)


odd_text = st.one_of(st.text(max_size=30).map(_clean), st.sampled_from(["\ufeffx", "x\ufeff", "\ufeff", "ü", "😀"]))


def test_gallery_sync_and_mqtt5_properties_through_the_broker_leave_frd_online_and_answering(tmp_path, broker, data):
    from edged.integrations.fleet.record import signed_message
    from edged.integrations.fleet.trust import load_signing_key
    from tests.daemon_helpers import fleet_config, fleet_keys

    keys = fleet_keys(tmp_path, [DEVICE, "garden"])
    garden = load_signing_key(keys["garden"][0])
    rng = np.random.default_rng(3)
    emb = rng.standard_normal((2, 512)).astype("<f4")

    from edged.store.space import embedding_space
    from edged.vision.align import chip_id
    from edged.vision.embed import Manifest
    from edged.vision.modelfiles import MODEL_MANIFEST, model_dir

    ours = embedding_space(Manifest.load(model_dir() / MODEL_MANIFEST).sha256, chip_id())  # a record's space

    def valid(name: str, sha: str) -> dict:
        return {"version": 2, "name": name, "rev": 1, "model_sha256": sha, "origin": "garden", "updated": 1.0,
                "shape": [2, 512], "embeddings_b64": base64.b64encode(emb.tobytes()).decode()}

    gallery_names = st.sampled_from(NAMES) | names.map(_clean).filter(lambda n: n and "/" not in n and "+" not in n
                                                                       and "#" not in n)

    @st.composite
    def gallery_message(draw) -> tuple[str, bytes]:
        name = draw(gallery_names)
        topic = f"frd/gallery/{name}"
        shaped = st.fixed_dictionaries({k: json_any for k in ("version", "name", "rev", "updated", "shape",
                                                              "embeddings_b64")})
        body = draw(st.one_of(st.sampled_from([valid(name, ours), valid(name, "0" * 64)]), json_any, shaped))
        kind = draw(st.sampled_from(["signed", "mutated", "raw", "special"]))
        if kind == "special":
            return topic, draw(st.sampled_from(SPECIAL))
        if kind == "raw":
            return topic, draw(st.binary(max_size=300) | json_any.map(lambda o: json.dumps(o).encode()))
        msg = signed_message(topic, body, "garden", garden)  # any JSON value, NaN included, as the record
        return topic, (draw(mutated(st.just(msg.encode()))) if kind == "mutated" else msg.encode())

    @st.composite
    def property_command(draw) -> tuple[str, bytes, dict]:
        props = draw(st.fixed_dictionaries({}, optional={
            "UserProperty": st.lists(st.tuples(odd_text, odd_text), min_size=1, max_size=3),
            "ContentType": odd_text, "ResponseTopic": odd_text.filter(lambda t: unpublishable(t) is None),
            "PayloadFormatIndicator": st.integers(0, 1)}))
        return draw(st.sampled_from([f"{BASE}/cmd/status", f"{BASE}/cmd/list"])), b"{}", props

    syncs: list[tuple[str, bytes]] = []
    commands: list[tuple[str, bytes, dict]] = []

    @settings(max_examples=300, **SETTINGS)
    @given(gallery_message(), property_command())
    def collect(g, c):
        syncs.append(g)
        commands.append(c)

    collect()
    high = {"burst": 100_000, "per_minute": 1_000_000}
    cfg = write_config(tmp_path, broker, data / "video/short_hamilton_clip.mp4",
                       cameras=[{"name": "stage", "source": str(data / "video/short_hamilton_clip.mp4"),
                                 "loop": True, "fps_limit": 2}],
                       fleet=fleet_config(keys, DEVICE), security={"rate_limits": {c: high for c in COMMANDS}})
    p = FrdProcess(cfg).start()
    sent: dict[int, bytes] = {}  # request -> its correlation data (8 bytes: the number and 4 random ones)

    def answered_ids(got) -> set[int]:
        return {int.from_bytes(r.correlation[:4], "big") for r in got if r.correlation}

    def request(c: Mqtt5Client, topic: str, payload: bytes, number: int, extra: bytes = b"", **props) -> None:
        sent[number] = number.to_bytes(4, "big") + extra
        c.publish(topic, payload, correlation=sent[number], wait=5, **props)

    expected: set[int] = set()
    checks = 0
    c = Mqtt5Client(broker, [f"{BASE}/reply/#"])
    try:
        with subscribe_collect(broker.host, broker.port, [f"{BASE}/availability"]) as s:
            s.wait_for(lambda m: m.text == "online", 60)
        for i, ((gtopic, gpayload), (ctopic, cpayload, props)) in enumerate(zip(syncs, commands, strict=True)):
            c.publish(gtopic, gpayload, retain=bool(i % 2), wait=5)
            request(c, ctopic, cpayload, i, bytes(rng.integers(0, 256, 4, dtype=np.uint8)), **props)
            strings = [*(x for kv in props.get("UserProperty", []) for x in kv), props.get("ContentType", ""),
                       props.get("ResponseTopic", "")]
            if not any("\ufeff" in x for x in strings):  # paho refuses U+FEFF: frd acknowledges and drops those
                expected.add(i)
            if i % 100 == 99:  # alive and answering along the way, not only at the end
                request(c, f"{BASE}/cmd/status", b"{}", 10_000 + i)
                assert c.wait(lambda got, k=10_000 + i: k in answered_ids(got), 30), f"no answer after message {i}"
                checks += 1
        c.wait(lambda got: expected <= answered_ids(got), 60)
        request(c, f"{BASE}/cmd/status", b"{}", 20_000)
        status = c.wait_for(lambda r: r.correlation == sent[20_000], 30).json()["data"]
        alive = p.alive()
        log = p.log_text()  # before the stop, which disconnects on purpose
    finally:
        for topic in {t for t, _ in syncs}:
            c.publish(topic, b"", retain=True, wait=5)
        c.close()
        p.stop()
    # every reply echoes its request's correlation data whole (the random half too), once
    assert [r.correlation for r in c.messages if r.correlation not in sent.values()] == []
    assert len(c.messages) == len({r.correlation for r in c.messages})
    answered = {k for k in answered_ids(c.messages) if k < 10_000}
    assert answered == expected, (sorted(expected - answered)[:5], sorted(answered - expected)[:5])
    dropped = len(commands) - len(expected)
    assert alive and status["broker"] == "connected" and status["malformed_messages"] == dropped
    assert "Traceback" not in p.log_text(), p.log_text()[-6000:]
    assert "Traceback" not in log and "disconnected from broker" not in log, log[-3000:]
    assert log.count("connected to ") == 1  # no reconnect loop
    ignored = log.count("fleet sync message ignored")
    print(f"\nfleet sync + MQTT 5 properties: {len(syncs)} gallery messages ({ignored} refused and logged, "
          f"{status['gallery_size']} people from valid records), {len(commands)} commands with properties "
          f"({len(answered)} answered, {dropped} with U+FEFF dropped), {checks} checks along the way, 0 dead threads")
    assert ignored > 0 and checks == 3 and status["gallery_size"] > 0
