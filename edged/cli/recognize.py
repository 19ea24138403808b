"""``frd recognize`` (images, folders, videos, cameras, streams: the daemon's path for video) and ``frd embed``."""

from __future__ import annotations

import argparse
import sys

from ..config import DEFAULT_STRICTNESS, STRICTNESS_LEVELS, RecognitionConfig, default
from ..core.errors import InputError
from ..core.sources import is_still
from .common import gallery_arg, gallery_path, installation, load_images, print_json


def add_recognize(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("recognize", parents=[common],
                       help="name the faces in images, folders, videos, cameras or streams")
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="an image, a folder of images, a video file, a camera (0, /dev/video0, picamera2:0) or a "
                        "stream URL")
    gallery_arg(p)
    p.add_argument("--json", action="store_true", help="one JSON line per face")
    p.add_argument("--aligned", action="store_true", help="each image already is a face crop")
    p.add_argument("--strictness", choices=list(STRICTNESS_LEVELS), default=None,
                   help="how sure frd must be to name someone (README: Strangers stay strangers; "
                        f"default: the config's recognition.strictness, {DEFAULT_STRICTNESS})")
    p.add_argument("--threshold", type=float, default=None,
                   help="fixed threshold on the normalised score (README); overrides --strictness")
    p.add_argument("--upsample", type=int, default=None, help="HOG upsampling (default 1 for photos, 0 for video)")
    p.add_argument("--threads", type=int, default=None, help="default: the config's recognition.threads, 1")
    p.add_argument("--every-frame", action="store_true",
                   help="video: detect and embed every frame (exact per-frame output, slower) instead of the "
                        "daemon's tracker")
    p.set_defaults(func=cmd_recognize)


def add_embed(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("embed", parents=[common], help="print the embedding of the face each image is of")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="photos (or face crops with --aligned)")
    p.add_argument("--aligned", action="store_true", help="images already are face crops: skip detection")
    p.add_argument("--json", action="store_true", help='one JSON line per image: {"source", "box", "embedding"}')
    p.add_argument("--threads", type=int, default=default(RecognitionConfig, "threads"),
                   help="threads for the embedder and OpenCV (default: 1, recognition.threads' default)")
    p.add_argument("--reference-kernels", action="store_true",
                   help="TFLite's portable reference kernels: the same arithmetic on every CPU (to compare machines "
                        "and stacks), about ten times slower")
    p.set_defaults(func=cmd_embed)


def cmd_recognize(args: argparse.Namespace) -> int:
    from ..daemon.app import build_engine, build_pipeline, build_tracker, open_gallery
    from ..vision.camera import frames

    rc = installation(args)[0].recognition
    threshold, strictness = args.threshold, args.strictness
    if threshold is None and strictness is None:  # neither flag: the config's (frd run's) setting
        threshold, strictness = rc.threshold, rc.strictness
    pipelines = {}  # crops (--aligned) are named with the calibration of crops
    gallery = None
    unreadable = 0
    for spec in args.sources:
        still = is_still(spec)
        if still not in pipelines:
            upsample = args.upsample if args.upsample is not None else (None if still else rc.upsample)
            pipelines[still] = build_pipeline(
                still=still, threshold=threshold, strictness=strictness or rc.strictness, upsample=upsample,
                threads=args.threads or rc.threads, min_face_px=rc.min_face_px, min_face_frac=rc.min_face_frac,
                detect_max_side=rc.detect_max_side, detector=rc.detector, crops=args.aligned,
            )
            gallery = open_gallery(gallery_path(args), pipelines[still], create=False)
        pipeline = pipelines[still]
        # video, cameras and streams: the daemon's path (its tracker and event rules, one per source)
        video = not (still or args.every_frame or args.aligned)
        tracker = build_tracker(pipeline, rc) if video else None
        engine = build_engine(str(spec), rc) if video else None
        try:
            for frame in frames(spec):
                if isinstance(frame, InputError):
                    print(f"frd: {frame}", file=sys.stderr)
                    unreadable += 1
                elif tracker is None:
                    _print_recognitions(args, frame, pipeline.recognize(frame.rgb, aligned=args.aligned))
                else:
                    recs = [t.recognition for t in tracker.process(frame.rgb)]
                    events = {e.track: e.event_type for e in engine.feed(frame.index, recs)}
                    _print_recognitions(args, frame, [r for r in recs if not r.pending], events)
        except InputError as e:  # a video, camera or stream that cannot be opened
            print(f"frd: {e}", file=sys.stderr)
            unreadable += 1
    if gallery is not None and not gallery.people:
        print(f"frd: the gallery {gallery.root} is empty: every face is unknown (enroll someone first)",
              file=sys.stderr)
    elif gallery is not None and args.gallery is None and installation(args)[1] is None:
        n = len(gallery.people)  # no config said which: say which gallery named them
        print(f"frd: named from the default gallery {gallery.root} ({n} {'person' if n == 1 else 'people'}; "
              "no config file: -c FILE for a daemon's)", file=sys.stderr)
    return 1 if unreadable else 0


def _print_recognitions(args: argparse.Namespace, frame, recognitions: list, events: dict | None = None) -> None:
    """Print one line per face (JSON or tab-separated).

    ``events`` (the tracker path): the event the rules announced for a track in this frame; JSON lines
    then also carry the face's ``track`` id and, when announced, its ``event``. A face frd cannot make
    reliable (too small, too blurred, turned away) is printed unnamed with the reason: a sixth column, or
    ``quality`` in JSON.
    """
    for r in recognitions:
        score = round(r.score, 4)
        if args.json:
            line = {"source": frame.source, "frame": frame.index, "name": r.name, "score": score,
                    "box": r.box.as_list()}
            if events is not None:
                line["track"] = r.track
                if r.track in events:
                    line["event"] = events[r.track]
            if r.quality is not None:
                line["quality"] = r.quality
            print_json(line)
        else:
            why = "" if r.quality is None else f"\t{r.quality}"
            print(f"{frame.source}\t{frame.index}\t{r.name or '-'}\t{score:.3f}\t{r.box.as_list()}{why}")


def cmd_embed(args: argparse.Namespace) -> int:
    """The embedding of the subject of each image (its largest face, unless one is much nearer the middle), as
    frd computes it (for analyses with other tools)."""
    from ..daemon.app import build_pipeline

    pipeline = build_pipeline(still=True, threads=args.threads, reference_kernels=args.reference_kernels)
    status = 0
    for label, img in load_images(args.images):
        if isinstance(img, InputError):
            print(f"frd: {img}", file=sys.stderr)
            status = 1
            continue
        f, _, why = pipeline.subject_face(img, aligned=args.aligned)
        if f is None:
            print(f"frd: {label}: {why or 'no face found'}", file=sys.stderr)
            status = 1
            continue
        emb = [round(float(v), 7) for v in f.embedding]
        if args.json:
            print_json({"source": label, "box": f.box.as_list(), "embedding": emb})
        else:
            print(f"{label}\t{f.box.as_list()}\t{' '.join(f'{v:.7f}' for v in emb)}")
    return status
