"""Faces not to announce: the ignore list (``cmd/ignore``).

A user who keeps being told about the same visitor (the postman), or about a look-alike named as
someone enrolled, ignores one held unknown face (its ``face_id``). Its embeddings join this list;
a face closer to an ignored face than to any enrolled person — by the matcher's own normalised
score, and above the matcher's threshold — produces no event at all. The list is kept next to the
people in the gallery folder (``.ignored-faces``, 0600: biometric data, embeddings only, no chips),
so it survives restarts; entries are listed and removed by id. Each entry records the embedding space
it was made in (model and chip cut, :func:`edged.store.space.embedding_space`): after an upgrade that
changes either, old entries are kept and listed as stale but no longer ignore anyone, as stale people
are no longer named (their embeddings would be compared with another space's).

Pure storage and bookkeeping (numpy and the standard library); the daemon does the matching with
a second :class:`~edged.vision.match.Matcher` that app.py builds like the first.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import GalleryError, InputError
from ..core.files import atomic_write
from ..core.models import SHORT_ID, new_id, utc_iso
from .space import describe_space

log = logging.getLogger(__name__)

#: In the gallery folder; not ``*.npz``, so the gallery neither loads it as a person nor tidies its temp files.
IGNORE_FILE = ".ignored-faces"
#: More would mostly slow every embedded face down; a home has a few regular visitors.
MAX_IGNORED = 100
#: The space of an entry written before entries recorded theirs: unknown, so never today's.
UNRECORDED_SPACE = "unrecorded"


@dataclass(frozen=True)
class Ignored:
    ignore_id: str
    camera: str
    created: float  # epoch seconds
    embeddings: np.ndarray  # (n, d)
    space: str = UNRECORDED_SPACE  # edged.store.space.embedding_space of the embeddings


def encode(entries: dict[str, Ignored]) -> bytes:
    """The file's bytes (also a backup's ``ignored-faces`` member): an npz of embeddings plus JSON metadata."""
    meta = [{"id": e.ignore_id, "camera": e.camera, "created": e.created, "space": e.space}
            for e in entries.values()]
    arrays = {f"e{i}": e.embeddings.astype(np.float32) for i, e in enumerate(entries.values())}
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(json.dumps(meta)), **arrays)
    return buf.getvalue()


def decode(data: bytes) -> dict[str, Ignored]:
    """The entries of :func:`encode`'s bytes; raises ValueError (or numpy's errors) for anything else.

    An entry that records no space (written before entries did) gets :data:`UNRECORDED_SPACE`: not even a
    backup's manifest says which space it was made in, since it may predate the gallery's last upgrade."""
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        out = {}
        for i, m in enumerate(meta):
            emb = np.asarray(z[f"e{i}"], np.float32)
            if emb.ndim != 2 or not len(emb) or not np.all(np.isfinite(emb)):
                raise ValueError(f"entry {i}: not a non-empty finite (n, d) array")
            ignore_id = str(m["id"])
            if not SHORT_ID.fullmatch(ignore_id):
                raise ValueError(f"entry {i}: {ignore_id[:40]!r} is not an id")
            space = m.get("space", UNRECORDED_SPACE)
            if not isinstance(space, str) or not 0 < len(space) <= 200 or not space.isprintable():
                raise ValueError(f"entry {i}: its embedding space is not a short printable string")
            out[ignore_id] = Ignored(ignore_id, str(m["camera"])[:64], float(m["created"]), emb, space)
    return out


class IgnoreList:
    """The ignored faces, persisted in ``path``; thread-safe; listeners hear every change.

    ``space`` is today's embedding space: new entries record it, and only entries made in it are matched."""

    def __init__(self, path: Path, space: str, *, max_entries: int = MAX_IGNORED,
                 wall: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.space = space
        self.max_entries = max_entries
        self._wall = wall
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._seen: tuple | None = None  # fingerprint() of what _entries reflects
        self._stale_said: frozenset[str] = frozenset()  # the stale entries the log has named already
        self._entries: dict[str, Ignored] = self._load()

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _load(self) -> dict[str, Ignored]:
        self._seen = self.fingerprint()
        if not self.path.exists():
            return {}
        try:
            entries = decode(self.path.read_bytes())
        except Exception as e:  # an unreadable list must not stop recognition: say so, start empty
            log.error("%s: unreadable ignore list, ignoring nobody (%s)", self.path, e)
            return {}
        stale = [e for e in entries.values() if e.space != self.space]
        said, self._stale_said = self._stale_said, frozenset(e.ignore_id for e in stale)
        if stale and self._stale_said != said:  # once, not on every reload after an unrelated edit
            log.warning("%s: %d of %d ignored faces were made in another embedding space (%s; today %s) and "
                        "ignore nobody: ignore those faces again, and remove the stale entries "
                        "(frd gallery ignore list / remove)", self.path, len(stale), len(entries),
                        ", ".join(sorted({describe_space(e.space) if "+" in e.space else e.space for e in stale})),
                        describe_space(self.space))
        return entries

    def fingerprint(self) -> tuple | None:
        """Changes whenever anyone writes the file (every write is a new file renamed into place)."""
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def reload_if_changed(self) -> bool:
        """Follow a change another process made (``frd gallery import`` of a backup); True if there was one."""
        with self._lock:
            if self.fingerprint() == self._seen:
                return False
            self._entries = self._load()
        self._changed()
        return True

    def _save(self, entries: dict[str, Ignored]) -> None:
        try:
            atomic_write(self.path, encode(entries))
        except OSError as e:
            raise GalleryError(f"{self.path}: write failed, ignore list unchanged ({e.strerror or e})") from e
        self._seen = self.fingerprint()

    def _changed(self) -> None:
        for listener in self._listeners:
            try:
                listener()
            except Exception:
                log.exception("a listener of the ignore list failed")

    def add(self, camera: str, embeddings: np.ndarray) -> str:
        """Ignore the face with these embeddings; returns the entry's id (written before it is used)."""
        emb = np.asarray(embeddings, np.float32)
        if emb.ndim != 2 or not len(emb):
            raise InputError("nothing to ignore")
        with self._lock:
            if len(self._entries) >= self.max_entries:
                stale = sum(e.space != self.space for e in self._entries.values())
                raise InputError(f"the ignore list is full ({self.max_entries} faces"
                                 + (f", {stale} of them stale" if stale else "") + "): remove one first")
            entry = Ignored(new_id(), camera, self._wall(), emb, self.space)
            entries = {**self._entries, entry.ignore_id: entry}
            self._save(entries)
            self._entries = entries
        self._changed()
        return entry.ignore_id

    def remove(self, ignore_id: str) -> None:
        with self._lock:
            if ignore_id not in self._entries:
                raise InputError(f"no ignored face {ignore_id[:40]!r} (see cmd/ignore/list)")
            entries = {k: v for k, v in self._entries.items() if k != ignore_id}
            self._save(entries)
            self._entries = entries
        self._changed()

    def merge(self, entries: dict[str, Ignored]) -> list[str]:
        """Add the entries whose id is not on the list yet (a restored backup); returns the ids added."""
        with self._lock:
            new = {k: v for k, v in entries.items() if k not in self._entries}
            if len(self._entries) + len(new) > self.max_entries:
                raise InputError(f"the ignore list would hold {len(self._entries) + len(new)} faces; at most "
                                 f"{self.max_entries}")
            if not new:
                return []
            merged = {**self._entries, **new}
            self._save(merged)
            self._entries = merged
        self._changed()
        return sorted(new)

    def listing(self) -> dict:
        with self._lock:
            faces = [{"ignore_id": e.ignore_id, "camera": e.camera, "ts": utc_iso(e.created),
                      "samples": len(e.embeddings), "stale": e.space != self.space}
                     for e in sorted(self._entries.values(), key=lambda e: e.created)]
        return {"ignored": faces}

    def gallery(self) -> dict[str, np.ndarray]:
        """The entries made in today's space as a matcher gallery: ``{ignore_id: embeddings}``."""
        with self._lock:
            return {k: v.embeddings for k, v in self._entries.items() if v.space == self.space}
