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
with two cameras on two cores). Run it on a quiet machine: the ratio is only meaningful when N
cores are free.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from edged.app import build_pipeline, build_tracker
from edged.camera import read_video
from edged.config import RecognitionConfig
from edged.images import load_image


def clip_frames(video: Path, limit: int | None) -> list[np.ndarray]:
    out = []
    for f in read_video(str(video)):
        out.append(f.rgb)
        if limit and len(out) >= limit:
            break
    return out


def worker(frames: list[np.ndarray], enroll: Path | None, detector: str, repeat: int, barrier,
           out) -> None:
    """One camera: its own pipeline and tracker over ``frames`` ``repeat`` times. Builds first, waits for
    the other cameras, then puts (frames, faces named, start, end) on ``out``."""
    cv2.setNumThreads(1)
    pipeline = build_pipeline(still=False, detector=detector, detect_max_side=640 if detector == "yunet" else None)
    if enroll:
        e = pipeline.faces(load_image(enroll), largest_only=True, still=True)[0].embedding[None]
        pipeline.matcher.set_gallery({"enrolled": e})
    tracker = build_tracker(pipeline, RecognitionConfig(motion={"enabled": False}))
    barrier.wait()
    t0 = time.monotonic()  # one clock for every process (CLOCK_MONOTONIC)
    named = n = 0
    for _ in range(repeat):
        tracker.reset()
        for rgb in frames:
            named += sum(t.recognition.name is not None for t in tracker.process(rgb))
            n += 1
    out.put((n, named, t0, time.monotonic()))


def run(mode: str, k: int, frames, enroll, detector, repeat) -> tuple[float, int]:
    """(total frames per second, faces named) of ``k`` cameras run as ``mode`` (timed from when all are built)."""
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
    return sum(r[0] for r in res) / wall, sum(r[1] for r in res)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video", type=Path)
    ap.add_argument("--cameras", type=int, default=2)
    ap.add_argument("--enroll", type=Path, help="a photo of someone in the clip (named faces are counted)")
    ap.add_argument("--detector", default="hog", choices=("hog", "yunet"))
    ap.add_argument("--frames", type=int, default=None, help="use only the clip's first N frames")
    ap.add_argument("--repeat", type=int, default=2, help="passes over the clip per camera")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    frames = clip_frames(args.video, args.frames)
    print(f"{len(frames)} frames of {args.video.name} ({frames[0].shape[1]}x{frames[0].shape[0]}), "
          f"{args.detector}, {args.repeat} passes per camera, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    base, named = run("threads", 1, frames, args.enroll, args.detector, args.repeat)
    print(f"  1 camera:               {base:7.1f} frames/s   1.00x   named {named}")
    for mode in ("threads", "processes"):
        fps, named = run(mode, args.cameras, frames, args.enroll, args.detector, args.repeat)
        print(f"  {args.cameras} cameras, {mode:9s}:  {fps:7.1f} frames/s   {fps / base:.2f}x   named {named}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
