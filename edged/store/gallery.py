"""The persistent gallery: a folder with one file per person.

One ``<name>.npz`` per person keeps every write small and atomic (temp file,
fsync, rename, fsync of the folder), makes rename a single ``rename(2)`` and
lets a corrupt entry be quarantined without touching anyone else. Each file
holds the person's embeddings, the sha256 of the model that made them and —
unless disabled — the aligned 160×160 chips, the minimum needed to re-embed
after a model change. Whole frames are never stored.

A crash (power loss, ``kill -9``) in the middle of a write leaves the old
file and at most a hidden temporary file, which the next load removes.
Removing a person removes every file that holds their data: the entry, its
quarantined copies and any leftover temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import GalleryConfig, default
from ..core.errors import GalleryError, InputError
from ..core.files import TEMP_SUFFIX, atomic_write, fsync_dir, make_private
from ..core.models import new_id
from ..core.names import validate_name
from .space import chip_of

log = logging.getLogger(__name__)

SUFFIX = ".npz"
QUARANTINE = "quarantine"
#: What a write into a read-only folder or file system fails with.
READ_ONLY_ERRORS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})


def derived_sample_ids(embeddings: np.ndarray) -> list[str]:
    """Ids for samples stored without any: a hash of each embedding (and its rank among equal ones), so they
    do not change from one load to the next, nor between devices that received the same fleet record."""
    out: list[str] = []
    for row in np.asarray(embeddings, np.float32):
        digest = hashlib.sha256(row.tobytes())
        sid = digest.hexdigest()[:12]
        while sid in out:  # the same image enrolled twice
            digest.update(b"+")
            sid = digest.hexdigest()[:12]
        out.append(sid)
    return out


@dataclass
class Person:
    """A person's enrollment: embeddings (n, d) and, optionally, their chips (n, s, s, 3)."""

    name: str
    embeddings: np.ndarray
    #: The embedding space the samples were made in (:func:`.space.embedding_space`: the model and the chip cut).
    model_sha256: str
    crops: np.ndarray | None = None
    sources: list[str] = field(default_factory=list)
    updated: float = 0.0
    #: one stable id per sample (``cmd/samples/remove``); a gallery written before ids existed, or a
    #: record from the fleet, gets ids derived from the samples' embeddings (the same on every load)
    sample_ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.sample_ids) != self.count or len(set(self.sample_ids)) != self.count:
            self.sample_ids = derived_sample_ids(self.embeddings)

    @property
    def count(self) -> int:
        return int(self.embeddings.shape[0])

    def reembeddable(self, space: str) -> bool:
        """Whether the stored chips can be embedded again in ``space``: there are some, and they were cut as
        that space cuts (a chip of another cut would give an embedding of neither space)."""
        return self.crops is not None and len(self.crops) > 0 and chip_of(self.model_sha256) == chip_of(space)

    def samples(self) -> list[dict]:
        """Each sample's id and where it came from (``cmd/list {"name"}``, ``frd gallery show``)."""
        return [{"sample_id": sid, "source": self.sources[i] if len(self.sources) == self.count else None,
                 "crop": self.crops is not None}
                for i, sid in enumerate(self.sample_ids)]

    def without(self, sample_ids: set[str]) -> Person:
        """A copy without the given samples (ids it does not have are ignored)."""
        keep = [i for i, sid in enumerate(self.sample_ids) if sid not in sample_ids]
        srcs = [self.sources[i] for i in keep] if len(self.sources) == self.count else []
        return Person(self.name, self.embeddings[keep], self.model_sha256,
                      None if self.crops is None else self.crops[keep], srcs, time.time(),
                      [self.sample_ids[i] for i in keep])

    def summary(self, model_sha256: str | None = None) -> dict:
        d = {
            "name": self.name,
            "embeddings": self.count,
            "crops": 0 if self.crops is None else int(self.crops.shape[0]),
            "model": self.model_sha256[:12],
            "updated": iso_time(self.updated),
        }
        if model_sha256 is not None:
            d["stale"] = self.model_sha256 != model_sha256
        return d


def iso_time(ts: float) -> str | None:
    """UTC ISO time of ``ts``, or None for a time ``gmtime`` cannot show (a poisoned record must not break list)."""
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
    except (OverflowError, OSError, ValueError):
        return None


