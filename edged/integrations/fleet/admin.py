"""``python -m edged.integrations.fleet``: the administrator's tool (public keys, records signed by the authority)."""

from __future__ import annotations

import time
from pathlib import Path

from ...core import strictjson
from ...core.errors import FrdError
from ...core.keys import AUTHORITY
from .record import MAX_REV, VERSION, signed_message
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
    sg.add_argument("--from-message", type=Path, metavar="FILE",
                    help="the person's message as retained now (mosquitto_sub -C 1 -t TOPIC): re-signed at the next "
                         "revision, so it wins; with --delete, only its revision is read")
    sg.add_argument("--delete", action="store_true", help="a signed deletion (a tombstone: publish it retained)")
    sg.add_argument("--rev", type=int, help="the revision to sign (default: the message's revision + 1)")
    sg.add_argument("--origin", help="the device that owns the person afterwards (default: the record's)")
    args = ap.parse_args(argv)
    try:
        if args.what == "pubkey":
            print(public_key_text(load_signing_key(args.key)))
            return 0
        key = load_signing_key(args.key)
        name = args.topic.rsplit("/", 1)[-1]
        current = _current_record(args.from_message, name) if args.from_message else None
        if current is None and (not args.delete or args.rev is None):
            raise FrdError("give --from-message FILE (the person's message as retained now): a change must outrank "
                           "the person's current revision" + ("; or --rev N" if args.delete else ""))
        rev = args.rev if args.rev is not None else _rev(current) + 1
        if not 1 <= rev < MAX_REV:
            raise FrdError(f"--rev must be in [1, 2^53), not {rev}")
        if args.delete:
            record: dict = {"version": VERSION, "name": name, "rev": rev,
                            "origin": args.origin or args.signer, "updated": time.time(), "deleted": True}
        else:
            record = {**current, "version": VERSION, "rev": rev, "updated": time.time()}
            if args.origin:
                record["origin"] = args.origin
        print(signed_message(args.topic, record, args.signer, key))
        return 0
    except (FrdError, OSError, KeyError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1



def _current_record(path: Path, name: str) -> dict:
    """The record inside a retained message (or a bare record), checked to be ``name``'s."""
    outer = strictjson.loads(path.read_bytes())
    record = strictjson.loads(outer["record"]) if isinstance(outer, dict) and "record" in outer else outer
    if not isinstance(record, dict) or record.get("name") != name:
        raise FrdError(f"{path}: not a record of {name!r}")
    return record


def _rev(record: dict | None) -> int:
    """A record's revision (0 for a record of version 1, which had none)."""
    rev = (record or {}).get("rev", 0)
    if not isinstance(rev, int) or isinstance(rev, bool) or rev < 0:
        raise FrdError(f"the message's rev is not a revision: {str(rev)[:40]!r}")
    return rev
