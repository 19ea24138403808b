"""Faults an edge device lives with: the broker goes away, the camera goes away, the power goes away, the disk fills.

Everything is real: mosquitto killed with SIGKILL and restarted on the same
port with its persistence, ``frd run`` as a subprocess, an HTTP MJPEG camera
that is unplugged and plugged back, ``kill -9`` of processes writing the
gallery, and a small tmpfs that fills up.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edged.core.errors import GalleryError
from edged.core.models import Message
from edged.core.topics import Topics
from edged.mqtt.bus import Bus, BusSettings
from edged.store.gallery import Gallery
from tests.broker import Mosquitto, mosquitto_available, publish, subscribe_collect
from tests.daemon_helpers import DEVICE, FrdProcess, wait_until, write_config
from tests.integration.test_notify import NotifySocket
from tests.waiting import marker, notify_lines_after

BASE = f"frd/{DEVICE}"
MARKER = "frd-test/marker/faults"
ROOT = Path(__file__).resolve().parents[2]
SHA = "a" * 64


@pytest.fixture
def pbroker():
    """mosquitto with persistence (sessions and retained messages survive a restart), as in production."""
    if not mosquitto_available():
        pytest.skip("mosquitto is not installed")
    with Mosquitto(persistence=True) as b:
        yield b


class SessionSubscriber:
    """A subscriber with a persistent session (MQTT 5 clean_start=False + session expiry), like Home Assistant.

    It reconnects by itself after a broker restart; the broker keeps its QoS 1 messages meanwhile.
    """

    def __init__(self, broker: Mosquitto, topics: list[str], client_id: str) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._lock = threading.Lock()
        self.ready = threading.Event()
        self.connects = 0
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        c.reconnect_delay_set(1, 1)

        def on_connect(client, _u, flags, reason, _p):
            if reason.is_failure:
                return
            self.connects += 1
            if flags.session_present:
                self.ready.set()
            else:
                client.subscribe([(t, 1) for t in topics])

        def on_message(_c, _u, msg):
            with self._lock:
                self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

        c.on_connect = on_connect
        c.on_subscribe = lambda *_a: self.ready.set()
        c.on_message = on_message
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 600
        c.connect(broker.host, broker.port, clean_start=False, properties=props)
        c.loop_start()
        self.client = c
        assert self.ready.wait(10), "subscription not acknowledged"

    def payloads(self, topic: str) -> list[bytes]:
        with self._lock:
            return [p for t, p, _ in self.messages if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _wait_broker_saved(broker: Mosquitto) -> None:
    """Return once mosquitto has saved its state (sessions, subscriptions) to disk after this call.

    It saves every autosave_interval (1 s in tests, in practice up to 2 s apart); a SIGKILL before that
    would lose a session created just now, which is the broker's documented behaviour, not frd's.
    """
    db = broker.conf_path.parent / "mosquitto.db"
    start = time.time()
    assert wait_until(lambda: db.exists() and db.stat().st_mtime > start + 0.05, 10), "mosquitto never saved"


# ---------------------------------------------------------------- broker away


def test_offline_queue_is_bounded_drops_the_oldest_and_delivers_in_order_after_reconnect(pbroker):
    sub = SessionSubscriber(pbroker, ["q/#"], "sub-queue")
    up = threading.Event()
    bus = Bus(BusSettings(pbroker.host, pbroker.port, "frd-queue", offline_queue=5, reconnect_max_s=1),
              Topics("frd", "queue"), lambda m: None, up.set)
    bus.start()
    try:
        assert up.wait(10)
        assert bus.publish(Message("q/event", "0", qos=1))
        assert wait_until(lambda: sub.payloads("q/event") == [b"0"], 10)
        _wait_broker_saved(pbroker)
        pbroker.kill()
        assert wait_until(lambda: not bus.connected.is_set(), 10)
        sent_now = [bus.publish(Message("q/event", str(i), qos=1)) for i in range(1, 13)]
        for i in range(3):  # retained state: only the newest of a topic is kept
            bus.publish(Message("q/state", f"s{i}", retain=True, qos=1))
        assert not any(sent_now)
        assert (bus.queued, bus.dropped) == (5, 8)
        pbroker.start()
        assert wait_until(lambda: len(sub.payloads("q/event")) >= 5, 20), sub.messages
        assert wait_until(lambda: sub.payloads("q/state"), 10)
    finally:
        bus.stop()
        sub.close()
    assert sub.payloads("q/event") == [b"0", b"9", b"10", b"11", b"12"]  # the oldest were dropped, order kept
    assert sub.payloads("q/state") == [b"s2"]
    assert bus.queued == 0 and bus.connects == 2


def test_a_message_the_broker_would_refuse_is_dropped_not_allowed_to_cut_the_connection(broker, caplog):
    up = threading.Event()
    bus = Bus(BusSettings(broker.host, broker.port, "frd-poison"), Topics("frd", "poison"), lambda m: None, up.set)
    with subscribe_collect(broker.host, broker.port, ["p/#"]) as sub:
        bus.start()
        try:
            assert up.wait(10)
            # mosquitto answers such a topic with "Malformed packet" and a disconnect, and paho would send it
            # again after every reconnect: frd would never be online again
            assert bus.publish(Message("p/\x01bad", "x", qos=1)) is False
            assert bus.publish(Message("p/ok", "after", qos=1))
            # published after the refused one: had that reached the broker, the disconnect (and paho's
            # reconnect) would have come before this arrived
            assert sub.wait_for(lambda m: m.topic == "p/ok", 10).text == "after"
            assert bus.connects == 1 and bus.connected.is_set() and bus.dropped == 1
            assert "not allowed in a topic" in caplog.text
        finally:
            bus.stop()


def test_frd_is_subscribed_before_it_says_online(broker):
    """Whoever reacts to "online" with a command must find frd subscribed (the fuzz test through the broker
    lost requests when "online" came first). mosquitto handles a client's packets in order and logs each one,
    so its log shows the order it saw: every SUBSCRIBE before the PUBLISH of "online"."""
    topics = Topics("frd", "order")
    subs = [topics.cmd_wildcard, topics.fleet_cmd_wildcard, topics.ha_status, topics.gallery_wildcard]
    up = threading.Event()
    bus = Bus(BusSettings(broker.host, broker.port, "frd-order"), topics, lambda m: None, up.set, subs)
    bus.start()
    try:
        assert up.wait(10)
        assert wait_until(lambda: "'frd/order/availability'" in broker.log_text(), 5)
    finally:
        bus.stop()
    lines = broker.log_text().splitlines()
    online = next(i for i, ln in enumerate(lines) if "from frd-order" in ln and "'frd/order/availability'" in ln)
    subscribed = [ln.split("frd-order 1 ", 1)[1] for ln in lines[:online] if "frd-order 1 " in ln]
    assert sorted(subscribed) == sorted(subs), lines[: online + 1]


def _event_ids(sub: SessionSubscriber) -> list[str]:
    return [json.loads(p)["event_id"] for p in sub.payloads(f"{BASE}/event")]


def _online_then_enroll(broker, s, name: str, photo: Path) -> None:
    """Wait for frd's "online" on ``s`` (subscribed to availability and the enroll reply), then enroll ``name``."""
    s.wait_for(lambda m: m.text == "online", 60)
    publish(broker.host, broker.port, f"{BASE}/cmd/enroll/{name}", photo.read_bytes())
    assert s.wait_for(lambda m: m.topic.endswith("/reply/enroll"), 30).json()["ok"]


