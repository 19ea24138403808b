"""Files: written so that a crash leaves the old file or the new one, never a mix; private when they hold
secrets or biometric data.

One implementation for every file frd writes in place (gallery entries, the ignore list, used command nonces,
fleet tombstones, backups) and for the check every secret file passes before it is read.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import FrdError

#: :func:`atomic_write`'s temporary files are ``.<name>.<random><TEMP_SUFFIX>`` beside the file.
TEMP_SUFFIX = ".tmp"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_private(path: Path) -> None:
    """Biometric data is for frd's user only: 0600 even if an older version or a copy left it readable."""
    with contextlib.suppress(OSError):
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old or the new file, never a mix."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def check_private(path: Path, what: str) -> None:
    """FrdError when a secret file may be read by its group or by others: whoever can read it can sign."""
    try:
        mode = Path(path).stat().st_mode & 0o777
    except OSError:
        return  # reading it reports why
    if mode & 0o077:
        who = " and ".join(w for w, bits in (("its group", 0o070), ("others", 0o007)) if mode & bits)
        raise FrdError(f"{path}: the {what} may be read by {who} (mode {mode:04o}); refusing to use it. Fix: "
                       f"chmod 600 {path} (owned by the user frd runs as), or pass it as a systemd credential")
