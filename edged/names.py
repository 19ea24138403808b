"""Person names: the one rule for what a name may be.

Names become file names in the gallery and MQTT topic segments, so they are
restricted to a safe alphabet instead of being escaped everywhere.
"""

from __future__ import annotations

import re

from .errors import InputError

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
#: Words the daemon itself uses in states and topics.
RESERVED = frozenset({"unknown", "all", "none", "null", "status", "gallery"})


def validate_name(name: object) -> str:
    """Return ``name`` if it is a valid person name, else raise InputError saying why."""
    if not isinstance(name, str):
        raise InputError(f"name must be a string, not {type(name).__name__}")
    if not name:
        raise InputError("name is empty")
    if len(name) > 64:
        raise InputError(f"name {name[:20]!r}…: longer than 64 characters")
    if not NAME_RE.fullmatch(name):
        raise InputError(
            f"name {name!r}: use lowercase letters, digits, '_' and '-' only, starting with a letter or digit"
        )
    if name in RESERVED:
        raise InputError(f"name {name!r} is reserved")
    return name


def name_from_legacy_file(stem: str) -> str:
    """The person in the 2018 design's ``<name>_<nr>.jpg`` convention (``alice_2`` → ``alice``)."""
    base, sep, nr = stem.rpartition("_")
    if not sep or not nr.isdigit() or not base:
        raise InputError(f"{stem!r} does not follow the <name>_<nr> convention")
    return validate_name(base.lower())