def _said(p: FrdProcess) -> int:
    """Events frd has logged so far (it logs each one whether or not the broker is there)."""
    return len(re.findall(r"event (?:recognized|unknown)\b", p.log_text()))


def _iso(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def test_broker_killed_and_restarted_while_recognizing_loses_no_event(tmp_path, pbroker, data):
    clip = data / "video/short_hamilton_clip.mp4"
    lin = data / "video/enroll/lin_manuel_miranda_1.png"
    cameras = [{"name": "stage", "source": str(clip), "loop": True},
               {"name": "wings", "source": str(clip), "loop": True}]
    cfg = write_config(tmp_path, pbroker, clip, cameras=cameras,
                       recognition={"cooldown_s": 0, "unknown_cooldown_s": 0})
    sub = SessionSubscriber(pbroker, [f"{BASE}/event", MARKER], "ha-events")
    p = FrdProcess(cfg).start()
    try:
        with subscribe_collect(pbroker.host, pbroker.port, [f"{BASE}/availability", f"{BASE}/reply/enroll"]) as s:
            _online_then_enroll(pbroker, s, "lin_manuel_miranda", lin)
        assert wait_until(lambda: len(_event_ids(sub)) >= 2, 60), p.log_text()
        _wait_broker_saved(pbroker)
        t_kill = time.time()
        pbroker.kill()
        said_at_kill = _said(p)
        # events keep coming: frd queues them (and the outage lasts a few seconds at least)
        assert wait_until(lambda: _said(p) >= said_at_kill + 3 and time.time() - t_kill >= 3, 60), p.log_text()
        t_back = time.time()
        pbroker.start()
        back = time.monotonic()
        with subscribe_collect(pbroker.host, pbroker.port, [f"{BASE}/availability"]) as s:
            # the retained "online" from before the kill is stale: wait for frd's own, live one
            s.wait_for(lambda m: m.text == "online" and not m.retain, 30)
            online_after_s = time.monotonic() - back
        said_back = _said(p)
        assert wait_until(lambda: _said(p) >= said_back + 2, 60), p.log_text()  # recognising on after the return
        p.signal(signal.SIGTERM)
        assert p.wait(30) == 0
        log = p.log_text()
        said = re.findall(r"event (?:recognized|unknown)\b", log)
        assert wait_until(lambda: len(set(_event_ids(sub))) >= len(said), 20)
        marker(pbroker, lambda t: bool(sub.payloads(t)), MARKER)  # anything extra (a duplicate) came before it
        ids = _event_ids(sub)
        with subscribe_collect(pbroker.host, pbroker.port, [f"{BASE}/status"]) as s:
            status = s.wait_for(lambda m: True, 10).json()
    finally:
        p.stop()
        sub.close()
    during = [e for e in (json.loads(x) for x in sub.payloads(f"{BASE}/event")) if t_kill <= _iso(e["ts"]) <= t_back]
    print(f"\nbroker outage 8 s: frd logged {len(said)} events, the persistent subscriber got {len(set(ids))} "
          f"distinct ({len(ids)} with duplicates), {len(during)} announced while the broker was down; "
          f"online again {online_after_s:.2f} s after the broker's return; status events={status['events']} "
          f"offline_dropped={status['offline_dropped']}")
    assert len(set(ids)) == len(said), "events lost (or invented)"
    assert during, "no event was produced while the broker was down: the outage proved nothing"
    assert "sent" in log and "queued while the broker was away" in log
    assert status["offline_dropped"] == 0 and status["events"] <= len(said)
    assert online_after_s <= 5.0


# ---------------------------------------------------------------- camera away


def _short_clip(src: Path, dest: Path, frames: int) -> None:
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25
    out = None
    for _ in range(frames):
        ok, bgr = cap.read()
        assert ok
        if out is None:
            out = cv2.VideoWriter(str(dest), cv2.VideoWriter_fourcc(*"mp4v"), fps, (bgr.shape[1], bgr.shape[0]))
        out.write(bgr)
    out.release()
    cap.release()


def _camera(broker, name="stage"):
    with subscribe_collect(broker.host, broker.port, [f"{BASE}/status"]) as s:
        try:
            return s.wait_for(lambda m: True, 3).json()["cameras"][name]
        except TimeoutError:
            return None


def test_camera_file_missing_then_present_then_ended_shows_in_status_and_the_watchdog_follows_the_reader(
        tmp_path, broker, data):
    """A missing camera is a state (reconnecting) and the watchdog is fed meanwhile: the reader's loop runs. A
    file that has ended with loop off is a reader whose loop is over: the watchdog starves, and says why."""
    source = tmp_path / "camera.mp4"
    ready = tmp_path / "ready.mp4"
    _short_clip(data / "video/short_hamilton_clip.mp4", ready, 60)
    ns = NotifySocket(tmp_path / "notify.sock")
    p = FrdProcess(write_config(tmp_path, broker, source, loop=False),
                   env={"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": "1000000"}).start()
    try:
        assert wait_until(lambda: ns.lines("READY=1"), 60), p.log_text()
        cam = wait_until(lambda: (c := _camera(broker)) and c["reconnects"] >= 2 and c, 30, step=0.5)
        assert cam["state"] == "reconnecting" and "no such file" in cam["error"] and cam["connected"] is False
        assert len(ns.lines("WATCHDOG=1")) >= 3, "watchdog starved although frd's loops run (camera away)"
        st = wait_until(lambda: ns.lines("STATUS="), 10)[-1][1]
        assert "stage reconnecting" in st and "ERROR" not in st, st
        os.replace(ready, source)  # the camera comes back
        assert wait_until(lambda: (c := _camera(broker)) and c["state"] in ("streaming", "ended"), 30, step=0.5)
        # 60 frames later the file has ended: status says so and the watchdog starves again
        assert wait_until(lambda: (c := _camera(broker)) and c["state"] == "ended", 30, step=0.5)
        ended = time.monotonic()
        notify_lines_after(ns, "STATUS=", ended + 0.5, 3, 15)  # the loop goes on (about 2 s) ...
        assert [t for t, _ in ns.lines("WATCHDOG=1") if t > ended + 0.5] == []  # ... without feeding
        assert "its source has ended" in ns.lines("STATUS=")[-1][1], ns.lines("STATUS=")[-1]
        assert p.alive()
    finally:
        p.stop()
        ns.close()


class MjpegCamera:
    """An IP camera on HTTP (multipart JPEG, like most cheap ones) that can be unplugged and plugged back, or go
    silent: out of reach on Wi-Fi, it answers nothing (the connection is taken, no byte comes back)."""

    def __init__(self, clip: Path, frames: int = 40) -> None:
        cap = cv2.VideoCapture(str(clip))
        self.jpegs = []
        while len(self.jpegs) < frames:
            ok, bgr = cap.read()
            assert ok
            self.jpegs.append(cv2.imencode(".jpg", bgr)[1].tobytes())
        cap.release()
        self.plugged = threading.Event()
        self.plugged.set()
        self.silent = threading.Event()
        cam = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_a):
                pass

            def do_GET(self):
                while cam.silent.is_set():  # no answer at all, until it is back in reach
                    time.sleep(0.1)
                if not cam.plugged.is_set():
                    self.send_error(503)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                try:
                    while cam.plugged.is_set():
                        if cam.silent.is_set():
                            time.sleep(0.1)
                            continue
                        jpg = cam.jpegs[i % len(cam.jpegs)]
                        i += 1
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                                         % (len(jpg), jpg))
                        time.sleep(1 / 15)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/camera.mjpg"

    def close(self) -> None:
        self.silent.clear()
        self.plugged.clear()
        self.server.shutdown()
        self.server.server_close()


