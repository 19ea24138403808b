"""Where state lives when nobody says: systemd's StateDirectory, /var/lib/frd, or the user's data dir.

One rule for ``frd run`` and every command, with a config file or without: a gallery enrolled with ``frd
enroll`` is the gallery the daemon reads unless a config says otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The state directory of an installed frd (systemd's ``StateDirectory=frd``).
SYSTEM_STATE = Path("/var/lib/frd")


def state_dir() -> Path:
    """``$STATE_DIRECTORY`` (first entry), else ``/var/lib/frd`` if it exists, else XDG data.

    /var/lib/frd counts when it exists even if this user cannot write it (it is the service's, mode 0700):
    the command line then says so (permission denied) instead of quietly using a gallery of its own that
    the daemon never reads."""
    env = os.environ.get("STATE_DIRECTORY")
    if env:
        return Path(env.split(":")[0])
    if SYSTEM_STATE.is_dir():
        return SYSTEM_STATE
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "frd"


def default_gallery() -> Path:
    """``<state dir>/gallery`` (:func:`state_dir`): gallery.path's default."""
    return state_dir() / "gallery"
