"""Several cameras on several cores: threads or processes? (issue 11)

``python benchmarks/cameras.py ../shared/data/faces/video/short_hamilton_clip.mp4 --cameras 2``

Each camera gets its own pipeline (detector, aligner, int8 interpreter: the interpreter is not
thread-safe) and its own tracker, as the daemon's camera workers would, and runs the clip (held in
memory, so decoding is not measured) with the motion gate off. Three runs in one process:

- **1 camera**: the baseline, frames per second of one worker;
- **N cameras, threads**: N workers in N threads of this process; dlib, OpenCV and TFLite release
  the GIL only inside their native calls, so the Python between them is serialised;
- **N cameras, processes**: N workers in N forked processes.

Printed: total frames per second of each and its ratio to one camera (the goal: at least 1.8×
with two cameras on two cores), and the CPU seconds per frame of each run (``time.thread_time`` of
every camera's thread or process: the ratio of wall times is only meaningful when N cores are free,
CPU per frame says whether threads cost more CPU than processes whatever the load).

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
import hashlib
import multiprocessing as mp
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from edged.app import build_pipeline, build_tracker
from edged.bench import variant_frames
from edged.config import RecognitionConfig
from edged.images import load_image


def worker(frames: list[np.ndarray], enroll: Path | None, detector: str, repeat: int, barrier,
           out) -> None:
    """One camera: its own pipeline and tracker over ``frames`` ``repeat`` times. Builds first, waits for
    the other cameras, then puts (frames, faces named, start, end, CPU seconds of its thread) on ``out``."""
    cv2.setNumThreads(1)
    pipeline = build_pipeline(still=False, detector=detector, detect_max_side=640 if detector == "yunet" else None)
    if enroll:
        e = pipeline.faces(load_image(enroll), largest_only=True, still=True)[0].embedding[None]
        pipeline.matcher.set_gallery({"enrolled": e})
    tracker = build_tracker(pipeline, RecognitionConfig(motion={"enabled": False}))
    barrier.wait()
    t0 = time.monotonic()  # one clock for every process (CLOCK_MONOTONIC)
    c0 = time.thread_time()
    named = n = 0
    for _ in range(repeat):
        tracker.reset()
        for rgb in frames:
            named += sum(t.recognition.name is not None for t in tracker.process(rgb))
            n += 1
    out.put((n, named, t0, time.monotonic(), time.thread_time() - c0))


def run(mode: str, k: int, frames, enroll, detector, repeat) -> tuple[float, int, float]:
    """(total frames per second, faces named, CPU ms per frame) of ``k`` cameras run as ``mode`` (timed from when
    all are built)."""
    if mode == "processes":
        ctx = mp.get_context("fork")  # the frames are inherited, not copied through a pipe
        barrier, out = ctx.Barrier(k), ctx.Queue()
        workers = [ctx.Process(target=worker, args=(frames, enroll, detector, repeat, barrier, out)) for _ in range(k)]
    else:
        barrier, out = threading.Barrier(k), queue.Queue()
        workers = [threading.Thread(target=worker, args=(frames, enroll, detector, repeat, barrier, out))
                   for _ in range(k)]
    for w in workers:
        w.start()
    res = [out.get() for _ in range(k)]
    for w in workers:
        w.join()
    wall = max(r[3] for r in res) - min(r[2] for r in res)
    frames_done = sum(r[0] for r in res)
    return frames_done / wall, sum(r[1] for r in res), 1000 * sum(r[4] for r in res) / frames_done


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
    import dlib

    from edged.detect import to_dlib

    hog = build_pipeline(still=False, detector="hog", detect_max_side=None)
    yunet = build_pipeline(still=False, detector="yunet", detect_max_side=640)
    rgb = next(f for f in frames if hog.detector.detect(f))
    box = hog.detector.detect(rgb)[0]
    shape = hog.aligner.landmarks(rgb, box)
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
        ("dlib.get_face_chip", lambda: dlib.get_face_chip(rgb, shape, size=hog.aligner.size,
                                                          padding=hog.aligner.padding)),
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
    ap.add_argument("--detector", default="hog", choices=("hog", "yunet"))
    ap.add_argument("--frames", type=int, default=None, help="use only the clip's first N frames")
    ap.add_argument("--repeat", type=int, default=2, help="passes over the clip per camera")
    ap.add_argument("--switch-interval", type=float, default=None,
                    help="sys.setswitchinterval in seconds for the runs (Python's default: 0.005)")
    ap.add_argument("--gil", action="store_true", help="measure which stage holds the GIL, then stop")
    ap.add_argument("--calls", type=int, default=200, help="--gil: calls per stage")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    frames = list(variant_frames(str(args.video), None, args.frames))
    if args.gil:
        gil(frames, args.enroll, args.calls)
        return 0
    print(f"{len(frames)} frames of {args.video.name} ({frames[0].shape[1]}x{frames[0].shape[0]}), "
          f"{args.detector}, {args.repeat} passes per camera, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}, switch interval {sys.getswitchinterval() * 1000:g} ms")
    base, named, cpu = run("threads", 1, frames, args.enroll, args.detector, args.repeat)
    print(f"  1 camera:               {base:7.1f} frames/s   1.00x   named {named}   CPU {cpu:.1f} ms/frame")
    for mode in ("threads", "processes"):
        fps, named, cpu = run(mode, args.cameras, frames, args.enroll, args.detector, args.repeat)
        print(f"  {args.cameras} cameras, {mode:9s}:  {fps:7.1f} frames/s   {fps / base:.2f}x   named {named}   "
              f"CPU {cpu:.1f} ms/frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
