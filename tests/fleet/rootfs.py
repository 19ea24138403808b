"""A Debian bookworm root file system for the fleet test hosts, built once with debootstrap and cached.

The native root (this machine's architecture) is one debootstrap run. A foreign one (``arch="arm64"``
for the aarch64 tier) is debootstrapped with ``--foreign`` and finished with the second stage inside a
chroot, which runs under qemu-user through binfmt_misc (tests/fleet/emulation.py registers it).

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


def rootfs_key(arch: str | None = None) -> str:
    """Hash of what goes into a root; the native one keeps the key it always had."""
    parts = [SUITE, MIRROR, str(RECIPE), *sorted(PACKAGES)]
    if arch is not None:
        parts.insert(0, f"arch={arch}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _finish(root: Path, key: str) -> None:
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
    (root / ".frd-fleet-rootfs").write_text(key + "\n")


def _unmount_below(path: Path) -> None:
    prefix = str(path.resolve()) + "/"
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for mnt in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mnt], check=False, capture_output=True)


def _debootstrap(cmd: list[str], log: Path | None, timeout: float) -> int:
    out = log.open("ab") if log else subprocess.DEVNULL
    try:
        return subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              check=False, timeout=timeout).returncode
    finally:
        if log:
            out.close()


def ensure_rootfs(log: Path | None = None, arch: str | None = None) -> Path:
    """The cached root for the current package list, debootstrapping it first if needed.

    ``arch=None`` is this machine's architecture (a minute or two). A foreign ``arch`` (``"arm64"``) needs
    binfmt_misc to run its binaries and takes about ten minutes: the second stage runs emulated.
    """
    base = cache_root()
    key = rootfs_key(arch)
    final = base / (f"{SUITE}-{key}" if arch is None else f"{SUITE}-{arch}-{key}")
    if (final / ".frd-fleet-rootfs").is_file():
        return final
    with _locked(base / f".rootfs{'' if arch is None else '-' + arch}.lock"):
        if (final / ".frd-fleet-rootfs").is_file():
            return final
        tmp = base / f".{final.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        foreign = [f"--arch={arch}", "--foreign"] if arch is not None else []
        cmd = ["debootstrap", *foreign, "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(tmp),
               MIRROR]
        rc = _debootstrap(cmd, log, 1800)
        stage = "debootstrap"
        if rc == 0 and arch is not None:
            stage = "debootstrap --second-stage (emulated)"
            rc = _debootstrap(["chroot", str(tmp), "/debootstrap/debootstrap", "--second-stage"], log, 3600)
        if rc != 0:
            _unmount_below(tmp)  # a failed second stage can leave its /proc and /sys mounted
            shutil.rmtree(tmp, ignore_errors=True)
            detail = log.read_text(errors="replace")[-3000:] if log else ""
            raise RuntimeError(f"{stage} failed with {rc}\n{detail}")
        _finish(tmp, key)
        tmp.rename(final)
    return final
