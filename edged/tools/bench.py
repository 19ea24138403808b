"""``frd bench``: frd's video pipeline against the face_recognition-style pipeline, one process, one core.

Both pipelines read the same clip from a decoding thread (as the daemon's
camera reader does) and run their inference on the calling thread:

- **frd**: :class:`~edged.video.track.FaceTracker` — HOG on grey every ``detect_every``
  frames, faces followed by landmark refit in between, int8 FaceNet only until
  a face's identity settles;
- **reference**: what face_recognition does — HOG on every frame (upsample 0)
  and a dlib ResNet descriptor for every face, matched at its 0.6 tolerance.

Printed: frames per second of each and their ratio, faces named as the
enrolled person (recall), per-stage time, frame-to-event latency (from the
moment a frame is handed to the pipeline to the event the vote produces) and
peak RSS; then the per-face cost of the int8, float and dlib embedders.

``--variants`` runs both pipelines on inputs made from the clip in memory (no
file is written): scaled to 1280×720 or 1920×1080 (a door camera), ``far`` (the
clip shrunk to 35 % inside a black 1920×1080 frame: its faces become 20–40 px)
and ``idle`` (its first frame repeated at 1920×1080: nothing moves; its two
faces, 87 and 150 px there, are 29 and 50 px of the frame reduced to 640 px:
too small for HOG). Each prints fps, faces found and named, and CPU
milliseconds per frame: of the inference thread (``time.thread_time``: the
pipeline's own cost) and of the whole process (``time.process_time``: with
decoding and scaling on the decoding thread). frd's motion gate sees the frames
at the clip's own rate. ``--detector yunet`` gives frd YuNet instead of HOG (the
reference keeps HOG, as face_recognition does).
"""

from __future__ import annotations

import argparse
import json
import queue
import resource
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from ..video.events import EventEngine
from ..vision.camera import frames
from ..vision.pipeline import StageTimer

#: The inputs ``--variants`` makes from the clip: (width, height) to scale to, or the special ones.
VARIANTS = ("640x360", "1280x720", "1920x1080", "far", "idle")
#: A "far" camera: the clip shrunk to this fraction inside a black 1920×1080 frame (its faces: 20–40 px).
FAR_SCALE = 0.35
CANVAS = (1920, 1080)


def variant_frames(video: str, variant: str | None, limit: int | None = None) -> Iterator[np.ndarray]:
    """The clip's RGB frames as one of :data:`VARIANTS` sees them (None: as they are)."""
    if variant == "idle":
        first = next(f for f in frames(video) if not isinstance(f, Exception)).rgb
        still = cv2.resize(first, CANVAS, interpolation=cv2.INTER_LINEAR)
        cap = cv2.VideoCapture(str(video))
        count = limit or int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 1
        cap.release()
        for _ in range(count):
            yield still
        return
    for i, f in enumerate(frames(video)):
        if limit is not None and i >= limit:
            return
        rgb = f.rgb
        if variant == "far":
            h, w = rgb.shape[:2]
            small = cv2.resize(rgb, (round(w * FAR_SCALE), round(h * FAR_SCALE)), interpolation=cv2.INTER_AREA)
            canvas = np.zeros((CANVAS[1], CANVAS[0], 3), np.uint8)
            y, x = (CANVAS[1] - small.shape[0]) // 2, (CANVAS[0] - small.shape[1]) // 2
            canvas[y : y + small.shape[0], x : x + small.shape[1]] = small
            rgb = canvas
        elif variant is not None:
            size = tuple(int(v) for v in variant.split("x"))
            if size != (rgb.shape[1], rgb.shape[0]):
                rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)
        yield rgb


