"""``frd enroll`` and ``frd gallery``: who is enrolled, from the command line (the people service, as MQTT uses it).

``frd gallery ACTION ARGS...`` runs one row of :data:`ACTIONS`. Reading the gallery (list, show, export) loads
no model; changing it goes through the people service with the photo pipeline.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.models import SHORT_ID
from ..core.names import name_from_legacy_file, validate_name
from ..store.backup import export_backup, read_backup, read_backup_ignored
from ..store.gallery import Gallery
from ..store.ignore import IGNORE_FILE, IgnoreList, decode
from .common import gallery_arg, gallery_path, installation, load_images, print_json, still_pipeline

IGNORE_USAGE = "frd gallery ignore list | remove IGNORE_ID | add IMAGE..."


def add_enroll(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("enroll", help="enroll the face each image is of (its largest, unless one is much "
                                      "nearer the middle) as NAME")
    p.add_argument("name")
    p.add_argument("images", nargs="+")
    gallery_arg(p)
    p.add_argument("--aligned", action="store_true", help="images already are face crops: skip detection")
    p.add_argument("--no-crops", action="store_true", help="keep embeddings only (no re-embedding on model change)")
    p.add_argument("--threads", type=int, default=None, help="default: the config's recognition.threads, 1")
    p.set_defaults(func=cmd_enroll)


def add_gallery(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gallery", help="list, show, remove, rename, import people; remove one sample; export or "
                                       "import a backup; the ignore list")
    p.add_argument("action", choices=list(ACTIONS))
    p.add_argument("args", nargs="*")
    gallery_arg(p)
    p.add_argument("--aligned", action="store_true", help="import: images already are face crops")
    p.add_argument("--threads", type=int, default=None, help="default: the config's recognition.threads, 1")
    p.set_defaults(func=cmd_gallery)


def cmd_enroll(args: argparse.Namespace) -> int:
    from ..daemon.app import open_people

    validate_name(args.name)  # refuse a bad name before loading any model
    cfg, _ = installation(args)
    people = open_people(gallery_path(args), still_pipeline(args), keep_crops=cfg.gallery.keep_crops and
                         not args.no_crops)
    result = people.enroll(args.name, load_images(args.images), aligned=args.aligned)
    print_json(result.as_dict())
    return 0 if result.added else 1


@dataclass(frozen=True)
class Action:
    """One ``frd gallery`` action: how many arguments it takes (None: it checks them itself) and what it does."""

    args: int | None
    run: Callable[[argparse.Namespace], int]


def cmd_gallery(args: argparse.Namespace) -> int:
    action = ACTIONS[args.action]
    if action.args is not None and len(args.args) != action.args:
        print(f"frd: gallery {args.action} takes {action.args} argument(s)", file=sys.stderr)
        return 2
    return action.run(args)


# -- reading: no model -------------------------------------------------------------------


def _reader(args: argparse.Namespace) -> tuple[Gallery, str]:
    """The gallery as it is (a missing folder stays missing: listing creates nothing), and today's space."""
    from ..daemon.app import shipped_space

    sha = shipped_space()
    return Gallery(gallery_path(args), sha, create=False), sha


def _list(args: argparse.Namespace) -> int:
    g, sha = _reader(args)
    print_json({"gallery": str(g.root), "people": [p.summary(sha) for _, p in sorted(g.people.items())]})
    return 0


def _show(args: argparse.Namespace) -> int:
    """One person with their samples' ids (for remove-sample)."""
    g, sha = _reader(args)
    name = args.args[0]
    if name not in g.people:
        raise InputError(f"no person named {name!r} in {g.root}")
    person = g.people[name]
    print_json({"gallery": str(g.root), **person.summary(sha), "samples": person.samples()})
    return 0


def _export(args: argparse.Namespace) -> int:
    g, _ = _reader(args)
    if not g.people:
        raise InputError(f"the gallery {g.root} is empty: nothing to export")
    ignore_file = g.root / IGNORE_FILE
    ignored = ignore_file.read_bytes() if ignore_file.is_file() else None
    print_json(export_backup(g, Path(args.args[0]), ignored))
    return 0


# -- changing: the people service -----------------------------------------------------------


def _people(args: argparse.Namespace, keep_crops: bool | None = None):
    """The people service over the gallery, with the photo pipeline (``keep_crops`` None: the config's)."""
    from ..daemon.app import open_people

    if keep_crops is None:
        keep_crops = installation(args)[0].gallery.keep_crops
    return open_people(gallery_path(args), still_pipeline(args), keep_crops=keep_crops)


