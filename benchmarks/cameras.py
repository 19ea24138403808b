"""Several cameras on several cores: frd's own camera processes against one camera

``python benchmarks/cameras.py ../shared/data/faces/video/short_hamilton_clip.mp4 --cameras 2``

Measures the daemon's own code for several cameras, each camera replaying the clip from memory as fast as
it can (decoding is not measured; the frames are decoded before the clock starts), the config's defaults
(``--detector``):

- **1 camera, frd's process**: the baseline, what ``frd run`` does with one camera: the camera's
  :class:`~edged.video.worker.CameraWorker` (tracker, event rules) in this process;
- **1 camera, a process**: the same camera in a child process (``app.camera_processes``, edged/video/camproc.py),
  its tracked faces piped to this process's worker (``CameraWorker.process_tracked``), as the daemon does:
  the cost of the pipe;
- **N cameras, processes** (``recognition.camera_mode: processes``, the default): N children at once;
- **N cameras, threads** (``camera_mode: threads``): N workers with parts of their own
  (``app.camera_pipeline``) on N threads of this process; dlib, OpenCV and TFLite release the GIL only
  inside their native calls, so the Python between them is serialised.

OpenCV spreads YuNet's network over every core by default: one camera alone then uses about 1.4 of 2
cores, and the ratio to it understates what a second core gives. frd sets OpenCV's threads to
``recognition.threads`` (1) in every process that runs a camera (``app.pipeline_from_config``), so
``--opencv-threads 1`` measures this process's cameras as frd runs them (one camera on one core: the
issue's goal compares two cameras on two cores with that).

Printed: frames per second of each (all cameras together, from the first frame taken to the last frame's
faces received) and its ratio to one camera in frd's process (the goal: at least 1.8× with two cameras on
two cores), with the load average (the ratios mean something only when N cores are free), and the CPU a
frame costs (every thread of this process and, for processes, of the children, over the frames: what the
pipe and the second process cost, whatever the load).

``--rss SECONDS``: memory of ``frd run`` itself (no broker needed) with one camera, and with N cameras as
processes and as threads, each reading the clip (paced at its own frame rate, looping) for that long: the
sum of the peak RSS (VmHWM) of the daemon and each of its processes, and their PSS at the end (pages
shared between processes, such as the libraries' code, counted once: what the processes really cost).

``--gil``: which stage holds the GIL, measured in a way that survives a loaded machine. A probe
thread runs pure Python (it counts) while the stage runs in the main thread. The probe's count per
second during the stage's calls is placed between its count during calls of the same length known to
hold the GIL (sorting a list: 0 %) and known to release it while keeping a core busy
(``hashlib.sha256`` of a large buffer: 100 %): the share of the stage during which other Python can
run. 0 % means the stage holds the GIL throughout (a second camera's Python waits), 100 % means it
releases it throughout. Load slows the probe alike in all three (they alternate, a hundred times or
more), so the share stands where wall-clock ratios do not (about ±10 points from run to run).
The last row is a whole camera frame (``FaceTracker.process``): with ``h`` = 1 - its share (the part
of a frame that holds the GIL), N cameras as threads run at most ``min(N, 1 / h)`` times one camera,
and about ``2 / (1 + h)`` for two.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml
from procfs import cpu_seconds, field_kb  # benchmarks/procfs.py, beside this script

from edged.config import Config, RecognitionConfig, parse_config
from edged.daemon.app import (
    build_engine,
    build_pipeline,
    build_tracker,
    camera_pipeline,
    camera_processes,
    pipeline_from_config,
)
from edged.tools.bench import variant_frames
from edged.video.worker import CameraWorker
from edged.vision.camera import Frame
from edged.vision.images import load_image


class Replay:
    """A camera that hands out the clip's frames from memory, unpaced and never dropping one, ``repeat`` times
    (``edged.vision.camera.CameraReader``'s face towards frd); ``barrier``: cameras start together."""

    def __init__(self, name: str, frames: list[np.ndarray], repeat: int, barrier=None) -> None:
        self.name, self.fps_limit = name, None
        self.state, self.error, self.dropped, self.reconnects = "starting", None, 0, 0
        self._frames, self._total, self._barrier, self._i = frames, len(frames) * repeat, barrier, 0

    def start(self) -> Replay:
        if self._barrier is not None:
            self._barrier.wait()
        self.state = "streaming"
        return self

    def take(self, timeout: float) -> Frame | None:
        if self._i >= self._total:
            self.state = "ended"
            time.sleep(timeout)
            return None
        i, self._i = self._i, self._i + 1
        return Frame(self.name, i, self._frames[i % len(self._frames)], time.monotonic())

    def stop(self, timeout: float = 5.0) -> None:
        self.state = "stopped"


def replay(video: str, limit: int | None, repeat: int, barrier, camera) -> Replay:
    """A child's camera (``app.camera_child``'s ``reader``): the clip decoded in the child, before its start."""
    return Replay(camera.name, list(variant_frames(video, None, limit)), repeat, barrier)


def config(n: int, detector: str, mode: str, source: str = "/dev/null", **extra) -> Config:
    cams = [{"name": f"cam{i}", "source": source, "loop": True} for i in range(n)]
    return parse_config(yaml.safe_dump({"device_id": "bench", "cameras": cams,
                                        "recognition": {"detector": detector, "camera_mode": mode}, **extra}),
                        "bench.yaml")


def worker_for(name: str, tracker, rc: RecognitionConfig) -> CameraWorker:
    return CameraWorker(name, tracker, build_engine(name, rc), lock=threading.Lock(), captures=[], ignore=None,
                        unknowns=None)


def named(faces) -> int:
    return sum(t.recognition.name is not None for t in faces)


def in_process(frames, gallery: dict, detector: str, repeat: int, k: int) -> tuple[float, int, float]:
    """(frames per second, faces named, CPU ms per frame) of ``k`` cameras in this process: one (frd's one
    camera) or threads."""
    cfg = config(k, detector, "threads")
    rc = cfg.recognition
    base = pipeline_from_config(rc)
    base.matcher.set_gallery(gallery)
    barrier = threading.Barrier(k)
    res: list[tuple[int, int, float, float]] = []

    def run(name: str, pipeline) -> None:
        tracker = build_tracker(pipeline, rc)
        w = worker_for(name, tracker, rc)
        reader = Replay(name, frames, repeat, barrier).start()
        t0 = time.monotonic()
        n = got = 0
        while (frame := reader.take(0.0)) is not None:
            w.process(frame.rgb, frame.index, frame.ts)
            n += 1
            got += sum(t.name is not None for t in tracker.tracks)
        res.append((n, got, t0, time.monotonic()))

    c0 = time.process_time()  # every thread's, OpenCV's pool too
    if k == 1:
        run("cam0", base)
    else:
        threads = [threading.Thread(target=run, args=(f"cam{i}", camera_pipeline(base, rc.threads))) for i in range(k)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    cpu = time.process_time() - c0
    wall = max(r[3] for r in res) - min(r[2] for r in res)
    n = sum(r[0] for r in res)
    return n / wall, sum(r[1] for r in res), 1000 * cpu / n


def as_processes(video: str, limit: int | None, gallery: dict, detector: str, repeat: int, k: int
                 ) -> tuple[float, int, float]:
    """(frames per second, faces named, CPU ms per frame of the children and this process) of ``k`` cameras,
    each in the daemon's own child process, their tracked faces through this process's workers."""
    import multiprocessing as mp

    from edged.video.camproc import START_METHOD

    cfg = config(k, detector, "processes")
    barrier = mp.get_context(START_METHOD).Barrier(k)
    procs = camera_processes(cfg, lambda: gallery, "warning",
                             reader=functools.partial(replay, video, limit, repeat, barrier))
    frames_each = (limit or 0) * repeat
    res: dict[str, tuple[int, int, float, float]] = {}
    cpu: dict[str, float] = {}

    def drain(proc) -> None:
        w = worker_for(proc.name, None, cfg.recognition)
        n = got = 0
        first = None
        while n < frames_each:
            tracked = proc.take(1.0)
            if tracked is None:
                continue
            if first is None:
                first = tracked.mono
                cpu[proc.name] = -cpu_seconds(proc.pid)
            w.process_tracked(tracked.faces, tracked.index, tracked.mono, fresh=tracked.fresh,
                              embedded_all=tracked.embedded_all)
            got += named(tracked.faces)
            n += 1
        cpu[proc.name] += cpu_seconds(proc.pid)
        res[proc.name] = (n, got, first or 0.0, time.monotonic())

    for p in procs:
        p.start()
    c0 = time.process_time()
    threads = [threading.Thread(target=drain, args=(p,)) for p in procs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    here = time.process_time() - c0
    for p in procs:
        p.stop()
    wall = max(r[3] for r in res.values()) - min(r[2] for r in res.values())
    n = sum(r[0] for r in res.values())
    return n / wall, sum(r[1] for r in res.values()), 1000 * (sum(cpu.values()) + here) / n


def tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                kids.setdefault(int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]), []).append(int(d.name))
            except (OSError, ValueError, IndexError):
                continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def frd_rss(video: str, k: int, detector: str, mode: str, seconds: float) -> tuple[int, list[int], int]:
    """(peak RSS kB of ``frd run`` and its processes together, each one's, their PSS at the end) with ``k``
    cameras on the clip."""
    with tempfile.TemporaryDirectory() as tmp:
        cams = [{"name": f"cam{i}", "source": video, "loop": True} for i in range(k)]
        cfg = {"device_id": "bench", "log_level": "warning", "cameras": cams, "gallery": {"path": f"{tmp}/gallery"},
               "mqtt": {"host": "127.0.0.1", "port": 9}, "recognition": {"detector": detector, "camera_mode": mode}}
        path = Path(tmp) / "frd.yaml"
        path.write_text(yaml.safe_dump(cfg))
        proc = subprocess.Popen([sys.executable, "-m", "edged", "run", "-c", str(path)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peaks: dict[int, int] = {}
        end = time.monotonic() + seconds
        while time.monotonic() < end and proc.poll() is None:
            for p in tree(proc.pid):
                peaks[p] = max(peaks.get(p, 0), field_kb(p, "status", "VmHWM"))
            time.sleep(0.5)
        shared = sum(field_kb(p, "smaps_rollup", "Pss") for p in tree(proc.pid))
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    each = sorted((v for v in peaks.values() if v), reverse=True)
    return sum(each), each, shared


class Probe:
    """Pure Python in a thread of its own: how far it counts shows when it could hold the GIL."""

    def __init__(self) -> None:
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)

    def _spin(self) -> None:
        while not self._stop.is_set():
            for _ in range(200):
                self.count += 1

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _sized(make: Callable[[int], Callable[[], object]], ms: float) -> Callable[[], object]:
    """``make(n)``'s call with ``n`` chosen so that it takes about ``ms``."""
    probe = make(1 << 16)
    t = time.perf_counter()
    probe()
    per_unit = (time.perf_counter() - t) / (1 << 16)
    return make(max(1, round(ms / 1000 / per_unit)))


def released_work(ms: float) -> Callable[[], object]:
    """A CPU-bound call of about ``ms`` that releases the GIL throughout (hashlib over a large buffer):
    what "released" looks like on this machine, now, with the caller busy on a core."""
    def make(n: int) -> Callable[[], object]:
        data = np.random.default_rng(0).bytes(16 * n)
        return lambda: hashlib.sha256(data).digest()
    return _sized(make, ms)


def held_work(ms: float) -> Callable[[], object]:
    """A CPU-bound call of about ``ms`` that holds the GIL throughout (sorting a list in C): what "held"
    looks like, including the probe's turns that the switch interval gives it around a short call."""
    def make(n: int) -> Callable[[], object]:
        data = np.random.default_rng(0).random(n).tolist()
        return lambda: sorted(data)
    return _sized(make, ms)


def gil_share(call: Callable[[], object], calls: int, probe: Probe) -> tuple[float, float]:
    """(ms per call, share of the call during which the probe could run Python: 0 held, 1 released).

    Calls of the stage, of :func:`released_work` and of :func:`held_work` of the same length alternate, so
    load changes all three alike; the probe's count per second during the stage is placed between its
    count per second during the held work (0) and during the released work (1).
    """
    call()  # warm up
    t = time.perf_counter()
    for _ in range(3):
        call()
    ms = 1000 * (time.perf_counter() - t) / 3
    kinds = {"stage": call, "released": released_work(ms), "held": held_work(ms)}
    count = dict.fromkeys(kinds, 0)
    spent = dict.fromkeys(kinds, 0.0)
    for _ in range(calls):
        for kind, fn in kinds.items():
            c, t = probe.count, time.perf_counter()
            fn()
            count[kind] += probe.count - c
            spent[kind] += time.perf_counter() - t
    rate = {k: count[k] / spent[k] for k in kinds}
    free = rate["released"] - rate["held"]
    return 1000 * spent["stage"] / calls, (rate["stage"] - rate["held"]) / free if free > 0 else float("nan")


def gil(frames: list[np.ndarray], enroll: Path | None, calls: int) -> None:
    """Print each stage's time per call and the share of it that leaves the GIL to others."""
    from edged.vision.align import to_dlib

    hog = build_pipeline(still=False, detector="hog", detect_max_side=None)
    yunet = build_pipeline(still=False, detector="yunet", detect_max_side=640)
    rgb = next(f for f in frames if hog.detector.detect(f))
    box = hog.detector.detect(rgb)[0]
    chip = hog.aligner.chip(rgb, box)
    predictor = hog.aligner._predictor
    tracker = build_tracker(hog, RecognitionConfig(motion={"enabled": False}))
    it = iter(range(10**9))

    def frame() -> None:  # one camera frame: the tracker on the next frame of the clip
        tracker.process(frames[next(it) % len(frames)])

    stages = [
        ("dlib HOG detect (640x360)", lambda: hog.detector.detect(rgb)),
        ("OpenCV YuNet detect (640x360)", lambda: yunet.detector.detect(rgb)),
        ("dlib landmarks (5 points)", lambda: predictor(rgb, to_dlib(box))),
        ("the chip (edged.vision.align.cut)", lambda: hog.aligner.chip(rgb, box)),
        ("TFLite embed (1 chip)", lambda: hog.embedder.embed(chip)),
        ("whole frame, hog (FaceTracker)", frame),
    ]
    print(f"GIL: probe's progress during each call over during held and GIL-free work of the same length; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print("  | stage | ms per call | share others can run |")
    # A short switch interval: a stage that holds the GIL through a 1 ms call would otherwise be charged
    # with the probe's whole 5 ms turn that follows it.
    sys.setswitchinterval(1e-4)
    with Probe() as probe:
        for name, call in stages:
            n = max(20, calls // 5) if name.startswith("whole") else calls
            ms, share = gil_share(call, n, probe)
            print(f"  | {name} | {ms:.2f} | {100 * share:.0f} % |", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video", type=Path)
    ap.add_argument("--cameras", type=int, default=2)
    ap.add_argument("--enroll", type=Path, help="a photo of someone in the clip (named faces are counted)")
    ap.add_argument("--detector", default="yunet", choices=("hog", "yunet"))
    ap.add_argument("--frames", type=int, default=None, help="use only the clip's first N frames")
    ap.add_argument("--repeat", type=int, default=2, help="passes over the clip per camera")
    ap.add_argument("--no-threads", action="store_true", help="skip the N cameras as threads")
    ap.add_argument("--opencv-threads", type=int, default=None,
                    help="cv2.setNumThreads in this process (one camera, threads; default: OpenCV's own, every "
                         "core, as frd runs one camera); camera processes set their own (app.camera_processes)")
    ap.add_argument("--rss", type=float, default=None, metavar="SECONDS",
                    help="peak RSS of frd run with 1 and N cameras, each run this long, then stop")
    ap.add_argument("--gil", action="store_true", help="measure which stage holds the GIL, then stop")
    ap.add_argument("--calls", type=int, default=200, help="--gil: calls per stage")
    args = ap.parse_args()
    if args.rss:
        print(f"peak RSS of frd run (daemon + its processes), {args.detector}, {args.rss:g} s on {args.video.name}")
        for k, mode in ((1, "processes"), (args.cameras, "processes"), (args.cameras, "threads")):
            total, each, shared = frd_rss(str(args.video), k, args.detector, mode, args.rss)
            label = "1 camera" if k == 1 else f"{k} cameras, {mode}"
            print(f"  {label:22s} peak RSS {total / 1024:4.0f} MB ({' + '.join(f'{v / 1024:.0f}' for v in each)})"
                  f"   PSS at the end {shared / 1024:4.0f} MB", flush=True)
        return 0
    if args.opencv_threads is not None:
        import cv2

        cv2.setNumThreads(args.opencv_threads)
    frames = list(variant_frames(str(args.video), None, args.frames))
    if args.gil:
        gil(frames, args.enroll, args.calls)
        return 0
    gallery: dict = {}
    if args.enroll:
        pipeline = build_pipeline(still=True)
        gallery = {"enrolled": pipeline.faces(load_image(args.enroll), subject_only=True)[0].embedding[None]}
    limit = len(frames)
    print(f"{limit} frames of {args.video.name} ({frames[0].shape[1]}x{frames[0].shape[0]}), "
          f"{args.detector}, {args.repeat} passes per camera, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}, OpenCV threads {args.opencv_threads or 'default'}")
    base, got, cpu = in_process(frames, gallery, args.detector, args.repeat, 1)
    print(f"  1 camera, frd's process: {base:7.1f} frames/s   1.00x   named {got}   CPU {cpu:.1f} ms/frame", flush=True)
    fps, got, cpu = as_processes(str(args.video), limit, gallery, args.detector, args.repeat, 1)
    print(f"  1 camera, a process:     {fps:7.1f} frames/s   {fps / base:.2f}x   named {got}   CPU {cpu:.1f} ms/frame",
          flush=True)
    fps, got, cpu = as_processes(str(args.video), limit, gallery, args.detector, args.repeat, args.cameras)
    print(f"  {args.cameras} cameras, processes:  {fps:7.1f} frames/s   {fps / base:.2f}x   named {got}   "
          f"CPU {cpu:.1f} ms/frame", flush=True)
    if not args.no_threads:
        fps, got, cpu = in_process(frames, gallery, args.detector, args.repeat, args.cameras)
        print(f"  {args.cameras} cameras, threads:    {fps:7.1f} frames/s   {fps / base:.2f}x   named {got}   "
              f"CPU {cpu:.1f} ms/frame")
    print(f"  load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
