"""``frd gallery export`` / ``import``: the gallery backup, one zip file.

The zip holds ``backup.json`` (the manifest) and one ``people/<name>.npz`` per person in the gallery's own
entry format (:func:`~edged.store.gallery.encode_person`: embeddings, chips, model sha256), and the ignore
list's bytes when there is one. Biometric data: written 0600, atomically.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

from ..core.errors import GalleryError, InputError
from ..core.files import atomic_write
from ..core.names import validate_name
from .gallery import SUFFIX, Gallery, Person, decode_person, encode_person, iso_time

#: ``frd gallery export``'s file: a zip holding ``backup.json`` and one ``people/<name>.npz`` per person
#: (the gallery's own entry format: embeddings, chips, model sha256). Biometric data: written 0600.
BACKUP_FORMAT = "frd-gallery-backup"
BACKUP_VERSION = 1
BACKUP_MANIFEST = "backup.json"
#: A backup entry larger than this (uncompressed) is refused: a person's 50 samples with chips are ~4 MB.
MAX_BACKUP_ENTRY = 256 * 1024 * 1024
#: The ignore list's bytes (edged/store/ignore.py's format) in a backup, when there is one.
BACKUP_IGNORED = "ignored-faces"


def export_backup(gallery: Gallery, path: Path, ignored: bytes | None = None) -> dict:
    """Write every person of ``gallery`` (and the ignore list's bytes, if given) to one zip file at ``path``
    (mode 0600, atomically); returns the summary."""
    people = [gallery.people[n] for n in gallery.names()]
    manifest = {"format": BACKUP_FORMAT, "version": BACKUP_VERSION, "model_sha256": gallery.model_sha256,
                "created": iso_time(time.time()),
                "people": [{"name": p.name, "samples": p.count, "crops": p.crops is not None,
                            "model_sha256": p.model_sha256} for p in people],
                "ignored": ignored is not None}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(BACKUP_MANIFEST, json.dumps(manifest, indent=1))
        for p in people:
            z.writestr(f"people/{p.name}{SUFFIX}", encode_person(p))
        if ignored is not None:
            z.writestr(BACKUP_IGNORED, ignored)
    path = Path(path)
    try:
        atomic_write(path, buf.getvalue())
    except OSError as e:
        raise GalleryError(f"{path}: cannot write the backup ({e.strerror or e})") from e
    return {"file": str(path), "people": [p.name for p in people], "model_sha256": gallery.model_sha256}


def read_backup(path: Path) -> list[Person]:
    """The people in a backup written by :func:`export_backup`; InputError (nothing read) for anything else."""
    path = Path(path)
    try:
        z = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, OSError) as e:
        raise InputError(f"{path}: not an frd gallery backup ({e})") from None
    with z:
        try:
            manifest = json.loads(_entry(z, BACKUP_MANIFEST))
        except (KeyError, ValueError) as e:
            raise InputError(f"{path}: not an frd gallery backup (no readable {BACKUP_MANIFEST}: {e})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != BACKUP_FORMAT:
            raise InputError(f"{path}: not an frd gallery backup")
        if manifest.get("version") != BACKUP_VERSION:
            raise InputError(f"{path}: backup version {manifest.get('version')!r} is not supported "
                             f"(this frd reads version {BACKUP_VERSION})")
        entries = manifest.get("people")
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise InputError(f"{path}: the backup's list of people is damaged")
        people = []
        for e in entries:
            name = e.get("name")
            try:
                validate_name(name)
                people.append(decode_person(name, _entry(z, f"people/{name}{SUFFIX}")))
            except InputError as err:
                raise InputError(f"{path}: {err}") from None
            except Exception as err:
                raise InputError(f"{path}: the entry of {str(name)[:64]!r} is damaged ({err})") from None
    if len({p.name for p in people}) != len(people):
        raise InputError(f"{path}: a person appears twice in the backup")
    return people


def read_backup_ignored(path: Path) -> tuple[str, bytes] | None:
    """(the backup's model sha256, the ignore list's bytes), or None when the backup holds no ignore list.

    Call after :func:`read_backup` accepted the file."""
    with zipfile.ZipFile(path) as z:
        if BACKUP_IGNORED not in z.namelist():
            return None
        try:
            manifest = json.loads(_entry(z, BACKUP_MANIFEST))
            return str(manifest["model_sha256"]), _entry(z, BACKUP_IGNORED)
        except (KeyError, ValueError, TypeError) as e:
            raise InputError(f"{path}: the backup's ignore list is damaged ({e})") from None


def _entry(z, name: str) -> bytes:
    """One member of a backup zip, refused when it claims to be larger than any real entry."""
    info = z.getinfo(name)
    if info.file_size > MAX_BACKUP_ENTRY:
        raise ValueError(f"{name} is {info.file_size} bytes; at most {MAX_BACKUP_ENTRY} expected")
    with z.open(info) as f:
        data = f.read(MAX_BACKUP_ENTRY + 1)
    if len(data) > MAX_BACKUP_ENTRY:
        raise ValueError(f"{name} is larger than {MAX_BACKUP_ENTRY} bytes")
    return data