def _feed_gaps(ns, since: float) -> float:
    """The longest time between two WATCHDOG=1 after ``since`` (and up to now)."""
    times = [since] + [t for t, _ in ns.lines("WATCHDOG=1") if t > since] + [time.monotonic()]
    return max(b - a for a, b in itertools.pairwise(times))


def test_ip_camera_unplugged_silent_and_back_is_a_state_the_watchdog_stays_fed(tmp_path, broker, data):
    """An IP camera unplugged (its server answers 503), then out of reach (it takes the connection and answers
    nothing: OpenCV's own timeout would hold the reader 30 s per attempt), then back: the camera's state says
    so, frd keeps feeding the watchdog all along (its loops run), and frames come back by themselves."""
    cam = MjpegCamera(data / "video/short_hamilton_clip.mp4")
    ns = NotifySocket(tmp_path / "notify.sock")
    p = FrdProcess(write_config(tmp_path, broker, cam.url, loop=False),
                   env={"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": "1000000"}).start()
    try:
        assert wait_until(lambda: len(ns.lines("WATCHDOG=1")) >= 2, 60), p.log_text()
        c = wait_until(lambda: (c := _camera(broker)) and c["state"] == "streaming" and c, 20, step=0.5)
        frames = c["frames"]
        cam.plugged.clear()
        unplugged = time.monotonic()
        c = wait_until(lambda: (c := _camera(broker)) and c["reconnects"] >= 3 and c, 30, step=0.5)
        assert c["state"] == "reconnecting" and c["error"] and c["connected"] is False
        cam.silent.set()  # out of reach: every attempt now waits for an answer that never comes
        cam.plugged.set()
        silent = time.monotonic()
        reconnects = c["reconnects"]
        # two open timeouts (10 s each) and the waits between them
        c = wait_until(lambda: (c := _camera(broker)) and c["reconnects"] >= reconnects + 2 and c, 60, step=1)
        assert c["state"] == "reconnecting" and c["frames"] <= frames + 40, c
        silent_s = time.monotonic() - silent
        gap = _feed_gaps(ns, unplugged)
        assert gap < 2.0, f"the watchdog went {gap:.1f} s unfed while the camera was away"
        st = ns.lines("STATUS=")[-1][1]
        assert "stage reconnecting" in st and "ERROR" not in st, st
        cam.silent.clear()
        back = time.monotonic()
        c = wait_until(lambda: (c := _camera(broker)) and c["state"] == "streaming" and c["fps"] > 0 and c,
                       30, step=0.5)
        print(f"\ncamera away {back - unplugged:.1f} s ({silent_s:.1f} s of it silent): {c['reconnects']} attempts, "
              f"watchdog never unfed for more than {gap:.2f} s, streaming {time.monotonic() - back:.1f} s after "
              "it came back")
        assert _feed_gaps(ns, unplugged) < 2.0
        assert p.alive()
    finally:
        p.stop()
        ns.close()
        cam.close()


