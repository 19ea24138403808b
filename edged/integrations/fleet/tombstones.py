"""Deleted people, remembered so that an old signed record replayed later cannot bring them back."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from ...core import strictjson
from ...core.files import atomic_write

log = logging.getLogger(__name__)

#: Salted hashes of deleted people's names and when they were deleted, in the gallery folder.
TOMBSTONE_FILE = ".fleet-deleted.json"


class Tombstones:
    """When each deleted person was deleted, so that an old signed record replayed later cannot bring them back.

    Kept in a small private file in the gallery folder. Names are stored as salted hashes: deleting a person
    must not leave their name on disk.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._salt = os.urandom(16)
        self._deleted: dict[str, float] = {}
        if path is None or not path.exists():
            return
        try:
            obj = strictjson.loads(path.read_bytes())
            self._salt = bytes.fromhex(obj["salt"])
            self._deleted = {str(k): float(v) for k, v in obj["deleted"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            log.error("%s: unreadable list of deleted people (%s): old records of them could be replayed",
                      path, e)

    def _key(self, name: str) -> str:
        return hashlib.sha256(self._salt + name.encode()).hexdigest()

    def deleted_at(self, name: str) -> float | None:
        return self._deleted.get(self._key(name))

    def record(self, name: str, when: float) -> None:
        key = self._key(name)
        self._deleted[key] = max(when, self._deleted.get(key, 0.0))
        if self.path is None:
            return
        body = json.dumps({"v": 1, "salt": self._salt.hex(), "deleted": self._deleted})
        try:
            atomic_write(self.path, body.encode())
        except OSError as e:
            log.error("%s: cannot save the list of deleted people (%s)", self.path, e.strerror or e)
