"""Run aarch64 binaries on this machine: qemu-user through binfmt_misc, registered if it is not yet.

Debian's qemu-user-static ships the registration (``/usr/lib/binfmt.d/qemu-aarch64.conf``, flag ``F``:
the kernel opens the interpreter once, so it works inside a chroot or container without a copy of
qemu in it). :func:`ensure_binfmt` mounts binfmt_misc if needed, enables or registers the entry, and
says precisely why when it cannot -- the aarch64 tier skips (or, in CI, fails) with that reason.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

BINFMT = Path("/proc/sys/fs/binfmt_misc")
#: Debian architecture -> (binfmt entry, qemu-user-static's registration line).
ENTRIES = {"arm64": ("qemu-aarch64", Path("/usr/lib/binfmt.d/qemu-aarch64.conf"))}


class EmulationUnavailable(RuntimeError):
    """binfmt_misc cannot run the architecture here; the message says why and what would fix it."""


def _entry_state(name: str) -> tuple[bool, str]:
    path = BINFMT / name
    if not path.is_file():
        return False, ""
    text = path.read_text()
    flags = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("flags:")), "")
    return text.startswith("enabled"), flags


def ensure_binfmt(arch: str = "arm64") -> str:
    """Make ``arch`` binaries runnable (mount, enable or register); return the entry's flags."""
    if arch not in ENTRIES:
        raise EmulationUnavailable(f"no binfmt entry known for {arch}")
    name, conf = ENTRIES[arch]
    if not (BINFMT / "register").exists():
        proc = subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)],
                              capture_output=True, text=True, check=False)
        if not (BINFMT / "register").exists():
            raise EmulationUnavailable(
                f"binfmt_misc is not mounted at {BINFMT} and mounting it failed "
                f"({(proc.stderr or proc.stdout).strip() or proc.returncode}); a container needs it from its host")
    enabled, flags = _entry_state(name)
    if not enabled and (BINFMT / name).is_file() and shutil.which("update-binfmts"):
        subprocess.run(["update-binfmts", "--enable", name], capture_output=True, check=False)
        enabled, flags = _entry_state(name)
    if not enabled and not (BINFMT / name).is_file():
        if not conf.is_file():
            raise EmulationUnavailable(f"{conf} is missing (apt-get install qemu-user-static binfmt-support)")
        line = conf.read_text().strip()
        try:
            (BINFMT / "register").write_text(line)
        except OSError as e:
            raise EmulationUnavailable(f"cannot register {name} with binfmt_misc: {e}") from e
        enabled, flags = _entry_state(name)
    if not enabled:
        raise EmulationUnavailable(f"the binfmt_misc entry {name} exists but cannot be enabled")
    if "F" not in flags:
        raise EmulationUnavailable(
            f"{name} is registered without the F flag ({flags!r}), so a chroot would need its own qemu; "
            f"re-register it from {conf} (update-binfmts --disable/--enable {name})")
    return flags
