"""``frd sign``: a signed command envelope for ``mosquitto_pub`` (edged/mqtt/security.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.errors import InputError
from ..mqtt.security import read_key, sign


def add_sign(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("sign", parents=[common], help="sign a command for mosquitto_pub (prints the JSON envelope)")
    p.add_argument("--key-file", type=Path, required=True, help="the command key (security.command_key_file)")
    p.add_argument("-t", "--topic", required=True, help="the exact topic it will be published on")
    g = p.add_mutually_exclusive_group()
    g.add_argument("-f", "--file", type=Path, help="payload from a file, e.g. a photo ('-': stdin)")
    g.add_argument("-m", "--message", help="payload text, e.g. a JSON command (default: empty)")
    p.add_argument("--ts", type=int, default=None, help="Unix time to sign with (default: now)")
    p.add_argument("--nonce", default=None, help="16-64 characters [A-Za-z0-9_-] (default: random)")
    p.set_defaults(func=cmd_sign)


def cmd_sign(args: argparse.Namespace) -> int:
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