def _remove(args: argparse.Namespace) -> int:
    _people(args).delete(args.args[0])
    print_json({"removed": args.args[0]})
    return 0


def _remove_sample(args: argparse.Namespace) -> int:
    print_json(_people(args).remove_samples(args.args[0], [args.args[1]]))
    return 0


def _rename(args: argparse.Namespace) -> int:
    _people(args).rename(args.args[0], args.args[1])
    print_json({"renamed": args.args[0], "to": args.args[1]})
    return 0


def _import(args: argparse.Namespace) -> int:
    """A backup (``frd gallery export``'s file), or a folder of ``<name>_<nr>.jpg`` photos (the 2018 design's)."""
    if Path(args.args[0]).is_file():
        return _import_backup(args)
    people = _people(args)
    folder = Path(args.args[0])
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    from ..vision.camera import folder_images

    by_name: dict[str, list[Path]] = {}
    skipped = []
    for p in folder_images(folder):
        try:
            by_name.setdefault(name_from_legacy_file(p.stem), []).append(p)
        except InputError as e:
            skipped.append({"image": str(p), "reason": str(e)})
    results = []
    for name, paths in sorted(by_name.items()):
        results.append(people.enroll(name, load_images(paths), aligned=args.aligned).as_dict())
    print_json({"imported": results, "skipped": skipped})
    return 0 if any(r["added"] for r in results) else 1


def _import_backup(args: argparse.Namespace) -> int:
    backup = read_backup(Path(args.args[0]))  # refused before the model is loaded
    ignored = read_backup_ignored(Path(args.args[0]))
    try:
        ignored_entries = decode(ignored[1]) if ignored else {}
    except Exception as e:
        raise InputError(f"{args.args[0]}: the backup's ignore list is damaged ({e})") from None
    people = _people(args, keep_crops=True)
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
    print_json(result)
    return 0


# -- the ignore list -------------------------------------------------------------------------


def _ignore(args: argparse.Namespace) -> int:
    """``frd gallery ignore``: the daemon's ignore list (edged/store/ignore.py) from the command line; a running
    daemon follows the file within a gallery poll."""
    from ..daemon.app import shipped_space

    what, rest = (args.args[0], args.args[1:]) if args.args else (None, [])
    root = gallery_path(args)
    if what == "list" and not rest:
        print_json({"gallery": str(root), **IgnoreList(root / IGNORE_FILE, shipped_space()).listing()})
        return 0
    if what == "remove" and len(rest) == 1:
        if not SHORT_ID.fullmatch(rest[0]):
            raise InputError(f"{rest[0][:40]!r} is not an ignore id (12 hex digits; see frd gallery ignore list)")
        if not root.is_dir():
            raise InputError(f"no gallery at {root}")
        IgnoreList(root / IGNORE_FILE, shipped_space()).remove(rest[0])
        print_json({"removed": rest[0]})
        return 0
    if what == "add" and rest:
        return _ignore_add(args, root, rest)
    raise InputError(f"usage: {IGNORE_USAGE}")


def _ignore_add(args: argparse.Namespace, root: Path, images: list[str]) -> int:
    from ..daemon.app import open_people

    people = open_people(root, still_pipeline(args), keep_crops=False)
    embeddings, rejected = [], []
    for label, img in load_images([Path(r) for r in images]):
        if isinstance(img, InputError):
            rejected.append({"image": label, "reason": str(img)})
            continue
        face, _, why = people.pipeline.subject_face(img, aligned=args.aligned)
        if face is None:
            rejected.append({"image": label, "reason": why or "no face found"})
        else:
            embeddings.append(face.embedding)
    if not embeddings:
        print_json({"ignore_id": None, "rejected": rejected})
        return 1
    ignore_id = IgnoreList(root / IGNORE_FILE, people.gallery.model_sha256).add("cli", np.stack(embeddings))
    print_json({"ignore_id": ignore_id, "samples": len(embeddings), "rejected": rejected})
    return 0


#: ``frd gallery ACTION``, in the order ``frd gallery --help`` lists them.
ACTIONS: dict[str, Action] = {
    "list": Action(None, _list),
    "show": Action(1, _show),
    "remove": Action(1, _remove),
    "remove-sample": Action(2, _remove_sample),
    "rename": Action(2, _rename),
    "import": Action(1, _import),
    "export": Action(1, _export),
    "ignore": Action(None, _ignore),
}