def empty_doorway(frame: np.ndarray) -> np.ndarray:
    """``frame`` with its people painted out (head and body of every face YuNet finds, however small or
    turned): the stage with nobody on it, for the idle inputs of the tests and benchmarks."""
    from ..vision.detect.yunet import YuNetDetector

    frame = frame.copy()
    finder = YuNetDetector(min_face_px=1, min_face_frac=0.0, max_side=frame.shape[1])
    for b in finder.detect(frame):
        x0, y0 = max(b.x - b.w // 2, 0), max(b.y - b.h // 2, 0)
        frame[y0 : b.y + b.h * 3, x0 : b.x + b.w + b.w // 2] = frame.reshape(-1, 3).mean(axis=0)
    if finder.detect(frame):
        raise ValueError("faces are left after painting the people out")
    return frame


def _decoded(video: str, variant: str | None = None, limit: int | None = None, maxsize: int = 8,
             bgr: bool = False):
    """Frames from a decoding thread, in order, none dropped (a benchmark must see every frame); ``bgr``:
    in a camera's colour order, as frd's readers hand them out (the conversion is part of the decoding)."""
    q: queue.Queue = queue.Queue(maxsize)

    def run() -> None:
        for f in variant_frames(video, variant, limit):
            q.put(cv2.cvtColor(f, cv2.COLOR_RGB2BGR) if bgr else f)
        q.put(None)

    threading.Thread(target=run, name="decode", daemon=True).start()
    while (f := q.get()) is not None:
        yield f


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))] if s else float("nan")


