"""``frd bench``: frd's video pipeline against the face_recognition-style pipeline, one process, one core.

Both pipelines read the same clip from a decoding thread (as the daemon's
camera reader does) and run their inference on the calling thread:

- **frd**: :class:`~edged.track.FaceTracker` — HOG on grey every ``detect_every``
  frames, faces followed by landmark refit in between, int8 FaceNet only until
  a face's identity settles;
- **reference**: what face_recognition does — HOG on every frame (upsample 0)
  and a dlib ResNet descriptor for every face, matched at its 0.6 tolerance.

Printed: frames per second of each and their ratio, faces named as the
enrolled person (recall), per-stage time, frame-to-event latency (from the
moment a frame is handed to the pipeline to the event the vote produces) and
peak RSS; then the per-face cost of the int8, float and dlib embedders.
"""

from __future__ import annotations

import argparse
import json
import queue
import resource
import statistics
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from .camera import frames
from .events import EventEngine
from .pipeline import StageTimer


def _decoded(video: str, maxsize: int = 8):
    """Frames from a decoding thread, in order, none dropped (a benchmark must see every frame)."""
    q: queue.Queue = queue.Queue(maxsize)

    def run() -> None:
        for f in frames(video):
            q.put(f)
        q.put(None)

    threading.Thread(target=run, name="decode", daemon=True).start()
    while (f := q.get()) is not None:
        yield f


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))] if s else float("nan")


def _run(video: str, step, name: str) -> dict:
    engine = EventEngine("bench", vote_frames=3, vote_window=5, cooldown_s=0, unknown_cooldown_s=0)
    n = faces = named = 0
    latencies: list[float] = []
    t0 = time.perf_counter()
    for f in _decoded(video):
        t_in = time.monotonic()
        recs = step(f.rgb)
        faces += len(recs)
        named += sum(r.name == name for r in recs)
        latencies += [1000 * (time.monotonic() - t_in) for _ in engine.feed(n, recs, t_in)]
        n += 1
    wall = time.perf_counter() - t0
    return {"frames": n, "faces": faces, "named": named, "fps": round(n / wall, 1), "events": len(latencies),
            "event_latency_ms_p50": round(_pct(latencies, 50), 1),
            "event_latency_ms_p95": round(_pct(latencies, 95), 1)}



def _per_face_ms(embed, chips: np.ndarray, repeat: int = 3) -> float:
    embed(chips[:1])  # warm-up
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        embed(chips)
        runs.append((time.perf_counter() - t0) / len(chips))
    return 1000 * statistics.median(runs)


