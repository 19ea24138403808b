"""The newest revision this device knows of each person, deleted ones included: what orders fleet records.

Every record of a person carries ``rev``, the person's revision. A device that changes a person (enrolls,
renames, deletes) signs the revision after the newest it knows (:meth:`Ledger.next_rev`), so its change
outranks every state it has seen, whatever the devices' clocks say: a delete made on a device whose clock is
behind still wins. Two changes made without seeing each other (the owner and the authority at once) can carry
the same revision; they are ordered by :meth:`Entry.key`, the same on every device: a deletion wins, then the
authority, then the signer's id.

A deletion is a tombstone: its entry stays here (and its signed record stays retained on the broker), so an
older record of that person, replayed, is refused (:meth:`Entry.key` is not higher). Tombstones are kept until
a newer record of the name replaces them (the name is enrolled again), or until there are more than
:data:`MAX_ENTRIES` entries, when the oldest tombstones go first (logged): at most about 0.7 MB on disk.

Kept in a small private file in the gallery folder. Names are stored as salted hashes: deleting a person must
not leave their name on disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from ...core import strictjson
from ...core.files import atomic_write
from ...core.keys import AUTHORITY

log = logging.getLogger(__name__)

#: The ledger, in the gallery folder.
LEDGER_FILE = ".fleet-ledger.json"
#: The previous version's list of deletions (dated by the deleting device's clock): its salt is kept, its
#: entries are not needed (records of that version are refused), and the file is removed.
OLD_TOMBSTONE_FILE = ".fleet-deleted.json"
#: Entries kept at most (each about 170 bytes on disk); past it the oldest tombstones are forgotten first.
MAX_ENTRIES = 4096
#: A signer is a device id (at most 64 characters) or ``authority``.
MAX_SIGNER = 64


@dataclass(frozen=True)
class Entry:
    """A person's newest known state: its revision, whether it is a deletion, and who signed it."""

    rev: int
    deleted: bool
    signer: str

    def key(self) -> tuple[int, bool, bool, str]:
        """The order of two states of one person: the revision, then a deletion, then the authority, then the signer."""
        return (self.rev, self.deleted, self.signer == AUTHORITY, self.signer)


class Ledger:
    """The newest :class:`Entry` of each person this device knows (salted hashes of the names), bounded."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._salt = os.urandom(16)
        self._entries: dict[str, Entry] = {}  # oldest first
        self._lock = threading.Lock()
        #: why the last save failed (None: it did not); in the status
        self.save_error: str | None = None
        if path is not None:
            self._load(path)

    def _load(self, path: Path) -> None:
        old = path.with_name(OLD_TOMBSTONE_FILE)
        try:
            if path.exists():
                obj = strictjson.loads(path.read_bytes())
                self._salt = bytes.fromhex(obj["salt"])
                self._entries = {str(k): Entry(int(v[0]), bool(v[1]), str(v[2])[:MAX_SIGNER])
                                 for k, v in obj["entries"].items()}
            elif old.exists():
                self._salt = bytes.fromhex(strictjson.loads(old.read_bytes())["salt"])
                log.info("%s: deletions of the previous record version are not needed (its records are refused): "
                         "replaced by %s", old, path.name)
                self._save()
                old.unlink()
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError,
                strictjson.StrictJSONError) as e:
            log.error("%s: unreadable fleet ledger (%s): a replayed old record of a deleted person is refused again "
                      "once the retained deletion on the broker has been seen", path, e)

    def _key(self, name: str) -> str:
        return hashlib.sha256(self._salt + name.encode()).hexdigest()

    def get(self, name: str) -> Entry | None:
        return self._entries.get(self._key(name))

    def next_rev(self, name: str) -> int:
        """The revision of a change of ``name`` made now: after the newest known."""
        known = self.get(name)
        return 1 if known is None else known.rev + 1

    def outranks(self, name: str, entry: Entry) -> bool:
        """Whether ``entry`` is newer than every state of ``name`` known here."""
        known = self.get(name)
        return known is None or entry.key() > known.key()

    def record(self, name: str, entry: Entry) -> None:
        """Remember ``entry`` as ``name``'s newest state (callers checked :meth:`outranks`); saved at once."""
        entry = Entry(entry.rev, entry.deleted, entry.signer[:MAX_SIGNER])
        with self._lock:
            key = self._key(name)
            self._entries.pop(key, None)  # to the end: the newest last
            self._entries[key] = entry
            self._evict()
            self._save()

    def _evict(self) -> None:
        over = len(self._entries) - MAX_ENTRIES
        if over <= 0:
            return
        old = [k for k, e in self._entries.items() if e.deleted][:over]
        old += [k for k in self._entries if k not in old][:over - len(old)]
        for k in old:
            del self._entries[k]
        log.warning("fleet ledger: over %d entries, the %d oldest forgotten (an old record of a person deleted that "
                    "long ago would be taken again)", MAX_ENTRIES, len(old))

    def _save(self) -> None:
        if self.path is None:
            return
        body = {"v": 2, "salt": self._salt.hex(),
                "entries": {k: [e.rev, e.deleted, e.signer] for k, e in self._entries.items()}}
        try:
            atomic_write(self.path, json.dumps(body, separators=(",", ":")).encode())
        except OSError as e:
            self.save_error = f"{self.path}: cannot save the fleet ledger ({e.strerror or e})"
            log.error("%s: a restart would forget the newest revisions and deletions", self.save_error)
        else:
            self.save_error = None

    def __len__(self) -> int:
        return len(self._entries)

    def tombstones(self) -> int:
        return sum(e.deleted for e in self._entries.values())