# ---------------------------------------------------------------- power loss


WRITER = r"""
import sys
import numpy as np
from edged.store.gallery import Gallery, Person

root, sha = sys.argv[1], "a" * 64
g = Gallery(root, sha)
gen = int(g.people["alice"].updated) if "alice" in g.people else 0
bob = g.people["bob"].count if "bob" in g.people else 0
print("ready", flush=True)
while True:
    gen += 1
    k = 1 + gen % 3
    # alice: her whole state is one generation; any mix of two generations is visible
    g.replace(Person("alice", np.full((k, 8), gen, np.float32), sha, np.full((k, 160, 160, 3), gen % 256, np.uint8),
                     [f"g{gen}"] * k, float(gen)))
    print("alice", gen, flush=True)
    # bob: samples are appended; row i is always i + 1
    bob += 1
    g.add("bob", np.full((1, 8), bob, np.float32), None, [f"b{bob}"])
    print("bob", bob, flush=True)
"""


def _check_old_or_new(root: Path, acked: dict[str, int]) -> dict[str, int]:
    """Load the gallery as frd does and check each person is a state that was completely written."""
    g = Gallery(root, SHA)
    assert g.quarantined == [], g.quarantined
    assert not list(root.glob(".*.tmp")), "a crash's temporary file survived the load"
    state = {}
    if "alice" in g.people:
        a = g.people["alice"]
        gen = int(a.updated)
        assert a.count == 1 + gen % 3
        assert np.all(a.embeddings == gen) and np.all(a.crops == gen % 256) and a.sources == [f"g{gen}"] * a.count
        state["alice"] = gen
    if "bob" in g.people:
        b = g.people["bob"]
        assert np.array_equal(b.embeddings, np.repeat(np.arange(1, b.count + 1, dtype=np.float32)[:, None], 8, 1))
        assert b.sources == [f"b{i}" for i in range(1, b.count + 1)]
        state["bob"] = b.count
    for who, n in acked.items():  # acknowledged writes are never lost; at most the one in flight is added
        assert state.get(who, 0) in (n, n + 1), (who, n, state)
    return state