def _run(video: str, step, name: str | None, variant: str | None = None, limit: int | None = None,
         bgr: bool = False) -> dict:
    """One pipeline over the input; ``step(frame, index)`` gives the frame's recognitions (``bgr``: the
    frames in a camera's colour order)."""
    engine = EventEngine("bench", vote_frames=3, vote_window=5, cooldown_s=0, unknown_cooldown_s=0)
    n = faces = named = 0
    latencies: list[float] = []
    t0, cpu0, proc0 = time.perf_counter(), time.thread_time(), time.process_time()
    for frame in _decoded(video, variant, limit, bgr=bgr):
        t_in = time.monotonic()
        recs = step(frame, n)
        faces += len(recs)
        named += sum(r.name == name for r in recs)
        latencies += [1000 * (time.monotonic() - t_in) for _ in engine.feed(n, recs, t_in)]
        n += 1
    wall = time.perf_counter() - t0
    cpu, proc = time.thread_time() - cpu0, time.process_time() - proc0
    return {"frames": n, "faces": faces, "named": named, "fps": round(n / wall, 1), "events": len(latencies),
            "cpu_ms_per_frame": round(1000 * cpu / max(n, 1), 2),
            "process_cpu_ms_per_frame": round(1000 * proc / max(n, 1), 2),
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


def _reference(pipeline, resnet, ref_gallery: dict[str, np.ndarray]) -> tuple[Callable, StageTimer]:
    """The face_recognition way: HOG on every full frame, a ResNet descriptor for every face, 0.6 tolerance."""
    import dlib

    from ..core.models import Box, Recognition
    from ..video.track import FrameIds

    hog = dlib.get_frontal_face_detector()
    timer = StageTimer()
    ids = FrameIds()  # track ids for the event rules, by the tracker's own association rule

    def step(rgb: np.ndarray, index: int) -> list:
        t0 = time.perf_counter()
        rects = hog(rgb, 0)
        t1 = time.perf_counter()
        timer.add("detect", t1 - t0)
        out = []
        for r in rects:
            t1 = time.perf_counter()
            shape = pipeline.aligner._predictor(rgb, r)
            t2 = time.perf_counter()
            d = np.array(resnet._net.compute_face_descriptor(rgb, shape))
            t3 = time.perf_counter()
            timer.add("align", t2 - t1)
            timer.add("embed", t3 - t2)
            who, score = None, 0.0
            if ref_gallery:
                dist = {n: float(np.linalg.norm(d - v)) for n, v in ref_gallery.items()}
                best = min(dist, key=dist.get)
                who, score = (best if dist[best] <= 0.6 else None), 1 - dist[best]
            box = Box(r.left(), r.top(), r.width(), r.height())
            out.append(Recognition(box, who, score, who, box.w))
        return ids(out)

    return step, timer


def _frd_step(tracker, fps: float) -> Callable:
    """frd's step: the tracker on a camera's BGR frame (what the daemon's readers give it), its motion gate
    on the clip's own clock (a bench runs faster than the camera)."""
    return lambda bgr, index: [t.recognition for t in tracker.process(bgr, now=index / fps, bgr=True)]


def main(args: argparse.Namespace) -> int:
    from ..config import DEFAULT_DETECTOR, RecognitionConfig
    from ..daemon.app import build_pipeline
    from ..vision.images import load_image

    cv2.setNumThreads(1)
    variants = _parse_variants(args.variants) if getattr(args, "variants", None) else None
    limit = getattr(args, "frames", None)
    detector = getattr(args, "detector", None) or DEFAULT_DETECTOR
    pipeline = build_pipeline(still=False, threads=1, detect_max_side=getattr(args, "detect_max_side", None),
                              detector=detector)
    name, photo = None, None
    gallery: dict[str, np.ndarray] = {}
    if args.enroll:
        name, image = args.enroll
        photo = load_image(image)
        gallery[name] = pipeline.faces(photo, subject_only=True, still=True)[0].embedding[None]
    pipeline.matcher.set_gallery(gallery)
    fps = cv2.VideoCapture(str(args.video)).get(cv2.CAP_PROP_FPS) or 30.0
    bench = _Bench(args, pipeline, RecognitionConfig(detect_every=args.detect_every), fps, name, photo, detector,
                   limit)
    return bench.variants(variants) if variants else bench.clip()


class _Bench:
    """One ``frd bench``: frd's path (the daemon's tracker) against the face_recognition-style reference."""

    def __init__(self, args: argparse.Namespace, pipeline, rc, fps: float, name: str | None,
                 photo: np.ndarray | None, detector: str, limit: int | None) -> None:
        self.args, self.pipeline, self.rc, self.fps = args, pipeline, rc, fps
        self.name, self.photo, self.detector, self.limit = name, photo, detector, limit

    def tracker(self):
        from ..daemon.app import build_tracker

        return build_tracker(self.pipeline, self.rc)  # as the daemon's

    def resnet(self) -> tuple[object, dict[str, np.ndarray]]:
        """dlib's ResNet, and the reference's gallery."""
        from .reference import DlibResNet

        resnet = DlibResNet()
        ref_gallery: dict[str, np.ndarray] = {}
        if self.args.enroll:
            ref_gallery[self.name] = _ref_descriptor(self.pipeline, resnet, self.photo)
        return resnet, ref_gallery

    def variants(self, variants: list[str]) -> int:
        args, name, limit = self.args, self.name, self.limit
        runs = {}
        for v in variants:  # frd first: its peak RSS before anything of the reference is loaded
            tracker = self.tracker()
            calls = tracker.detector.calls  # the detector is shared with the pipeline
            runs[v] = {"frd": _run(args.video, _frd_step(tracker, self.fps), name, v, limit, bgr=True)}
            runs[v]["frd"]["detections"] = tracker.detector.calls - calls
        frd_rss = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        resnet, ref_gallery = self.resnet()
        for v in variants:
            step, _ = _reference(self.pipeline, resnet, ref_gallery)
            r = runs[v]["reference"] = _run(args.video, step, name, v, limit)
            f = runs[v]["frd"]
            runs[v]["speedup"] = round(f["fps"] / r["fps"], 2) if r["fps"] else None
            runs[v]["cpu_ratio"] = round(r["cpu_ms_per_frame"] / f["cpu_ms_per_frame"], 2) \
                if f["cpu_ms_per_frame"] else None
        result = {"video": str(args.video), "enrolled": name, "detector": self.detector,
                  "detect_every": args.detect_every, "variants": runs,
                  "frd_peak_rss_mb": frd_rss,
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
        if args.json:
            print(json.dumps(result))
        else:
            _print_variants(result, name)
        return 0

    def clip(self) -> int:
        args, name, limit = self.args, self.name, self.limit
        tracker = self.tracker()
        frd = _run(args.video, _frd_step(tracker, self.fps), name, limit=limit, bgr=True)
        frd_stages = tracker.timer
        # frd's own footprint: nothing of the reference has been loaded yet
        frd["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

        resnet, ref_gallery = self.resnet()
        reference, ref_timer = _reference(self.pipeline, resnet, ref_gallery)
        ref = _run(args.video, reference, name, limit=limit)
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        per_frame = {
            "frd": {k: frd_stages.seconds[k] * 1000 / frd["frames"] for k in frd_stages.seconds},
            "face_recognition": {k: ref_timer.seconds[k] * 1000 / ref["frames"] for k in ref_timer.seconds},
        }
        result = {
            "video": str(args.video), "enrolled": name, "detector": self.detector,
            "detect_every": args.detect_every,
            "frd": frd, "reference": ref, "speedup": round(frd["fps"] / ref["fps"], 2),
            "stage_ms_per_frame": {p: {k: round(v, 2) for k, v in s.items()} for p, s in per_frame.items()},
            "frd_stage_ms_per_call": {k: round(v, 2) for k, v in frd_stages.ms_per_call().items()},
            "frd_stage_calls": dict(frd_stages.calls),
            "peak_rss_mb": round(peak_rss_mb, 1),
        }
        result.update(_embedder_costs(args.video, self.pipeline, resnet))
        if args.chart:
            chart(per_frame, args.chart)
        if args.json:
            print(json.dumps(result))
            return 0
        _print_clip(result, args.video, name)
        return 0


def _embedder_costs(video: str, pipeline, resnet) -> dict:
    """The embedders alone, on the same aligned faces (the clip's first 30 or so)."""
    from .reference import DlibResNet, FloatFaceNet

    chips, rchips = [], []
    for f in frames(video):
        for b in pipeline.detector.detect(f.rgb):
            chips.append(pipeline.aligner.chip(f.rgb, b))
            rchips.append(DlibResNet.chip(f.rgb, pipeline.aligner.landmarks(f.rgb, b)))
        if len(chips) >= 30:
            break
    if not chips:
        return {}
    c, r = np.stack(chips), np.stack(rchips)
    int8 = _per_face_ms(pipeline.embedder.embed, c)
    flt = _per_face_ms(FloatFaceNet().embed, c)
    dres = _per_face_ms(resnet.embed, r)
    return {"embed_ms_per_face": {"facenet_int8": round(int8, 2), "facenet_float": round(flt, 2),
                                  "dlib_resnet": round(dres, 2)},
            "embed_ratio_to_int8": {"facenet_float": round(flt / int8, 2), "dlib_resnet": round(dres / int8, 2)}}


def _print_clip(result: dict, video: str, name: str | None) -> None:
    frd, ref = result["frd"], result["reference"]
    print(f"{video}: {frd['frames']} frames, one core for inference, decoding on its own thread")
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


def _ref_descriptor(pipeline, resnet, photo: np.ndarray) -> np.ndarray:
    box = pipeline.still_detector.detect(photo)[0]
    shape = pipeline.aligner.landmarks(photo, box)
    return np.array(resnet._net.compute_face_descriptor(photo, shape))


def _parse_variants(spec: str) -> list[str]:
    from ..core.errors import InputError

    out = list(VARIANTS) if spec.strip() == "all" else [v.strip() for v in spec.split(",") if v.strip()]
    bad = [v for v in out if v not in VARIANTS]
    if bad or not out:
        raise InputError(f"--variants: unknown {', '.join(bad) or 'empty list'} (use {', '.join(VARIANTS)} or all)")
    return out


def _print_variants(result: dict, name: str | None) -> None:
    print(f"{result['video']}: both pipelines in one process, inference on one core, decoding and scaling on "
          f"their own thread; CPU = the inference thread's (process, with decoding, in brackets)")
    print(f"{'input':10s} | {'frd fps':>8s} | {'ref fps':>8s} | {'ratio':>6s} | {'frd faces/named':>15s} | "
          f"{'ref faces/named':>15s} | {'frd CPU ms/frame':>17s} | {'ref CPU ms/frame':>17s} | {'CPU ratio':>9s} | "
          f"frd detections")
    for v, r in result["variants"].items():
        f, ref = r["frd"], r["reference"]
        print(f"{v:10s} | {f['fps']:8.1f} | {ref['fps']:8.1f} | {r['speedup'] or 0:5.1f}x | "
              f"{f['faces']:6d} / {f['named']:6d} | {ref['faces']:6d} / {ref['named']:6d} | "
              f"{f['cpu_ms_per_frame']:6.2f} ({f['process_cpu_ms_per_frame']:6.2f}) | "
              f"{ref['cpu_ms_per_frame']:6.2f} ({ref['process_cpu_ms_per_frame']:6.2f}) | "
              f"{r['cpu_ratio'] or 0:8.1f}x | {f['detections']}/{f['frames']}")
    print(f"named = faces named {name or '-'}; peak RSS of frd {result['frd_peak_rss_mb']} MB "
          f"(process after both: {result['peak_rss_mb']} MB)")
