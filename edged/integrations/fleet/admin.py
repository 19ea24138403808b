"""``python -m edged.integrations.fleet``: the administrator's tool (public keys, records signed by the authority)."""

from __future__ import annotations

import time
from pathlib import Path

from ...core import strictjson
from ...core.errors import FrdError
from ...core.keys import AUTHORITY
from .record import VERSION, signed_message
from .trust import load_signing_key, public_key_text


def main(argv: list[str] | None = None) -> int:
    """``python -m edged.integrations.fleet``: public keys, and records signed by the enrollment authority.

    The authority's key stays with the administrator, so this runs on the administrator's machine; the
    output is published with ``mosquitto_pub`` (see README, "Who may enroll").
    """
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m edged.integrations.fleet", description=main.__doc__)
    sub = ap.add_subparsers(dest="what", required=True)
    pk = sub.add_parser("pubkey", help="print the base64 public key of a PEM private key (for fleet.*_keys)")
    pk.add_argument("key", type=Path)
    sg = sub.add_parser("sign", help="sign a gallery record as the authority (or as a device)")
    sg.add_argument("--key", type=Path, required=True, help="PEM private key")
    sg.add_argument("--signer", default=AUTHORITY, help=f"'{AUTHORITY}' (default) or a device id")
    sg.add_argument("--topic", required=True, help="e.g. frd/gallery/lin")
    how = sg.add_mutually_exclusive_group(required=True)
    how.add_argument("--from-message", type=Path, metavar="FILE",
                     help="re-sign the record of a message (mosquitto_sub -C 1 -t TOPIC), dated now: it wins")
    how.add_argument("--delete", action="store_true", help="a signed deletion (publish it without -r)")
    sg.add_argument("--origin", help="the device that owns the person afterwards (default: the record's)")
    args = ap.parse_args(argv)
    try:
        if args.what == "pubkey":
            print(public_key_text(load_signing_key(args.key)))
            return 0
        key = load_signing_key(args.key)
        name = args.topic.rsplit("/", 1)[-1]
        if args.delete:
            record: dict = {"version": VERSION, "name": name, "origin": args.origin or args.signer,
                            "updated": time.time(), "deleted": True}
        else:
            outer = strictjson.loads(args.from_message.read_bytes())
            record = strictjson.loads(outer["record"]) if isinstance(outer, dict) and "record" in outer else outer
            if not isinstance(record, dict) or record.get("name") != name:
                raise FrdError(f"{args.from_message}: not a record of {name!r}")
            record["updated"] = time.time()
            if args.origin:
                record["origin"] = args.origin
        print(signed_message(args.topic, record, args.signer, key))
        return 0
    except (FrdError, OSError, KeyError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1

