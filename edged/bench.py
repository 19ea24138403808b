"""``frd bench``: where the time goes, measured in one process on one core.

Runs frd's pipeline over a video (per-stage latency and frames per second),
then times the embedding of the same aligned faces with the int8 model, the
float FaceNet it was made from, and dlib's ResNet (what face_recognition
uses), and prints each as a ratio to int8 from this same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import cv2
import numpy as np

from .camera import frames


def _per_face_ms(embed, chips: np.ndarray, repeat: int = 3) -> float:
    embed(chips[:1])  # warm-up
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        embed(chips)
        runs.append((time.perf_counter() - t0) / len(chips))
    return 1000 * statistics.median(runs)


def main(args: argparse.Namespace) -> int:
    from .app import build_pipeline
    from .images import load_image
    from .reference import DlibResNet, FloatFaceNet

    cv2.setNumThreads(1)
    pipeline = build_pipeline(still=False, threads=1)
    people = {}
    if args.enroll:
        name, image = args.enroll
        face = build_pipeline(still=True).faces(load_image(image), largest_only=True)
        people[name] = np.stack([face[0].embedding])
    pipeline.matcher.set_gallery(people)

    n_frames = n_faces = named = 0
    chips, shapes = [], []
    t0 = time.perf_counter()
    for frame in frames(args.video):
        rgb = frame.rgb
        for r in pipeline.recognize(rgb):
            n_faces += 1
            named += r.name is not None
            if len(chips) < 40:
                chips.append(pipeline.aligner.chip(rgb, r.box))
                shapes.append(DlibResNet.chip(rgb, pipeline.aligner.landmarks(rgb, r.box)))
        n_frames += 1
    wall = time.perf_counter() - t0
    result = {
        "video": str(args.video),
        "frames": n_frames,
        "faces": n_faces,
        "named": named,
        "fps": round(n_frames / wall, 2),
        "stage_ms": {k: round(v, 2) for k, v in pipeline.timer.ms_per_call().items()},
        "stage_calls": dict(pipeline.timer.calls),
    }
    if chips:
        c, s = np.stack(chips), np.stack(shapes)
        int8 = _per_face_ms(pipeline.embedder.embed, c)
        flt = _per_face_ms(FloatFaceNet().embed, c)
        dres = _per_face_ms(DlibResNet().embed, s)
        result["embed_ms_per_face"] = {"facenet_int8": round(int8, 2), "facenet_float": round(flt, 2),
                                       "dlib_resnet": round(dres, 2)}
        result["embed_ratio_to_int8"] = {"facenet_float": round(flt / int8, 2), "dlib_resnet": round(dres / int8, 2)}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['video']}: {n_frames} frames, {n_faces} faces, {named} named, {result['fps']} fps (1 thread)")
    for stage, ms in result["stage_ms"].items():
        print(f"  {stage:7s} {ms:8.2f} ms per call  ({result['stage_calls'][stage]} calls)")
    if chips:
        e, r = result["embed_ms_per_face"], result["embed_ratio_to_int8"]
        print(f"embedding per face: int8 {e['facenet_int8']} ms; float {e['facenet_float']} ms "
              f"({r['facenet_float']}x); dlib ResNet {e['dlib_resnet']} ms ({r['dlib_resnet']}x)")
    return 0
