"""The ``frd`` command line.

Output contracts (scripts and later tools rely on them): ``enroll`` prints
one JSON object, ``recognize --json`` one JSON line per face, errors go to
stderr with exit status 1 (bad input) or 2 (bad usage/config).

Every command is a function in the module of its group (:mod:`.run`, :mod:`.sign`, :mod:`.gallery`,
:mod:`.recognize`, :mod:`.tools`); :data:`COMMANDS` lists them.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..config import ConfigError
from ..core.errors import FrdError
from ..core.logs import LEVELS, setup
from . import about, gallery, recognize, run, sign, tools

#: Each adds its subcommand (arguments, and the function that runs it), in the order ``frd --help`` lists them.
COMMANDS = (
    run.add_run,
    run.add_check_config,
    tools.add_demo,
    sign.add_sign,
    gallery.add_enroll,
    gallery.add_gallery,
    recognize.add_recognize,
    recognize.add_embed,
    tools.add_eval,
    tools.add_bench,
    about.add_version,
)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="frd", description="Edge face recognition: dlib + int8 FaceNet + MQTT.")
    ap.add_argument("--version", action="version", version=f"frd {__version__}",
                    help="print frd's version (the whole stack: frd version)")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging (--log-level debug)")
    ap.add_argument("--log-level", choices=LEVELS, default=None,
                    help="default: warning; for 'run' the config's log_level (info)")
    sub = ap.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.log_level = args.log_level or ("debug" if args.verbose else None)
    setup(args.log_level or ("info" if args.command == "run" else "warning"), daemon=args.command == "run")
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
