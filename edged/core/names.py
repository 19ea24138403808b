"""Names: the one rule for what a person name, a camera name or a device id may be.

Names become file names in the gallery, MQTT topic segments and Home Assistant
ids, so they are restricted to a safe alphabet instead of being escaped
everywhere. Person names are stricter (a letter or digit first, a few words
reserved); camera names and device ids (:func:`check_id`) share the alphabet
and the length.

Input from outside (MQTT, the command line) goes through :func:`normalize_name`:
Unicode NFKC first, so a compatibility look-alike (full-width ``ａｌｉｃｅ``, the
ligature ``ﬁ``, superscript digits) maps to the plain name it stands for, and
anything that is still not plain ASCII after that (Cyrillic ``а``, zero-width
characters, accents) is refused. :func:`validate_name` is the strict check
used by storage: it never maps, so no two spellings can reach the disk.
"""

from __future__ import annotations

import re
import unicodedata

from .errors import InputError

#: The alphabet of every name frd puts in a topic, a file name or a Home Assistant id (a regex class body).
ALPHABET = "a-z0-9_-"
MAX_LEN = 64
#: A person name: a letter or digit first.
NAME_RE = re.compile(rf"[a-z0-9][{ALPHABET}]{{0,{MAX_LEN - 1}}}")
#: A camera name or device id.
ID_RE = re.compile(rf"[{ALPHABET}]{{1,{MAX_LEN}}}")
_ONE = re.compile(rf"[{ALPHABET}]")
#: Raw input longer than this is refused before normalisation (which can expand text).
MAX_RAW_LEN = 256
#: Words the daemon itself uses in states and topics.
RESERVED = frozenset({"unknown", "all", "none", "null", "status", "gallery"})


def _shown(name: str) -> str:
    return repr(name if len(name) <= 24 else name[:20] + "…")


def _describe(ch: str) -> str:
    return f"{ch!r} U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed character')}"


def validate_name(name: object) -> str:
    """Return ``name`` if it is a valid person name, else raise InputError saying why."""
    if not isinstance(name, str):
        raise InputError(f"name must be a string, not {type(name).__name__}")
    if not name:
        raise InputError("name is empty")
    if len(name) > MAX_LEN:
        raise InputError(f"name {_shown(name)}: longer than {MAX_LEN} characters")
    if not NAME_RE.fullmatch(name):
        if len(name) <= MAX_RAW_LEN:
            mapped = unicodedata.normalize("NFKC", name)
            if mapped != name and NAME_RE.fullmatch(mapped) and mapped not in RESERVED:
                raise InputError(f"name {_shown(name)} is not in normal form; it stands for {mapped!r}")
        bad = next((c for c in name if not _ONE.fullmatch(c)), None)
        what = f" ({_describe(bad)} is not allowed)" if bad is not None else ""
        raise InputError(
            f"name {_shown(name)}{what}: use lowercase letters, digits, '_' and '-' only, "
            "starting with a letter or digit"
        )
    if name in RESERVED:
        raise InputError(f"name {name!r} is reserved")
    return name


def check_id(value: str) -> str:
    """Return ``value`` if it is a valid camera name or device id, else raise ValueError (config wording)."""
    if not ID_RE.fullmatch(value):
        raise ValueError(f"{value!r} must be 1-{MAX_LEN} characters from a-z, 0-9, '_' and '-'")
    return value


def slugify(raw: str, fill: str = "-") -> str:
    """``raw`` lower-cased with every run of characters outside the alphabet replaced by ``fill``."""
    return re.sub(rf"[^{ALPHABET}]+", fill, raw.lower())


def normalize_name(raw: object) -> str:
    """A name as typed or sent: NFKC-normalised, then validated; returns the canonical name."""
    if not isinstance(raw, str):
        raise InputError(f"name must be a string, not {type(raw).__name__}")
    if len(raw) > MAX_RAW_LEN:
        raise InputError(f"name {_shown(raw)}: longer than {MAX_LEN} characters")
    return validate_name(unicodedata.normalize("NFKC", raw))


def name_from_legacy_file(stem: str) -> str:
    """The person in the 2018 design's ``<name>_<nr>.jpg`` convention (``alice_2`` → ``alice``)."""
    base, sep, nr = stem.rpartition("_")
    if not sep or not nr.isdigit() or not base:
        raise InputError(f"{stem!r} does not follow the <name>_<nr> convention")
    return normalize_name(base.lower())
