"""JSON from the network, with numbers a program can actually use.

Python's :func:`json.loads` accepts ``NaN``, ``Infinity``, ``1e999`` (which
becomes ``inf``), integers of thousands of digits and any nesting depth (until
:class:`RecursionError`). Each of those has crashed or poisoned a handler
(``int(1e999)`` raises ``OverflowError``, ``updated: 1e300`` makes a record
win every later comparison and breaks ``time.gmtime``), so every message read
from MQTT goes through :func:`loads`: finite floats, 64-bit integers, no
repeated keys, bounded depth, a bounded number of values (8 MiB of ``[{},{},…]``
is 2.8 M dicts, 180 MB in Python: a message's bytes must bound its memory), and
one exception type for all of it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_INT_DIGITS = 19  # |n| < 10**19 covers int64 and Unix time in ns
MAX_DEPTH = 32
#: Values (objects, arrays, members, elements) in one document: frd's largest requests hold a few dozen (an
#: enrollment of 20 images, a fleet record); 100,000 small objects cost about 10 MB in Python.
MAX_VALUES = 100_000
_BRACKETS = re.compile(rb"[^\[\]{}]+")


#: How :func:`loads` begins the message of text that is not JSON at all; a caller that says "not valid JSON"
#: itself drops it (:func:`reason`).
NOT_JSON = "not valid JSON: "


class StrictJSONError(ValueError):
    """The text is not JSON that frd accepts; the message says why (short, safe to log and reply)."""


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise StrictJSONError(f"integer with {len(text.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise StrictJSONError(f"number {text[:40]} is out of range")
    return value


def _constant(text: str) -> Any:
    raise StrictJSONError(f"{text} is not a JSON number")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise StrictJSONError(f"the key {k[:60]!r} appears twice")
        out[k] = v
    return out


def _depth_ok(raw: bytes | str, limit: int) -> bool:
    """Cheap upper bound on nesting (brackets inside strings count too, so it errs on the strict side)."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    depth = 0
    worst = 0
    for b in _BRACKETS.sub(b"", raw):
        if b in (0x5B, 0x7B):  # [ {
            depth += 1
            worst = max(worst, depth)
            if worst > limit:
                return False
        elif b in (0x5D, 0x7D):
            depth -= 1
    return True


def _values_bound(raw: bytes | str) -> int:
    """Cheap upper bound on the number of values: every value but the first follows a ``,`` or ``:`` or opens
    a container (separators inside strings count too, so it errs on the strict side)."""
    if isinstance(raw, str):
        return raw.count(",") + raw.count(":") + raw.count("[") + raw.count("{") + 1
    return raw.count(b",") + raw.count(b":") + raw.count(b"[") + raw.count(b"{") + 1


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH, max_values: int = MAX_VALUES) -> Any:
    """Parse ``raw``; StrictJSONError (a ValueError) for anything that is not strict, usable JSON."""
    if _values_bound(raw) > max_values:  # first: a count in C, and it bounds the walk of the depth check
        raise StrictJSONError(f"more than {max_values} values (separators and brackets counted)")
    if not _depth_ok(raw, max_depth):
        raise StrictJSONError(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(raw, parse_int=_int, parse_float=_float, parse_constant=_constant,
                          object_pairs_hook=_no_duplicates)
    except StrictJSONError:
        raise
    except RecursionError:
        raise StrictJSONError("nested too deeply") from None
    except (UnicodeDecodeError, ValueError, TypeError) as e:
        raise StrictJSONError(f"{NOT_JSON}{str(e)[:200]}") from None


def reason(e: StrictJSONError) -> str:
    """Why the text was refused, for a message that already says it is not valid JSON (no "not valid JSON:
    not valid JSON: …")."""
    return str(e).removeprefix(NOT_JSON)
