"""An empty doorway through ``frd run``: the CPU an idle 1080p camera costs, and how soon a person who
walks in is announced.

    python benchmarks/idle.py [--seconds 30] [--walk-ins 3] [--size 1920x1080]

The benchmark is the camera: it serves a live HTTP/MJPEG stream at 30 frames a second (what most IP
cameras' MJPEG URLs serve), made in memory from the Hamilton clip scaled to ``--size``. Most of the
time the stream shows the clip's first frame with its people painted out and fresh sensor noise on
every frame (an empty doorway); on a walk-in it plays the clip, whose first frame has Lin in it, then
returns to the empty doorway. Nothing is written to disk but the config and the gallery (in a
temporary folder).

``frd run`` runs at its defaults (Lin enrolled from the enroll photo with ``frd enroll``; cooldowns 0
so that every walk-in is announced), with a private mosquitto. Printed:

- **idle CPU** of the frd process over ``--seconds`` of the empty doorway (``/proc/PID/stat``), in
  % of one core; beside it, the CPU of a bare OpenCV reader of the same stream over the same time
  (``VideoCapture.read`` in a loop, nothing else: the video decoding any program reading this camera
  pays); frd's own share is the difference;
- **announce latency**: from the moment the server sent the walk-in's first frame to the arrival of
  frd's event naming Lin at an MQTT subscriber; beside it, how many of the clip's frames frd's own
  path (tracker and vote, no idle before) needs before it can announce, as seconds of video: the part
  of the latency that is the vote, not the idle camera;
- **peak RSS** of the frd process (``VmHWM``) at this camera size.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from procfs import cpu_seconds, field_kb  # noqa: E402 (benchmarks/procfs.py, beside this script)

from edged.tools.bench import empty_doorway, variant_frames  # noqa: E402
from tests.broker import Mosquitto  # noqa: E402

NAME = "lin_manuel_miranda"
FPS = 30


class Stream:
    """A live MJPEG camera: the idle frames in a loop, the clip once on :meth:`walk_in`; every client sees
    the same frame at the same moment (a broadcaster paced at ``FPS``)."""

    def __init__(self, idle: list[bytes], clip: list[bytes]) -> None:
        self.idle, self.clip = idle, clip
        self.frame = idle[0]
        self.seq = 0
        self.walked_in: float | None = None  # wall time the walk-in's first frame was sent
        self._walk = threading.Event()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Stream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def walk_in(self) -> None:
        self._walk.set()

    def playing(self) -> bool:
        return self._walk.is_set()

    def _run(self) -> None:
        i = 0
        next_t = time.monotonic()
        queue: list[bytes] = []
        while not self._stop.is_set():
            if not queue and self._walk.is_set() and self.walked_in is not None:
                self._walk.clear()  # the clip has been played
            if not queue and self._walk.is_set():
                queue = list(self.clip)
                first = True
            else:
                first = False
            frame = queue.pop(0) if queue else self.idle[i % len(self.idle)]
            i += 1
            next_t += 1 / FPS
            time.sleep(max(0.0, next_t - time.monotonic()))
            with self._cond:
                self.frame, self.seq = frame, self.seq + 1
                if first:
                    self.walked_in = time.time()
                self._cond.notify_all()

    def next_frame(self, seq: int) -> tuple[bytes, int]:
        with self._cond:
            while self.seq == seq and not self._stop.is_set():
                self._cond.wait(1)
            return self.frame, self.seq


def serve(stream: Stream) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            seq = 0
            try:
                while True:
                    jpeg, seq = stream.next_frame(seq)
                    self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                     + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                return

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def threads(pid: int) -> dict[int, float]:
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError):  # a thread that ended
            out[int(task.name)] = cpu_seconds(pid, int(task.name))
    return out


def bare_reader(url: str, seconds: float) -> subprocess.Popen:
    """Start a process that reads (decodes) the stream and nothing else for ``seconds``; it prints the % of
    one core it used. Run beside frd over the same seconds: the machine's speed drifts by more than frd's
    own share between two 30 s windows, so the two are measured at the same time."""
    code = ("import cv2,sys,time\ncv2.setNumThreads(1)\ncap=cv2.VideoCapture(sys.argv[1])\n"
            "assert cap.read()[0]\nt=time.monotonic()+float(sys.argv[2])\nc0=time.process_time()\n"
            "while time.monotonic()<t: cap.read()\nprint(100*(time.process_time()-c0)/float(sys.argv[2]))\n")
    return subprocess.Popen([sys.executable, "-c", code, url, str(seconds)], stdout=subprocess.PIPE, text=True)


def frames_to_announce(clip_rgb: list[np.ndarray], enroll: Path) -> int | None:
    """How many of the clip's frames frd's own path needs before it announces Lin (no idle before)."""
    from edged.config import RecognitionConfig
    from edged.daemon.app import build_engine, build_pipeline, build_tracker
    from edged.vision.images import load_image

    video, still = build_pipeline(still=False), build_pipeline(still=True)
    video.matcher.set_gallery({NAME: still.faces(load_image(enroll), subject_only=True)[0].embedding[None]})
    rc = RecognitionConfig(cooldown_s=0, unknown_cooldown_s=0)
    tracker, engine = build_tracker(video, rc), build_engine("door", rc)
    for i, rgb in enumerate(clip_rgb):
        recs = [t.recognition for t in tracker.process(rgb, now=i / FPS)]
        if any(e.name == NAME for e in engine.feed(i, recs, i / FPS)):
            return i + 1
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(os.environ.get("FRD_TEST_DATA", ROOT.parent / "shared/data/faces"))
    ap.add_argument("--data", type=Path, default=default_data)
    ap.add_argument("--seconds", type=float, default=30, help="idle seconds measured")
    ap.add_argument("--walk-ins", type=int, default=3)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--clip-frames", type=int, default=90, help="frames of the clip a walk-in plays")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    clip_path = args.data / "video/short_hamilton_clip.mp4"
    enroll = args.data / "video/enroll/lin_manuel_miranda_1.png"
    w, h = (int(v) for v in args.size.split("x"))

    clip_rgb = list(variant_frames(str(clip_path), args.size, args.clip_frames))
    doorway = empty_doorway(cv2.resize(next(variant_frames(str(clip_path), None, 1)), (w, h)))
    rng = np.random.default_rng(0)

    def jpeg(rgb: np.ndarray) -> bytes:
        return cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()

    idle = [jpeg(np.clip(doorway + rng.normal(0, 2, doorway.shape), 0, 255).astype(np.uint8)) for _ in range(FPS)]
    clip = [jpeg(f) for f in clip_rgb]
    need = frames_to_announce(clip_rgb, enroll)
    del clip_rgb

    stream = Stream(idle, clip).start()
    server = serve(stream)
    url = f"http://127.0.0.1:{server.server_address[1]}/live.mjpg"
    result: dict = {"size": args.size, "fps": FPS, "frames_to_announce": need}
    with tempfile.TemporaryDirectory() as d, Mosquitto() as broker:
        tmp = Path(d)
        subprocess.run([sys.executable, "-m", "edged", "enroll", NAME, str(enroll), "--gallery", str(tmp / "g")],
                       check=True, capture_output=True)
        cfg = tmp / "frd.yaml"
        cfg.write_text(yaml.safe_dump({
            "device_id": "bench", "mqtt": {"host": broker.host, "port": broker.port},
            "cameras": [{"name": "door", "source": url}],
            "gallery": {"path": str(tmp / "g")},
            "recognition": {"cooldown_s": 0, "unknown_cooldown_s": 0},
        }))
        events: list[tuple[float, dict]] = []
        status: list[dict] = []

        def on_message(_c, _u, msg) -> None:
            if msg.topic.endswith("/event"):
                events.append((time.time(), json.loads(msg.payload)))
            else:
                status.append(json.loads(msg.payload))

        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        c.on_message = on_message
        c.connect(broker.host, broker.port)
        c.subscribe([("frd/bench/event", 1), ("frd/bench/status", 1)])
        c.loop_start()
        notify = tmp / "notify.sock"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(notify))
        sock.settimeout(120)
        proc = subprocess.Popen([sys.executable, "-m", "edged", "run", "-c", str(cfg)],
                                env={**os.environ, "NOTIFY_SOCKET": str(notify)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            while b"READY=1" not in sock.recv(4096):
                pass
            time.sleep(5)  # settle: first detections, the first status
            reader = bare_reader(url, args.seconds + 1)  # its first second opens the stream
            time.sleep(1)
            c0, th0, t0 = cpu_seconds(proc.pid), threads(proc.pid), time.monotonic()
            time.sleep(args.seconds)
            th1, c1, dt = threads(proc.pid), cpu_seconds(proc.pid), time.monotonic() - t0
            reader_pct = float(reader.communicate(timeout=60)[0])
            frd_pct = 100 * (c1 - c0) / dt
            # with one camera the frame loop (detection, tracking, events) is the main thread; the camera
            # reader's thread decodes (with FFmpeg's own threads), paho's does the network
            main_pct = 100 * (th1[proc.pid] - th0.get(proc.pid, 0.0)) / dt
            per_thread = sorted((100 * (v - th0.get(k, 0.0)) / dt for k, v in th1.items() if k != proc.pid),
                                reverse=True)
            latencies = []
            for _ in range(args.walk_ins):
                before = len(events)
                stream.walked_in = None
                stream.walk_in()
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and not any(
                        e["name"] == NAME for _, e in events[before:]):
                    time.sleep(0.01)
                hit = next(((t, e) for t, e in events[before:] if e["name"] == NAME), None)
                latencies.append(None if hit is None or stream.walked_in is None else hit[0] - stream.walked_in)
                while stream.playing():
                    time.sleep(0.05)
                time.sleep(3)  # the doorway empty again: tracks dropped, the gate quiet
            result["frd_peak_rss_mb"] = round(field_kb(proc.pid, "status", "VmHWM") / 1024, 1)
            alive = proc.poll() is None
        finally:
            proc.terminate()
            err = proc.communicate(timeout=30)[1].decode(errors="replace")
            sock.close()
            c.loop_stop()
        if not alive:
            print(err[-3000:], file=sys.stderr)
            return 1
    stream.stop()
    server.shutdown()
    ok = [x for x in latencies if x is not None]
    result.update({
        "idle_seconds": args.seconds,
        "frd_process_cpu_pct": round(frd_pct, 2),
        "bare_reader_cpu_pct": round(reader_pct, 2),
        "frd_own_cpu_pct": round(frd_pct - reader_pct, 2),
        "frame_loop_cpu_pct": round(main_pct, 2),
        "other_threads_cpu_pct": [round(x, 2) for x in per_thread if x >= 0.05],
        "announce_latency_s": [None if x is None else round(x, 3) for x in latencies],
        "announce_latency_median_s": round(statistics.median(ok), 3) if ok else None,
        "vote_needs_s": round(need / FPS, 3) if need else None,
    })
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"idle {args.size} MJPEG camera at {FPS} fps through `frd run`, over {args.seconds:.0f} s:")
    print(f"  frd process {frd_pct:.2f} % of one core; a bare reader of the same stream {reader_pct:.2f} % "
          f"(decoding); frd's own {frd_pct - reader_pct:.2f} %")
    print(f"  frd's threads: the frame loop {main_pct:.2f} %; the others "
          f"{', '.join(f'{x:.2f}' for x in result['other_threads_cpu_pct'])} % (the camera reader decodes)")
    print(f"  peak RSS of frd {result['frd_peak_rss_mb']} MB")
    print(f"walk-ins announced after (s): {result['announce_latency_s']}; the clip's vote itself needs "
          f"{need} frames ({result['vote_needs_s']} s of video)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
