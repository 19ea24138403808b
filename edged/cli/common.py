"""What the ``frd`` commands share: the config and gallery they work on, the photo pipeline, images, JSON out.

The parts that load a model or OpenCV are imported where a command needs them, so ``frd --help``,
``frd check-config`` and ``frd sign`` stay quick and load neither.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import DEFAULT_CONFIG_PATH, Config, default_config_path, load_config
from ..core.errors import InputError

if TYPE_CHECKING:
    import numpy as np

    from ..vision.pipeline import Pipeline


def gallery_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gallery", type=Path, default=None,
                   help="gallery folder (default: the config's gallery.path, else <state dir>/gallery, as frd run)")
    config_arg(p)


def config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", type=Path, default=None,
                   help="config file (default: $FRD_CONFIG, else /etc/frd/frd.yaml)")


def installation(args: argparse.Namespace) -> tuple[Config, Path | None]:
    """The config every command shares, and its file: ``-c``, else ``$FRD_CONFIG``, else /etc/frd/frd.yaml.

    A file named by ``-c`` or ``$FRD_CONFIG`` must be readable; with none of the three, the defaults (what
    ``frd run`` uses for keys a config leaves out, the gallery included: :func:`edged.core.paths.default_gallery`).
    """
    if getattr(args, "_installation", None) is None:
        path = getattr(args, "config", None) or (Path(os.environ["FRD_CONFIG"]) if os.environ.get("FRD_CONFIG")
                                                 else None)
        if path is None and DEFAULT_CONFIG_PATH.exists():
            path = DEFAULT_CONFIG_PATH
        args._installation = (load_config(path), path) if path is not None else (Config(), None)
    return args._installation


def config_path(args: argparse.Namespace) -> Path:
    """``-c``, else ``$FRD_CONFIG``, else /etc/frd/frd.yaml (``frd run``, ``frd check-config``: it must exist)."""
    return args.config or default_config_path()


def gallery_path(args: argparse.Namespace) -> Path:
    """``--gallery``, else the config's gallery.path (whose default, with or without a config file, is the one
    ``frd run`` reads: <state dir>/gallery)."""
    if args.gallery is not None:
        return args.gallery
    return installation(args)[0].gallery.path


def daemon_gallery_warning(args: argparse.Namespace, used: Path) -> str | None:
    """Why a daemon may not see a change made in the gallery ``used`` (None: the config read names it).

    The daemon reads its config's gallery.path: a change made with ``--gallery`` elsewhere is one it never
    sees; with no config file at all, the gallery is the default one, which ``frd run -c FILE`` reads only when
    FILE sets no gallery.path (and runs with the same state directory)."""
    cfg, path = installation(args)
    if path is None:
        if args.gallery is not None:
            return None  # chosen by hand, with no daemon's config to compare with: the user's call
        return (f"no config file ({DEFAULT_CONFIG_PATH}, $FRD_CONFIG or -c FILE): this is the default gallery "
                f"{used}, which `frd run -c FILE` reads only if FILE sets no gallery.path; to change the gallery "
                "a daemon reads, give its config: -c FILE")
    if _same_folder(used, cfg.gallery.path):
        return None
    return (f"{path} (the config `frd run` reads) names the gallery {cfg.gallery.path}, not {used}: a daemon "
            f"with that config will not see this; drop --gallery, or set gallery.path: {used} in {path}")


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a == b


def warn_if_no_daemon_reads(args: argparse.Namespace, used: Path) -> None:
    """``frd: warning: …`` on stderr when :func:`daemon_gallery_warning` has one."""
    why = daemon_gallery_warning(args, used)
    if why is not None:
        print(f"frd: warning: {why}", file=sys.stderr, flush=True)


def still_pipeline(args: argparse.Namespace) -> Pipeline:
    """The photo pipeline with the config's face size limits, strictness and threads (``--threads`` overrides):
    enrollment judges who a face already is as ``frd run`` would (pre-cropped faces, ``--aligned``, with the
    calibration of crops)."""
    from ..daemon.app import build_pipeline

    rc = installation(args)[0].recognition
    return build_pipeline(still=True, threshold=rc.threshold, strictness=rc.strictness,
                          threads=args.threads or rc.threads, min_face_px=rc.min_face_px,
                          min_face_frac=rc.min_face_frac, detector=rc.detector,
                          crops=bool(getattr(args, "aligned", False)))


def print_json(obj: object) -> None:
    print(json.dumps(obj, separators=(", ", ": ")), flush=True)


def load_images(paths: list) -> Iterator[tuple[str, np.ndarray | InputError]]:
    """(label, rgb or the InputError saying why it could not be read) per image path, each decoded only when
    the one before it is done with (one decoded image in memory at a time)."""
    from ..vision.images import load_image

    for p in paths:
        try:
            rgb: np.ndarray | InputError = load_image(p)
        except InputError as e:
            rgb = e
        yield str(p), rgb
        del rgb