def chart(stages: dict[str, dict[str, float]], out: Path) -> None:
    """Stacked bars of per-frame milliseconds by stage for each pipeline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(stages)
    keys = sorted({k for s in stages.values() for k in s}, key=lambda k: -max(s.get(k, 0) for s in stages.values()))
    fig, ax = plt.subplots(figsize=(7, 3.2))
    left = np.zeros(len(names))
    for k in keys:
        vals = np.array([stages[n].get(k, 0.0) for n in names])
        ax.barh(names, vals, left=left, label=k)
        left += vals
    for i, total in enumerate(left):
        ax.text(total, i, f" {total:.1f} ms ({1000 / total:.0f} fps)", va="center")
    ax.set_xlabel("milliseconds per frame, one core (short_hamilton_clip.mp4, 640×360)")
    ax.set_xlim(0, left.max() * 1.35)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("where the time goes")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main(args: argparse.Namespace) -> int:
    import dlib

    from .app import build_pipeline, build_tracker
    from .config import RecognitionConfig
    from .images import load_image
    from .reference import DlibResNet, FloatFaceNet
    from .track import FrameIds

    cv2.setNumThreads(1)
    pipeline = build_pipeline(still=False, threads=1)
    name = None
    gallery: dict[str, np.ndarray] = {}
    ref_gallery: dict[str, np.ndarray] = {}
    if args.enroll:
        name, image = args.enroll
        photo = load_image(image)
        gallery[name] = pipeline.faces(photo, largest_only=True, still=True)[0].embedding[None]
    pipeline.matcher.set_gallery(gallery)

    tracker = build_tracker(pipeline, RecognitionConfig(detect_every=args.detect_every))  # as the daemon's
    frd = _run(args.video, lambda rgb: [t.recognition for t in tracker.process(rgb)], name)
    frd_stages = tracker.timer
    # frd's own footprint: nothing of the reference has been loaded yet
    frd["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

    resnet = DlibResNet()
    if args.enroll:
        box = pipeline.still_detector.detect(photo)[0]
        shape = pipeline.aligner.landmarks(photo, box)
        ref_gallery[name] = np.array(resnet._net.compute_face_descriptor(photo, shape))

    # the face_recognition way: HOG every frame, a ResNet descriptor for every face
    from .models import Box, Recognition

    hog = dlib.get_frontal_face_detector()
    ref_timer = StageTimer()
    ref_ids = FrameIds()  # track ids for the event rules, by the tracker's own association rule

    def reference(rgb: np.ndarray) -> list:
        t0 = time.perf_counter()
        rects = hog(rgb, 0)
        t1 = time.perf_counter()
        ref_timer.add("detect", t1 - t0)
        out = []
        for r in rects:
            t1 = time.perf_counter()
            shape = pipeline.aligner._predictor(rgb, r)
            t2 = time.perf_counter()
            d = np.array(resnet._net.compute_face_descriptor(rgb, shape))
            t3 = time.perf_counter()
            ref_timer.add("align", t2 - t1)
            ref_timer.add("embed", t3 - t2)
            who = None
            if ref_gallery:
                dist = {n: float(np.linalg.norm(d - v)) for n, v in ref_gallery.items()}
                best = min(dist, key=dist.get)
                who = best if dist[best] <= 0.6 else None
            box = Box(r.left(), r.top(), r.width(), r.height())
            out.append(Recognition(box, who, 1 - min(dist.values()) if ref_gallery else 0.0, who, box.w))
        return ref_ids(out)

    ref = _run(args.video, reference, name)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    per_frame = {
        "frd": {k: frd_stages.seconds[k] * 1000 / frd["frames"] for k in frd_stages.seconds},
        "face_recognition": {k: ref_timer.seconds[k] * 1000 / ref["frames"] for k in ref_timer.seconds},
    }
    result = {
        "video": str(args.video), "enrolled": name, "detect_every": args.detect_every,
        "frd": frd, "reference": ref, "speedup": round(frd["fps"] / ref["fps"], 2),
        "stage_ms_per_frame": {p: {k: round(v, 2) for k, v in s.items()} for p, s in per_frame.items()},
        "frd_stage_ms_per_call": {k: round(v, 2) for k, v in frd_stages.ms_per_call().items()},
        "frd_stage_calls": dict(frd_stages.calls),
        "peak_rss_mb": round(peak_rss_mb, 1),
    }
    # the embedders alone, on the same aligned faces
    chips, rchips = [], []
    for f in frames(args.video):
        for b in pipeline.detector.detect(f.rgb):
            chips.append(pipeline.aligner.chip(f.rgb, b))
            rchips.append(DlibResNet.chip(f.rgb, pipeline.aligner.landmarks(f.rgb, b)))
        if len(chips) >= 30:
            break
    if chips:
        c, r = np.stack(chips), np.stack(rchips)
        int8 = _per_face_ms(pipeline.embedder.embed, c)
        flt = _per_face_ms(FloatFaceNet().embed, c)
        dres = _per_face_ms(resnet.embed, r)
        result["embed_ms_per_face"] = {"facenet_int8": round(int8, 2), "facenet_float": round(flt, 2),
                                       "dlib_resnet": round(dres, 2)}
        result["embed_ratio_to_int8"] = {"facenet_float": round(flt / int8, 2), "dlib_resnet": round(dres / int8, 2)}
    if args.chart:
        chart(per_frame, args.chart)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{args.video}: {frd['frames']} frames, one core for inference, decoding on its own thread")
    for label, r in (("frd", frd), ("face_recognition-style", ref)):
        print(f"  {label:24s} {r['fps']:7.1f} fps  {r['faces']:4d} faces  {r['named']:4d} named {name or '-'}  "
              f"event latency p50 {r['event_latency_ms_p50']} ms p95 {r['event_latency_ms_p95']} ms")
    print(f"  speed-up {result['speedup']}x; peak RSS of frd {frd['peak_rss_mb']} MB "
          f"(of the process after both pipelines: {result['peak_rss_mb']} MB)")
    for p, s in result["stage_ms_per_frame"].items():
        print(f"  {p:24s} ms per frame: " + ", ".join(f"{k} {v}" for k, v in s.items()))
    if "embed_ms_per_face" in result:
        e, r = result["embed_ms_per_face"], result["embed_ratio_to_int8"]
        print(f"embedding per face: int8 {e['facenet_int8']} ms; float {e['facenet_float']} ms "
              f"({r['facenet_float']}x); dlib ResNet {e['dlib_resnet']} ms ({r['dlib_resnet']}x)")
    return 0
