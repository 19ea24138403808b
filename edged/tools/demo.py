"""``frd demo``: the whole job on one machine, in one command.

Starts a broker (mosquitto when installed, else an embedded amqtt broker),
runs ``frd run`` against a camera (the webcam when there is one, else a
video built from Grace Hopper's portrait, shipped in ``samples/`` with its
provenance), enrolls a person over MQTT exactly as a user would, and prints
the recognition events as they arrive. Everything lives in a temporary
folder that is removed at the end; nothing is written to the system.

The broker and frd run in sessions of their own: Ctrl-C reaches the demo
alone, which stops frd first (a clean ``offline``) and the broker last.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import yaml

DEVICE = "demo"
#: How often the demo prints frd's status between events, so it never looks stuck.
STATUS_EVERY_S = 10
#: The demo's ``recognition.cooldown_s`` (frd's default is 60 s): the built-in video's face leaves the picture
#: and comes back every pass, and a person at the webcam who steps away is named again after this long, so a
#: minute of demo shows more than one event.
DEMO_COOLDOWN_S = 10
#: The sample portrait (public domain; samples/README.md says where it comes from).
PORTRAIT = Path(__file__).resolve().parent / "samples" / "grace_hopper.jpg"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"broker did not open port {port}")


@contextlib.contextmanager
def broker(kind: str, tmp: Path) -> Iterator[tuple[int, str]]:
    """A broker on a free loopback port: ``mosquitto``, ``embedded`` (amqtt) or ``auto``."""
    port = _free_port()
    mosquitto = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if kind == "mosquitto" or (kind == "auto" and mosquitto):
        if not mosquitto:
            raise RuntimeError("mosquitto is not installed")
        conf = tmp / "mosquitto.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        proc = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)  # Ctrl-C is the demo's: the broker goes last
        try:
            _wait_port(port)
            yield port, "mosquitto"
        finally:
            proc.terminate()
            proc.wait(5)
        return
    import logging

    from amqtt.broker import Broker

    logging.getLogger("amqtt").setLevel(logging.CRITICAL)  # it logs every refused MQTT 5 hello as an error
    loop = asyncio.new_event_loop()

    cfg = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    box: dict = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        box["broker"] = Broker(cfg, loop=loop)
        loop.run_until_complete(box["broker"].start())
        loop.run_forever()

    threading.Thread(target=run, name="amqtt", daemon=True).start()
    try:
        _wait_port(port)
        yield port, "embedded amqtt (MQTT 3.1.1)"
    finally:
        if "broker" in box:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(box["broker"].shutdown(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)


def sample_portrait() -> Path:
    """Grace Hopper's portrait (public domain, US Navy), shipped with frd: samples/README.md."""
    return PORTRAIT


def build_video(image: Path, out: Path, seconds: float = 12.0, fps: int = 15, away: float = 0.25) -> Path:
    """A slow pan of ``image`` across a 960×540 canvas, so the 'camera' shows a real face moving; for the last
    ``away`` of each pass the picture is empty, so the face leaves and comes back (a new sighting each loop)."""
    img = cv2.imread(str(image))
    h, w = img.shape[:2]
    scale = 400 / h
    img = cv2.resize(img, (round(w * scale), 400))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (960, 540))
    n = int(seconds * fps)
    shown = int(n * (1 - away))
    for i in range(n):
        canvas = np.full((540, 960, 3), 40, np.uint8)
        if i < shown:
            x = int(60 + (960 - img.shape[1] - 120) * (0.5 - 0.5 * np.cos(2 * np.pi * i / shown)))
            canvas[70 : 70 + img.shape[0], x : x + img.shape[1]] = img
        writer.write(canvas)
    writer.release()
    return out


def webcam() -> str | None:
    for dev in sorted(Path("/dev").glob("video*")):
        cap = cv2.VideoCapture(str(dev), cv2.CAP_V4L2)
        ok = cap.isOpened() and cap.read()[0]
        cap.release()
        if ok:
            return str(dev)
    return None


