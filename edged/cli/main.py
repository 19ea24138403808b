"""The ``frd`` command line.

Output contracts (scripts and later tools rely on them): ``enroll`` prints
one JSON object, ``recognize --json`` one JSON line per face, errors go to
stderr with exit status 1 (bad input) or 2 (bad usage/config).

Every command is a function in the module of its group (:mod:`.run`, :mod:`.sign`, :mod:`.gallery`,
:mod:`.recognize`, :mod:`.tools`); :data:`COMMANDS` lists them.
"""

from __future__ import annotations

import argparse
import os
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


#: Exit status when the reader of frd's output went away (``frd gallery list | head``): what a program killed by
#: SIGPIPE reports to the shell (128 + 13), without a traceback.
BROKEN_PIPE = 141


def logging_options(default: object = None) -> argparse.ArgumentParser:
    """``-v`` and ``--log-level``: accepted before the command and after it (``frd run --log-level debug``).

    The copy each command takes defaults to :data:`argparse.SUPPRESS`, so that one given before the command
    is not overwritten by the command's own default."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-v", "--verbose", action="store_true", default=default if default is not None else False,
                   help="debug logging (--log-level debug)")
    p.add_argument("--log-level", choices=LEVELS, default=default,
                   help="default: warning; for 'run' the config's log_level (info)")
    return p


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="frd", description="Edge face recognition: dlib + int8 FaceNet + MQTT.",
                                 parents=[logging_options()])
    ap.add_argument("--version", action="version", version=f"frd {__version__}",
                    help="print frd's version (the whole stack: frd version)")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = logging_options(argparse.SUPPRESS)
    for add in COMMANDS:
        add(sub, common)
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
    except BrokenPipeError:
        return _broken_pipe()


def _broken_pipe() -> int:
    """The reader of stdout is gone (``| head``): end quietly. What is still buffered for it goes nowhere, so
    Python's own flush at exit cannot fail with a second traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