def test_kill_9_at_a_random_instant_of_gallery_writes_leaves_old_or_new_100_times(tmp_path):
    root = tmp_path / "gallery"
    rng = random.Random(5)
    runs, writes, in_flight = 100, 0, 0
    state: dict[str, int] = {}
    for _ in range(runs):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE, text=True,
                                cwd=ROOT)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0, 0.08))
        proc.send_signal(signal.SIGKILL)
        out = proc.stdout.read().split()
        proc.wait()
        acked = dict(state)
        for who, n in zip(out[::2], out[1::2], strict=False):
            acked[who] = int(n)
        new = _check_old_or_new(root, acked)
        in_flight += sum(new.get(w, 0) != acked.get(w, 0) for w in ("alice", "bob"))
        writes += sum(new.get(w, 0) - state.get(w, 0) for w in ("alice", "bob"))
        state = new
    print(f"\n{runs} kill -9 during gallery writes: {writes} writes landed, every load clean and old-or-new; "
          f"{in_flight} kills hit after the rename but before the writer could say so")
    assert writes > runs  # the kills really landed among writes, not before the first one


def test_kill_9_of_the_daemon_during_enrollment_keeps_the_gallery_loadable(tmp_path, broker, data):
    lin = data / "video/enroll/lin_manuel_miranda_1.png"
    rng = random.Random(7)
    img = cv2.imread(str(lin))

    def photos(run: int) -> str:
        """Four photos of lin that are not the same photo (the same one again would count once): each run's own
        sizes."""
        sides = [cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
                 for f in (0.5 + 0.02 * run, 0.65 + 0.02 * run, 0.8 + 0.02 * run, 0.95 - 0.02 * run)]
        encoded = [cv2.imencode(".png", s)[1].tobytes() for s in sides]
        return json.dumps({"name": "lin", "image_b64": [base64.b64encode(b).decode() for b in encoded]})

    p = FrdProcess(write_config(tmp_path, broker, data / "video/short_hamilton_clip.mp4"))
    counts = []
    for run in range(5):
        body = photos(run)
        p.start()
        with subscribe_collect(broker.host, broker.port, [f"{BASE}/availability"]) as s:
            s.wait_for(lambda m: m.text == "online" and not m.retain, 60)
        before = Gallery(tmp_path / "gallery", SHA).people.get("lin")
        n0 = before.count if before else 0
        publish(broker.host, broker.port, f"{BASE}/cmd/enroll", body)
        time.sleep(rng.uniform(0.0, 1.5))
        p.kill9()
        g = Gallery(tmp_path / "gallery", SHA)
        assert g.quarantined == []
        n1 = g.people["lin"].count if "lin" in g.people else 0
        assert n1 in (n0, n0 + 4), f"run {run}: {n0} -> {n1}: an enrollment half-landed"
        counts.append(n1)
        assert "corrupt" not in p.log_text()
    p.start()  # and frd itself starts on what is left
    try:
        with subscribe_collect(broker.host, broker.port, [f"{BASE}/reply/list"]) as s:
            wait_until(lambda: "running" in p.log_text(), 60)
            publish(broker.host, broker.port, f"{BASE}/cmd/list", b"")
            people = s.wait_for(lambda m: True, 60).json()["data"]["people"]
    finally:
        p.stop()
    assert {x["name"]: x["embeddings"] for x in people} == ({"lin": counts[-1]} if counts[-1] else {})
    print(f"\n5 kill -9 of frd during a 4-image enrollment: samples after each {counts}")


