"""``frd version``: the whole stack this install runs, beside the one its calibration was made with."""

from __future__ import annotations

import argparse

from .common import print_json


def add_version(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("version", parents=[common],
                       help="print frd's version, Python, every dependency, the model and whether the stack is the "
                            "calibration's")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=cmd_version)


def cmd_version(args: argparse.Namespace) -> int:
    from ..core.stack import differences, embedding_stack, full_stack
    from ..vision.embed import Manifest
    from ..vision.match import load_calibration
    from ..vision.modelfiles import MODEL_MANIFEST, model_dir

    about = full_stack()
    manifest = Manifest.load(model_dir() / MODEL_MANIFEST)
    calibration = load_calibration(manifest.sha256)
    running = embedding_stack()
    about["model"] = {"name": manifest.short, "sha256": manifest.sha256}
    about["calibration_stack"] = calibration.stack
    about["stack_differs"] = differences(calibration.stack, running)
    if args.json:
        print_json(about)
        return 0
    print(f"frd {about['frd']}")
    print(f"python {about['python']} ({about['implementation']}, {about['machine']}, {about['libc'] or 'libc ?'})")
    for dist, version in about["dependencies"].items():
        print(f"  {dist} {version}")
    print(f"model {manifest.short} (sha256 {manifest.sha256})")
    recorded = ", ".join(f"{k} {v}" for k, v in calibration.stack.items()) or "not recorded"
    print(f"calibration made with: {recorded}")
    if calibration.stack:
        print("this install: " + ("the same" if not about["stack_differs"] else "; ".join(about["stack_differs"])))
    return 0
