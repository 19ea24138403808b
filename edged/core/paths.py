"""Where state lives when nobody says: systemd's StateDirectory, /var/lib/frd, or the user's data dir."""

from __future__ import annotations

import os
from pathlib import Path


def state_dir() -> Path:
    """``$STATE_DIRECTORY`` (first entry), else ``/var/lib/frd`` if it exists and is writable, else XDG data."""
    env = os.environ.get("STATE_DIRECTORY")
    if env:
        return Path(env.split(":")[0])
    system = Path("/var/lib/frd")
    if system.is_dir() and os.access(system, os.W_OK | os.X_OK):
        return system
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "frd"


def default_gallery() -> Path:
    return state_dir() / "gallery"
