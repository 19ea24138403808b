"""A process's memory, as the kernel counts it: its peak RSS (``VmHWM``), and a memory cgroup with a limit.

systemd runs frd with ``MemoryMax=1G``: a memory cgroup. A test can do the same where the machine lets it
create a child of its own memory cgroup (root, cgroup v1 or v2 with the memory controller delegated):
:meth:`MemoryCgroup.create` says whether it could, and why not. Nothing here depends on pytest.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

MiB = 1024 * 1024


def vm_hwm(pid: int) -> int:
    """The process's peak resident set size since it started, or since :func:`reset_hwm`, in bytes."""
    return _status(pid)["VmHWM"]


def vm_rss(pid: int) -> int:
    return _status(pid)["VmRSS"]


def _status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(value.split()[0]) * 1024
    return out


def reset_hwm(pid: int) -> None:
    """Set the peak to the current RSS (proc(5), ``clear_refs``: 5), so the next peak is one attack's."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


class MemoryCgroup:
    """A child memory cgroup of this process's own, limited to ``limit`` bytes; the child of a Popen joins it
    with ``preexec_fn=cg.join``."""

    def __init__(self, path: Path, v2: bool, limit: int) -> None:
        self.path = path
        self.v2 = v2
        self.limit = limit

    @classmethod
    def create(cls, limit: int, name: str) -> tuple[MemoryCgroup | None, str]:
        """(the cgroup, how) or (None, why it could not be made here)."""
        try:
            lines = Path("/proc/self/cgroup").read_text().splitlines()
        except OSError as e:
            return None, f"/proc/self/cgroup: {e}"
        v1 = next((ln.split(":", 2)[2] for ln in lines if ln.split(":")[1:2] == ["memory"]), None)
        v2 = next((ln.split(":", 2)[2] for ln in lines if ln.startswith("0::")), None)
        tries = []
        if v1 is not None:
            tries.append((Path("/sys/fs/cgroup/memory") / v1.lstrip("/") / name, False))
        if v2 is not None:
            for root in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
                if (root / "cgroup.controllers").exists():
                    tries.append((root / v2.lstrip("/") / name, True))
        why = []
        for path, is_v2 in tries:
            try:
                path.mkdir()
            except OSError as e:
                why.append(f"{path}: {e.strerror}")
                continue
            try:
                (path / ("memory.max" if is_v2 else "memory.limit_in_bytes")).write_text(str(limit))
                if not is_v2:
                    with contextlib.suppress(OSError):  # no swap beyond the limit either, where swap is counted
                        (path / "memory.memsw.limit_in_bytes").write_text(str(limit))
            except OSError as e:
                why.append(f"{path}: cannot set a limit ({e.strerror})")
                path.rmdir()
                continue
            kind = "cgroup v2 memory.max" if is_v2 else "cgroup v1 memory.limit_in_bytes"
            return cls(path, is_v2, limit), f"{kind} = {limit // MiB} MiB at {path}"
        return None, "; ".join(why) or "no memory cgroup to make a child of"

    def join(self) -> None:
        """In a child process before it execs: move it into this cgroup."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def peak(self) -> int:
        """The most memory the cgroup was charged (v1: includes page cache, which the kernel reclaims first)."""
        name = "memory.peak" if self.v2 else "memory.max_usage_in_bytes"
        with contextlib.suppress(OSError, ValueError):
            return int((self.path / name).read_text())
        return -1

    def oom_kills(self) -> int:
        """How many processes the kernel killed for the cgroup's limit."""
        name = "memory.events" if self.v2 else "memory.oom_control"
        with contextlib.suppress(OSError):
            for line in (self.path / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        return 0

    def remove(self) -> None:
        """Once its processes have exited."""
        with contextlib.suppress(OSError):
            self.path.rmdir()
