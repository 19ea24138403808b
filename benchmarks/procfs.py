"""What the benchmarks read of a process from /proc: its CPU time and its memory (Linux only)."""

from __future__ import annotations

import os
from pathlib import Path

CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """CPU seconds (user + system) a process, every thread of it, or one thread (``tid``) has used so far."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime + stime


def field_kb(pid: int, file: str, key: str) -> int:
    """A ``Key: N kB`` line of ``/proc/PID/<file>`` (``status``: ``VmHWM`` is the peak RSS;
    ``smaps_rollup``: ``Pss`` counts shared pages once across processes), in kB; 0 when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