# ---------------------------------------------------------------- disk full


@contextmanager
def small_tmpfs(path: Path, size: str):
    """A tiny tmpfs mounted at ``path`` for the test (root only), always unmounted."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in root.iterdir() if p.is_file()}


def test_disk_full_fails_the_write_with_a_clear_error_and_leaves_the_gallery_intact(tmp_path):
    def emb(n, v):
        return np.full((n, 8), v, np.float32)

    def chips(n):
        return np.zeros((n, 160, 160, 3), np.uint8)

    with small_tmpfs(tmp_path / "fs", "256k") as fs:
        g = Gallery(fs / "gallery", SHA)
        g.add("alice", emb(1, 1), chips(1), ["a1"])  # ~77 kB
        g.add("bob", emb(1, 2), chips(1), ["b1"])
        before = _snapshot(g.root)
        with pytest.raises(GalleryError, match="No space left on device") as info:
            g.add("alice", emb(1, 3), chips(1), ["a2"])  # needs old (77 kB) + new (154 kB) at once
        assert "gallery unchanged" in str(info.value)
        assert _snapshot(g.root) == before  # not a byte changed, no temporary file left
        assert g.people["alice"].count == 1
        again = Gallery(fs / "gallery", SHA)
        assert again.quarantined == [] and again.people["alice"].count == 1 and again.names() == ["alice", "bob"]
        g.remove("bob")  # room again: the same enrollment now works
        g.add("alice", emb(1, 3), chips(1), ["a2"])
        assert Gallery(fs / "gallery", SHA).people["alice"].count == 2


def test_disk_full_during_mqtt_enrollment_is_replied_and_changes_nothing(tmp_path, broker, data):
    lin = data / "video/enroll/lin_manuel_miranda_1.png"
    with small_tmpfs(tmp_path / "fs", "200k") as fs:
        cfg = write_config(tmp_path, broker, data / "video/short_hamilton_clip.mp4",
                           gallery={"path": str(fs / "gallery")})
        p = FrdProcess(cfg).start()
        try:
            with subscribe_collect(broker.host, broker.port, [f"{BASE}/availability", f"{BASE}/reply/#"]) as s:
                _online_then_enroll(broker, s, "lin", lin)
                before = _snapshot(fs / "gallery")
                s.clear()
                # another photo of lin (the same one again would be "the same photo", not counted twice): smaller
                img = cv2.imread(str(lin))
                other = cv2.imencode(".png", cv2.resize(img, None, fx=0.9, fy=0.9, interpolation=cv2.INTER_AREA))[1]
                publish(broker.host, broker.port, f"{BASE}/cmd/enroll/lin", other.tobytes())
                r = s.wait_for(lambda m: m.topic.endswith("/reply/enroll"), 30).json()
                assert r["ok"] is False and "No space left on device" in r["error"] and "unchanged" in r["error"], r
                assert _snapshot(fs / "gallery") == before
                publish(broker.host, broker.port, f"{BASE}/cmd/list", b"")
                people = s.wait_for(lambda m: m.topic.endswith("/reply/list"), 30).json()["data"]["people"]
                assert [(x["name"], x["embeddings"]) for x in people] == [("lin", 1)]
            assert p.alive()
        finally:
            p.stop()


# ---------------------------------------------------------------- a damaged entry


def test_a_corrupt_entry_is_quarantined_and_reported_never_fatal(tmp_path, broker, data):
    gallery = tmp_path / "gallery"
    gallery.mkdir(mode=0o700)
    (gallery / "bob.npz").write_bytes(b"PK\x03\x04 cut off by a power failure")
    p = FrdProcess(write_config(tmp_path, broker, data / "video/short_hamilton_clip.mp4")).start()
    try:
        with subscribe_collect(broker.host, broker.port, [f"{BASE}/status"]) as s:
            st = s.wait_for(lambda m: True, 60).json()
        assert st["quarantined"] == 1 and st["gallery_size"] == 0
        assert [q.name.split(".npz")[0] for q in (gallery / "quarantine").iterdir()] == ["bob"]
        assert "corrupt gallery entry" in p.log_text()
        assert p.alive()
    finally:
        p.stop()


def _fill(fs: Path) -> Path:
    """Fill the file system to the last byte; returns the filler to remove."""
    filler = fs / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def test_a_nonce_store_that_cannot_save_refuses_signed_commands_so_a_restart_cannot_replay_one(tmp_path, broker,
                                                                                               data):
    """The review's case: the disk is full, a signed command arrives, frd restarts, the captured command is sent
    again. The nonce store fails closed: the command is refused while its nonce cannot be saved (the status says
    so), so there is nothing to replay; once the disk has room it runs once, and only once."""
    from edged.mqtt.security import sign

    key = b"0123456789abcdef0123456789abcdef"
    key_file = tmp_path / "command_key"
    key_file.write_bytes(key)
    key_file.chmod(0o600)
    clip = data / "video/short_hamilton_clip.mp4"
    with small_tmpfs(tmp_path / "fs", "64k") as fs:
        cfg = write_config(tmp_path, broker, clip, gallery={"path": str(fs / "gallery")},
                           cameras=[{"name": "stage", "source": str(clip), "loop": True, "fps_limit": 2}],
                           security={"require_signed_commands": True, "command_key_file": str(key_file)})
        p = FrdProcess(cfg)
        topic = f"{BASE}/cmd/status"

        def ask(envelope: bytes) -> dict:
            with subscribe_collect(broker.host, broker.port, [f"{BASE}/reply/status"]) as sub:
                publish(broker.host, broker.port, topic, envelope, qos=1)
                return sub.wait_for(lambda m: True, 30).json()

        def started() -> None:
            p.start()
            with subscribe_collect(broker.host, broker.port, [f"{BASE}/availability"]) as sub:
                sub.wait_for(lambda m: m.text == "online" and not m.retain, 60)

        try:
            started()
            time.sleep(1.1)  # a fresh install's floor is the start-up's second: sign in a later one
            a = sign(key, topic, json.dumps({"request_id": "a"}).encode()).encode()
            assert ask(a)["ok"]
            filler = _fill(fs)
            b = sign(key, topic, json.dumps({"request_id": "b"}).encode()).encode()
            r = ask(b)
            assert not r["ok"] and "cannot save used command nonces" in r["error"], r
            assert "No space left on device" in r["error"]
            with subscribe_collect(broker.host, broker.port, [f"{BASE}/status"]) as sub:
                st = sub.wait_for(lambda m: not m.retain and m.json()["errors"], 10).json()
            assert any("refused until it can" in e for e in st["errors"]), st
            p.stop()
            started()  # the disk is still full
            assert "replayed" in ask(a)["error"]  # saved before the disk filled
            assert "cannot save" in ask(b)["error"]  # never run, and still not
            filler.unlink()  # room again: b runs, once
            r = ask(b)
            assert r["ok"] and r["request_id"] == "b", r
            assert "replayed" in ask(b)["error"]
            p.stop()
            started()
            assert "replayed" in ask(b)["error"]
            with subscribe_collect(broker.host, broker.port, [f"{BASE}/status"]) as sub:
                assert sub.wait_for(lambda m: not m.retain, 10).json()["errors"] == []
        finally:
            p.stop()