def main(args: argparse.Namespace) -> int:
    from ..core.topics import Topics

    topics = Topics("frd", DEVICE)
    with tempfile.TemporaryDirectory(prefix="frd-demo-") as tmpdir:
        tmp = Path(tmpdir)
        cam = None if args.video else webcam()
        portrait = sample_portrait()
        source = cam or str(build_video(portrait, tmp / "camera.mp4"))
        with broker(args.broker, tmp) as (port, broker_name):
            cfg = {
                "device_id": DEVICE,
                # amqtt speaks only 3.1.1: say so rather than let frd find out
                "mqtt": {"host": "127.0.0.1", "port": port,
                         "protocol": "auto" if "mosquitto" in broker_name else "3.1.1"},

                "cameras": [{"name": "demo", "source": source, "loop": cam is None}],
                "gallery": {"path": str(tmp / "gallery")},
                "recognition": {"cooldown_s": DEMO_COOLDOWN_S, "unknown_cooldown_s": DEMO_COOLDOWN_S},
                "status_interval_s": 2,
            }
            (tmp / "frd.yaml").write_text(yaml.safe_dump(cfg))
            print(f"broker:  {broker_name} on 127.0.0.1:{port}")
            print(f"camera:  {cam or 'no webcam: a video built from ' + str(portrait)}")
            print(f"the demo stops after {args.seconds:g} s (--seconds), or at Ctrl-C", flush=True)
            proc = subprocess.Popen([sys.executable, "-m", "edged", "run", "-c", str(tmp / "frd.yaml")],
                                    start_new_session=True)  # Ctrl-C is the demo's: it stops frd, cleanly
            watcher = _Watcher(topics, args.until_event)
            if not _enroll_and_watch(watcher, proc, port, cam, portrait, args.seconds):
                return 1
    named = sum(1 for e in watcher.events if e["name"])
    print(f"demo over: {len(watcher.events)} event(s), {named} naming someone")
    print(f"next: `source {_venv_hint()}/bin/activate` puts frd on your PATH (or call {_venv_hint()}/bin/frd); "
          "README.md, \"Your own camera\", goes from here to your door")
    return 0 if named else 1


def _venv_hint() -> str:
    """The virtualenv this frd runs from, as the user would type it (``.venv`` from the checkout)."""
    prefix = Path(sys.prefix)
    try:
        return str(prefix.relative_to(Path.cwd()))
    except ValueError:
        return str(prefix)


class _Watcher:
    """Prints what frd publishes (events, its status now and then, availability, replies) as a user sees it."""

    def __init__(self, topics, until_event: bool) -> None:
        self.topics = topics
        self.until_event = until_event
        self.done = threading.Event()
        self.online = threading.Event()
        self.events: list[dict] = []
        self.last_status = time.monotonic()

    def on_message(self, _c, _u, msg) -> None:
        topics = self.topics
        body = msg.payload.decode(errors="replace")
        if msg.topic == topics.event:
            ev = json.loads(body)
            self.events.append(ev)
            print(f"event:   {ev['event_type']:10s} name={ev['name']} score={ev['score']} "
                  f"camera={ev['camera']} box={ev['box']}", flush=True)
            if ev["name"] and self.until_event:
                self.done.set()
            elif ev["name"] and sum(1 for e in self.events if e["name"]) == 1:
                print(f"         (frd names a person once as they come into view, and again when they come back "
                      f"after recognition.cooldown_s: {DEMO_COOLDOWN_S} s here, 60 s by default; meanwhile its "
                      f"status every {STATUS_EVERY_S} s)", flush=True)
            self.last_status = time.monotonic()
        elif msg.topic == topics.status:
            if time.monotonic() - self.last_status >= STATUS_EVERY_S:
                self.last_status = time.monotonic()
                st = json.loads(body)
                n = st["gallery_size"]
                print(f"status:  {st['fps']:.1f} fps, {n} {'person' if n == 1 else 'people'} enrolled, "
                      f"{st['events']} event(s) so far", flush=True)
        elif msg.topic == topics.availability:
            print(f"frd is {body}", flush=True)
            if body == "online":
                self.online.set()
        else:
            print(f"reply:   {body}", flush=True)


def _enroll_and_watch(watcher: _Watcher, proc: subprocess.Popen, port: int, cam: str | None, portrait: Path,
                      seconds: float) -> bool:
    """Wait for frd, enroll over MQTT as a user would, print what comes until ``seconds`` pass (or the first
    event naming someone, or Ctrl-C), then stop frd. False: frd did not come online."""
    import paho.mqtt.client as mqtt

    topics = watcher.topics
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    c.on_message = watcher.on_message
    c.connect("127.0.0.1", port)
    c.subscribe([(topics.event, 1), (topics.availability, 1), (topics.reply("enroll"), 1),
                 (topics.status, 0)])
    c.loop_start()
    def interrupted(*_: object) -> None:
        print("\nstopping: frd, then the broker", flush=True)  # after the terminal's ^C, on a line of its own
        watcher.done.set()

    old = signal.signal(signal.SIGINT, interrupted)
    old_term = signal.signal(signal.SIGTERM, interrupted)  # a stopped demo stops frd and the broker too
    try:
        if not watcher.online.wait(60):
            print("frd did not come online within 60 s", flush=True)
            return False
        if cam is None:

            pub = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1",
                   "-t", topics.cmd("enroll", "grace_hopper"), "-f", str(portrait)]
            print(f"enroll:  {shlex.join(pub)}", flush=True)
            c.publish(topics.cmd("enroll", "grace_hopper"), portrait.read_bytes(), qos=1)
        else:
            print("enroll:  look at the camera: capturing 5 frames of you as 'me'")
            body = {"name": "me", "capture": {"frames": 5, "timeout_s": 30}}
            c.publish(topics.cmd("enroll"), json.dumps(body), qos=1)
        watcher.done.wait(seconds)
        return True
    finally:
        signal.signal(signal.SIGINT, old)
        signal.signal(signal.SIGTERM, old_term)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        c.loop_stop()
        c.disconnect()
