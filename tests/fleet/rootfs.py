"""A Debian bookworm root file system for the fleet test hosts, built once with debootstrap and cached.

The cache lives outside the repository (``$FRD_FLEET_CACHE``, default ``/var/cache/frd-fleet``) under a
name that hashes everything that goes into it, so changing the package list builds a new one and an old
one is never reused by mistake. A build goes to a temporary folder and is renamed into place only when
complete; a lock file serialises concurrent builders.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

SUITE = "bookworm"
MIRROR = os.environ.get("FRD_FLEET_MIRROR", "http://deb.debian.org/debian")

#: What a managed edge device is assumed to have: an init, an SSH server and python3 for ansible
#: (python3-apt for its apt module), venv for the releases, mosquitto_sub for the health gate.
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "python3-venv",
    "python3-apt",
    "mosquitto-clients",
    "ca-certificates",
    "iproute2",
)

#: Bump when the post-debootstrap tweaks below change.
RECIPE = 1


def cache_root() -> Path:
    """``$FRD_FLEET_CACHE``, else /var/cache/frd-fleet as root, else ~/.cache/frd-fleet."""
    given = os.environ.get("FRD_FLEET_CACHE")
    if given:
        return Path(given)
    return Path("/var/cache/frd-fleet") if os.geteuid() == 0 else Path.home() / ".cache/frd-fleet"


def rootfs_key() -> str:
    text = "\n".join([SUITE, MIRROR, str(RECIPE), *sorted(PACKAGES)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _finish(root: Path) -> None:
    """Make the tree a neutral template: each booted copy gets its own identity and sshd port."""
    (root / "etc/machine-id").write_text("")  # empty: systemd generates one per boot unless a copy sets it
    with contextlib.suppress(FileNotFoundError):
        (root / "var/lib/dbus/machine-id").unlink()
    (root / "etc/hostname").write_text("fleet-template\n")
    # No getty on a console nobody reads; nspawn's console is a pipe in the tests.
    for unit in ("getty@tty1.service", "console-getty.service"):
        with contextlib.suppress(FileNotFoundError):
            (root / "etc/systemd/system/getty.target.wants" / unit).unlink()
    # apt caches are not needed on the template.
    shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
    (root / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
    (root / ".frd-fleet-rootfs").write_text(rootfs_key() + "\n")


def ensure_rootfs(log: Path | None = None) -> Path:
    """The cached root for the current package list, debootstrapping it first if needed (a few minutes)."""
    base = cache_root()
    final = base / f"{SUITE}-{rootfs_key()}"
    if (final / ".frd-fleet-rootfs").is_file():
        return final
    with _locked(base / ".rootfs.lock"):
        if (final / ".frd-fleet-rootfs").is_file():
            return final
        tmp = base / f".{final.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [
            "debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(tmp), MIRROR,
        ]
        out = log.open("ab") if log else subprocess.DEVNULL
        try:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  check=False, timeout=1800)
        finally:
            if log:
                out.close()
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            detail = log.read_text(errors="replace")[-3000:] if log else ""
            raise RuntimeError(f"debootstrap failed with {proc.returncode}\n{detail}")
        _finish(tmp)
        tmp.rename(final)
    return final
