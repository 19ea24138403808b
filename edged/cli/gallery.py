"""``frd enroll`` and ``frd gallery``: who is enrolled, from the command line (the people service, as MQTT uses it).

``frd gallery ACTION ARGS...`` runs one row of :data:`ACTIONS` (each action a sub-command of its own, so that
``--help`` and a missing argument name its arguments). Reading the gallery (list, show, export) loads no
model; changing it goes through the people service with the photo pipeline. Every action says which gallery
it used (``"gallery"`` in its JSON), and a change to a gallery no configured daemon reads is warned about.
"""

from __future__ import annotations

import argparse
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
from .common import (
    gallery_arg,
    gallery_path,
    installation,
    load_images,
    print_json,
    still_pipeline,
    warn_if_no_daemon_reads,
)


def add_enroll(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("enroll", parents=[common], help="enroll the face each image is of (its largest, unless one "
                                                         "is much nearer the middle) as NAME")
    p.add_argument("name", metavar="NAME", help="who it is: lowercase letters, digits, '_' and '-' (e.g. alice)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="photos of them (JPEG, PNG, ...); 3 to 5 are best")
    gallery_arg(p)
    p.add_argument("--aligned", action="store_true", help="images already are face crops: skip detection")
    p.add_argument("--no-crops", action="store_true", help="keep embeddings only (no re-embedding on model change)")
    p.add_argument("--force", action="store_true",
                   help="enroll even a face the gallery already names as someone else (two people who look alike)")
    threads_arg(p)
    p.set_defaults(func=cmd_enroll)


def add_gallery(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("gallery", parents=[common], help="list, show, remove, rename, import people; remove one "
                                                          "sample; export or import a backup; the ignore list",
                       description="Who is enrolled. `frd gallery ACTION --help` for one action's arguments.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, action in ACTIONS.items():
        a = actions.add_parser(name, parents=[common], help=f"{action.usage}: {action.help}" if action.usage
                               else action.help, description=action.help)
        for arg, text in action.args:
            a.add_argument(arg.lower().replace("-", "_"), metavar=arg, help=text,
                           **({"nargs": "+"} if arg == "IMAGE" else {}))
        if action.sub is None:  # an action with actions of its own gives each of them these options
            gallery_arg(a)
        if action.model:
            a.add_argument("--aligned", action="store_true", help="images already are face crops")
            threads_arg(a)
        if name == "import":
            a.add_argument("--force", action="store_true",
                           help="a folder of photos: enroll even faces the gallery names as someone else")
        if action.sub:
            action.sub(a, common)
        a.set_defaults(func=action.run)


def threads_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=None, help="default: the config's recognition.threads, 1")


def cmd_enroll(args: argparse.Namespace) -> int:
    from ..daemon.app import open_people

    validate_name(args.name)  # refuse a bad name before loading any model
    cfg, _ = installation(args)
    people = open_people(gallery_path(args), still_pipeline(args), keep_crops=cfg.gallery.keep_crops and
                         not args.no_crops)
    result = people.enroll(args.name, load_images(args.images), aligned=args.aligned, force=args.force)
    print_json({**result.as_dict(), "gallery": str(people.gallery.root)})
    warn_if_no_daemon_reads(args, people.gallery.root)
    return 0 if result.added else 1


@dataclass(frozen=True)
class Action:
    """One ``frd gallery`` action: its positional arguments (name, help), what it does, and what ``--help`` says.

    ``model``: it loads the photo pipeline (``--aligned``, ``--threads``); ``sub``: it has actions of its own."""

    args: tuple[tuple[str, str], ...]
    run: Callable[[argparse.Namespace], int]
    help: str
    model: bool = False
    sub: Callable[[argparse.ArgumentParser, argparse.ArgumentParser], None] | None = None

    @property
    def usage(self) -> str:
        return " ".join(f"{a}..." if a == "IMAGE" else a for a, _ in self.args)


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
    if args.name not in g.people:
        raise InputError(f"no person named {args.name!r} in {g.root}")
    person = g.people[args.name]
    print_json({"gallery": str(g.root), **person.summary(sha), "samples": person.samples()})
    return 0


def _export(args: argparse.Namespace) -> int:
    g, _ = _reader(args)
    if not g.people:
        raise InputError(f"the gallery {g.root} is empty: nothing to export")
    ignore_file = g.root / IGNORE_FILE
    ignored = ignore_file.read_bytes() if ignore_file.is_file() else None
    print_json({**export_backup(g, Path(args.file), ignored), "gallery": str(g.root)})
    return 0


# -- changing: the people service -----------------------------------------------------------


def _people(args: argparse.Namespace, keep_crops: bool | None = None):
    """The people service over the gallery, with the photo pipeline (``keep_crops`` None: the config's)."""
    from ..daemon.app import open_people

    if keep_crops is None:
        keep_crops = installation(args)[0].gallery.keep_crops
    people = open_people(gallery_path(args), still_pipeline(args), keep_crops=keep_crops)
    warn_if_no_daemon_reads(args, people.gallery.root)
    return people


def _changed(people, out: dict) -> int:
    """Print what a change did, with the gallery it was made in."""
    print_json({**out, "gallery": str(people.gallery.root)})
    return 0


def _remove(args: argparse.Namespace) -> int:
    people = _people(args)
    people.delete(args.name)
    return _changed(people, {"removed": args.name})


def _remove_sample(args: argparse.Namespace) -> int:
    people = _people(args)
    return _changed(people, people.remove_samples(args.name, [args.sample_id]))


def _rename(args: argparse.Namespace) -> int:
    people = _people(args)
    people.rename(args.old, args.new)
    return _changed(people, {"renamed": args.old, "to": args.new})


def _import(args: argparse.Namespace) -> int:
    """A backup (``frd gallery export``'s file), or a folder of ``<name>_<nr>.jpg`` photos (the 2018 design's)."""
    if Path(args.source).is_file():
        return _import_backup(args)
    folder = Path(args.source)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder, nor a backup file")
    people = _people(args)
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
        results.append(people.enroll(name, load_images(paths), aligned=args.aligned, force=args.force).as_dict())
    _changed(people, {"imported": results, "skipped": skipped})
    return 0 if any(r["added"] for r in results) else 1


def _import_backup(args: argparse.Namespace) -> int:
    backup = read_backup(Path(args.source))  # refused before the model is loaded
    ignored = read_backup_ignored(Path(args.source))
    try:
        ignored_entries = decode(ignored[1]) if ignored else {}
    except Exception as e:
        raise InputError(f"{args.source}: the backup's ignore list is damaged ({e})") from None
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
    return _changed(people, result)


# -- the ignore list -------------------------------------------------------------------------


def _ignore_actions(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """``frd gallery ignore list | remove IGNORE_ID | add IMAGE...``: the daemon's ignore list (edged/store/ignore.py)
    from the command line; a running daemon follows the file within a gallery poll."""
    sub = p.add_subparsers(dest="ignore_action", required=True, metavar="list | remove IGNORE_ID | add IMAGE...")
    listing = sub.add_parser("list", parents=[common], help="the ignored faces: id, camera, samples, when")
    remove = sub.add_parser("remove", parents=[common], help="announce that face again")
    remove.add_argument("ignore_id", metavar="IGNORE_ID", help="12 hex digits, as `frd gallery ignore list` shows")
    add = sub.add_parser("add", parents=[common], help="never announce the face each image is of")
    add.add_argument("images", nargs="+", metavar="IMAGE", help="photos of the face to ignore")
    add.add_argument("--aligned", action="store_true", help="images already are face crops")
    threads_arg(add)
    for a, run in ((listing, _ignore_list), (remove, _ignore_remove), (add, _ignore_add)):
        gallery_arg(a)
        a.set_defaults(func=run)


def _ignore_list(args: argparse.Namespace) -> int:
    from ..daemon.app import shipped_space

    root = gallery_path(args)
    print_json({"gallery": str(root), **IgnoreList(root / IGNORE_FILE, shipped_space()).listing()})
    return 0


def _ignore_remove(args: argparse.Namespace) -> int:
    from ..daemon.app import shipped_space

    root = gallery_path(args)
    if not SHORT_ID.fullmatch(args.ignore_id):
        raise InputError(f"{args.ignore_id[:40]!r} is not an ignore id (12 hex digits; see frd gallery ignore list)")
    if not root.is_dir():
        raise InputError(f"no gallery at {root}")
    warn_if_no_daemon_reads(args, root)
    IgnoreList(root / IGNORE_FILE, shipped_space()).remove(args.ignore_id)
    print_json({"removed": args.ignore_id, "gallery": str(root)})
    return 0


def _ignore_add(args: argparse.Namespace) -> int:
    from ..daemon.app import open_people

    root = gallery_path(args)
    people = open_people(root, still_pipeline(args), keep_crops=False)
    warn_if_no_daemon_reads(args, people.gallery.root)
    embeddings, rejected = [], []
    for label, img in load_images([Path(r) for r in args.images]):
        if isinstance(img, InputError):
            rejected.append({"image": label, "reason": str(img)})
            continue
        face, _, why = people.pipeline.subject_face(img, aligned=args.aligned)
        if face is None:
            rejected.append({"image": label, "reason": why or "no face found"})
        else:
            embeddings.append(face.embedding)
    if not embeddings:
        print_json({"ignore_id": None, "rejected": rejected, "gallery": str(root)})
        return 1
    ignore_id = IgnoreList(root / IGNORE_FILE, people.gallery.model_sha256).add("cli", np.stack(embeddings))
    print_json({"ignore_id": ignore_id, "samples": len(embeddings), "rejected": rejected, "gallery": str(root)})
    return 0


#: ``frd gallery ACTION``, in the order ``frd gallery --help`` lists them.
ACTIONS: dict[str, Action] = {
    "list": Action((), _list, "everyone enrolled: samples, model, stale (JSON)"),
    "show": Action((("NAME", "the person"),), _show, "one person with each sample's id and source"),
    "remove": Action((("NAME", "the person"),), _remove, "remove every trace of a person", model=True),
    "remove-sample": Action((("NAME", "the person"), ("SAMPLE_ID", "12 hex digits, as `frd gallery show NAME` "
                                                                   "shows")),
                            _remove_sample, "remove one sample of a person (never the last: that is remove)",
                            model=True),
    "rename": Action((("OLD", "the name now"), ("NEW", "the name from now on")), _rename, "rename a person",
                     model=True),
    "import": Action((("SOURCE", "a backup file (frd gallery export), or a folder of <name>_<nr>.jpg photos"),),
                     _import, "restore a backup (all of it, or nobody), or enroll a folder of photos", model=True),
    "export": Action((("FILE", "the backup to write (biometric data: mode 0600)"),), _export,
                     "a backup of everyone and the ignore list, in one zip file"),
    "ignore": Action((), _ignore_list, "the faces never announced: list | remove IGNORE_ID | add IMAGE...",
                     sub=_ignore_actions),
}