def encode_person(p: Person) -> bytes:
    meta = {"version": 1, "model_sha256": p.model_sha256, "sources": p.sources, "updated": p.updated,
            "sample_ids": p.sample_ids}
    arrays = {"embeddings": p.embeddings.astype(np.float32), "meta": np.array(json.dumps(meta))}
    if p.crops is not None:
        arrays["crops"] = p.crops.astype(np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def decode_person(name: str, data: bytes) -> Person:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        emb = np.asarray(z["embeddings"], np.float32)
        crops = np.asarray(z["crops"], np.uint8) if "crops" in z.files else None
    if emb.ndim != 2 or emb.shape[0] == 0 or not np.all(np.isfinite(emb)):
        raise ValueError("embeddings are not a non-empty finite (n, d) array")
    if crops is not None and crops.shape[0] != emb.shape[0]:
        raise ValueError("crop count differs from embedding count")
    return Person(
        name=name,
        embeddings=emb,
        model_sha256=str(meta["model_sha256"]),
        crops=crops,
        sources=[str(s) for s in meta.get("sources", [])],
        updated=float(meta.get("updated", 0.0)),
        sample_ids=[str(i) for i in meta.get("sample_ids", [])],  # absent before sample ids: derived
    )


class Gallery:
    """Enrolled people, loaded from and written through to ``root``."""

    def __init__(self, root: Path | str, model_sha256: str, create: bool = True, *,
                 max_people: int = default(GalleryConfig, "max_people"),
                 max_samples: int = default(GalleryConfig, "max_samples_per_person")) -> None:
        """``create=False``: a reader (``gallery list``, ``recognize``) that leaves a missing folder missing."""
        self.root = Path(root)
        self.model_sha256 = model_sha256
        self.max_people = max_people
        self.max_samples = max_samples
        self.people: dict[str, Person] = {}
        self.quarantined: list[str] = []
        self._seen: tuple = ()  # fingerprint() of the files that self.people reflects
        #: why the gallery cannot be written (a read-only file system or folder), or None: frd then recognises the
        #: people it holds and refuses every change with this reason, instead of refusing to start
        self.read_only: str | None = None
        if not create:
            if self.root.exists() and not os.access(self.root, os.R_OK | os.X_OK):
                raise GalleryError(f"{self.root}: permission denied (run as the gallery's owner, e.g. sudo -u frd)")
            if self.root.is_dir():
                self.reload()
            return
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.root, 0o700)
        except PermissionError as e:
            raise GalleryError(f"{self.root}: permission denied ({e.strerror or e}): it is the frd service's; run "
                               "as its user (sudo -u frd frd ...) or use another gallery (gallery.path, "
                               "--gallery)") from e
        except OSError as e:
            if not (self.root.is_dir() and os.access(self.root, os.R_OK | os.X_OK)) or self._probe() is None:
                raise GalleryError(f"{self.root}: cannot create gallery folder ({e.strerror or e})") from e
        self.reload()
        if self.read_only is not None:
            log.warning("the gallery %s", self._read_only_message())

    @contextlib.contextmanager
    def _lock(self, optional: bool = False) -> Iterator[bool]:
        """Serialise writers (CLI and daemon) on the same gallery.

        ``optional``: a reader that cannot create the lock file (a read-only gallery) goes on without it;
        yields whether the lock is held. A writer on a read-only gallery is refused with the reason.
        """
        if not optional:
            self.check_writable()
        try:
            fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            if not optional:
                self._write_failed(e)
                raise GalleryError(f"{self.root}: cannot lock the gallery for a change ({e.strerror or e}); "
                                   "nothing changed") from e
            try:
                yield False
            finally:
                self._seen = self.fingerprint()
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield True
        finally:
            self._seen = self.fingerprint()  # still locked: no other writer's change slips in unseen
            os.close(fd)

    def _probe(self) -> str | None:
        """Whether the folder takes a new file: None if it does, else why not (also kept in :attr:`read_only`)."""
        try:
            fd, tmp = tempfile.mkstemp(prefix=".probe.", suffix=TEMP_SUFFIX, dir=self.root)
        except OSError as e:
            if e.errno not in READ_ONLY_ERRORS:
                return None  # full, or another fault: each write says so itself
            self.read_only = f"{self.root}: {e.strerror or e}"
            return self.read_only
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        self.read_only = None
        return None

    def _read_only_message(self) -> str:
        return (f"is read-only ({self.read_only}): recognition goes on with the {len(self.people)} people it holds; "
                "enroll, delete, rename and sample removal are refused")

    def check_writable(self) -> None:
        """GalleryError, saying why, if the gallery cannot be changed (checked again each time: a file system
        remounted read-write is used again)."""
        if self.read_only is not None and self._probe() is not None:
            raise GalleryError(f"the gallery {self._read_only_message()}")

    def _write_failed(self, e: OSError) -> None:
        """A write that failed because the folder or file system is read-only makes the gallery read-only."""
        if e.errno in READ_ONLY_ERRORS and self.read_only is None:
            self.read_only = f"{self.root}: {e.strerror or e}"
            log.error("the gallery %s", self._read_only_message())

    def fingerprint(self) -> tuple:
        """Name, mtime, size and inode of every person file: changes whenever anyone writes, removes or
        renames one (every write is a new file renamed into place), and is cheap enough to poll."""
        out = []
        try:
            with os.scandir(self.root) as it:
                for e in it:
                    if e.name.endswith(SUFFIX) and not e.name.startswith("."):
                        with contextlib.suppress(OSError):
                            st = e.stat(follow_symlinks=False)
                            out.append((e.name, st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            return ()
        return tuple(sorted(out))

    def changed_on_disk(self) -> bool:
        """Whether another process (the CLI, a restore) changed the person files since this object last
        read or wrote them: the daemon polls this and reloads."""
        if not self.root.is_dir():
            return False  # a folder that is gone (a restore under way, a mistake) must not delete everyone
        return self.fingerprint() != self._seen

    def _path(self, name: str) -> Path:
        return self.root / f"{name}{SUFFIX}"

    def reload(self) -> None:
        """Read every person file; corrupt ones are moved to ``quarantine/`` and reported."""
        people: dict[str, Person] = {}
        with self._lock(optional=True) as locked:
            for t in self._temp_files("*") if locked else []:  # no writer is half-way: a crash's leftovers
                with contextlib.suppress(OSError):
                    t.unlink()
            for f in sorted(self.root.glob(f"*{SUFFIX}")):
                name = f.name[: -len(SUFFIX)]
                try:
                    validate_name(name)
                    people[name] = decode_person(name, f.read_bytes())
                except Exception as e:
                    self._quarantine(f, e)
                    continue
                if locked:
                    make_private(f)
        self.people = people

    def _temp_files(self, name: str) -> list[Path]:
        """Temporary files of unfinished writes (``atomic_write``'s names) of ``name`` (or ``*``)."""
        return [p for p in self.root.glob(f".{name}{SUFFIX}.*{TEMP_SUFFIX}") if p.is_file()]

    def _quarantined_files(self, name: str) -> list[Path]:
        qdir = self.root / QUARANTINE
        return [p for p in qdir.glob(f"{name}{SUFFIX}.*") if p.is_file()] if qdir.is_dir() else []

    def _quarantine(self, f: Path, why: Exception) -> None:
        qdir = self.root / QUARANTINE
        dest = qdir / f"{f.name}.{time.time_ns()}"
        try:
            qdir.mkdir(mode=0o700, exist_ok=True)
            os.replace(f, dest)
            make_private(dest)
        except OSError:
            dest = f
        msg = f"{f}: corrupt gallery entry moved to {dest} ({why})"
        log.error(msg)
        self.quarantined.append(msg)

    def names(self) -> list[str]:
        return sorted(self.people)

    def active(self) -> dict[str, np.ndarray]:
        """Embeddings usable with the current model (stale people are left out)."""
        return {n: p.embeddings for n, p in self.people.items() if p.model_sha256 == self.model_sha256}

    def stale(self) -> list[str]:
        return sorted(n for n, p in self.people.items() if p.model_sha256 != self.model_sha256)

    def add(self, name: str, embeddings: np.ndarray, crops: np.ndarray | None, sources: list[str]) -> Person:
        """Append samples to ``name`` (creating the person) and persist before returning."""
        validate_name(name)
        embeddings = np.asarray(embeddings, np.float32)
        if embeddings.ndim != 2 or embeddings.shape[0] == 0:
            raise InputError("nothing to enroll")
        with self._lock():
            old = self.people.get(name)
            self._check_limits(name, old.count if old is not None and old.model_sha256 == self.model_sha256
                               else 0, embeddings.shape[0])
            fresh = [new_id() for _ in range(embeddings.shape[0])]
            if old is not None and old.model_sha256 == self.model_sha256:
                emb = np.concatenate([old.embeddings, embeddings])
                keep = crops is not None and old.crops is not None
                new_crops = np.concatenate([old.crops, crops]) if keep else None
                srcs = old.sources + sources
                ids = old.sample_ids + fresh
            else:  # new person, or the old samples came from another model
                emb, new_crops, srcs, ids = embeddings, crops, list(sources), fresh
            person = Person(name, emb, self.model_sha256, new_crops, srcs, time.time(), ids)
            self._write(person)
            self.people[name] = person
        return person

    def replace(self, person: Person) -> None:
        """Store ``person`` as is, replacing any previous state (fleet sync applies remote state this way)."""
        validate_name(person.name)
        with self._lock():
            self._check_limits(person.name, 0, person.count)
            self._write(person)
            self.people[person.name] = person

    def _check_limits(self, name: str, have: int, adding: int) -> None:
        """InputError if storing ``adding`` more samples of ``name`` would pass a limit."""
        if name not in self.people and len(self.people) >= self.max_people:
            raise InputError(f"the gallery is full: {len(self.people)} people (gallery.max_people = "
                             f"{self.max_people}); delete someone first, or raise the limit")
        if have + adding > self.max_samples:
            raise InputError(f"{name} would have {have + adding} samples; the limit is {self.max_samples} "
                             "(gallery.max_samples_per_person): delete them and enroll again with fewer images, "
                             "or raise the limit")

    def _write(self, person: Person) -> None:

        try:
            atomic_write(self._path(person.name), encode_person(person))
        except OSError as e:
            self._write_failed(e)
            raise GalleryError(f"{self._path(person.name)}: write failed, gallery unchanged ({e.strerror or e})") from e

    def remove_samples(self, name: str, sample_ids: list[str]) -> Person:
        """Remove some of ``name``'s samples (persisted before returning); InputError for an id ``name`` does
        not have, or when no sample would be left (that is ``delete``)."""
        validate_name(name)
        with self._lock():
            person = self.people.get(name)
            if person is None:
                raise InputError(f"no person named {name!r}")
            missing = [s for s in sample_ids if s not in person.sample_ids]
            if missing:
                raise InputError(f"{name} has no sample {missing[0][:40]!r} (see cmd/list {{\"name\": \"{name}\"}})")
            if not set(person.sample_ids) - set(sample_ids):
                raise InputError(f"that would leave {name} without any sample: delete {name} instead "
                                 "(cmd/delete, frd gallery remove)")
            smaller = person.without(set(sample_ids))
            self._write(smaller)
            self.people[name] = smaller
        return smaller

    def remove(self, name: str) -> None:
        """Forget ``name``: the entry, its quarantined copies and any unfinished write of it."""
        validate_name(name)
        with self._lock():
            if name not in self.people:
                raise InputError(f"no person named {name!r}")
            try:
                os.unlink(self._path(name))
                fsync_dir(self.root)
            except FileNotFoundError:
                pass
            except OSError as e:
                raise GalleryError(f"{self._path(name)}: cannot remove ({e.strerror or e})") from e
            del self.people[name]
            self._purge_traces(name)

    def _purge_traces(self, name: str) -> None:
        left = []
        for p in self._temp_files(name) + self._quarantined_files(name):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
            except OSError as e:
                left.append(f"{p} ({e.strerror or e})")
        if left:
            log.error("could not remove old data of %s: %s", name, ", ".join(left))
        with contextlib.suppress(OSError):
            fsync_dir(self.root)
            if (self.root / QUARANTINE).is_dir():
                fsync_dir(self.root / QUARANTINE)

    def rename(self, old: str, new: str) -> None:
        validate_name(old)
        validate_name(new)
        with self._lock():
            if old not in self.people:
                raise InputError(f"no person named {old!r}")
            if new in self.people or self._path(new).exists():
                raise InputError(f"{new!r} is already enrolled")
            try:
                os.rename(self._path(old), self._path(new))
                fsync_dir(self.root)
            except OSError as e:
                raise GalleryError(f"cannot rename {old!r} to {new!r} ({e.strerror or e})") from e
            person = self.people.pop(old)
            person.name = new
            self.people[new] = person

    def reembed(self, embed) -> list[str]:
        """Re-embed stale people from their stored chips after a model change; returns who was updated.

        Only chips cut as today's are embedded again: a chip of another cut would give an embedding of
        neither space (people enrolled before frd's chip changed must enroll again)."""
        done: list[str] = []
        if not self.stale():
            return done  # nothing to write: no lock (a reader's gallery folder may not exist)
        if self.read_only is not None:
            log.warning("cannot re-embed %s: the gallery is read-only (%s)", ", ".join(self.stale()), self.read_only)
            return done
        with self._lock():
            for name in self.stale():
                p = self.people[name]
                if not p.reembeddable(self.model_sha256):
                    continue
                person = Person(name, embed(p.crops), self.model_sha256, p.crops, p.sources, time.time(),
                                p.sample_ids)
                self._write(person)
                self.people[name] = person
                done.append(name)
        return done
