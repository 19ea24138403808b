"""Whether frd's own loops run: what the systemd watchdog is fed on.

A camera that is away is a camera state, not a failure of frd: its reader keeps retrying (and says so in the
status), and frd keeps feeding the watchdog. What starves the watchdog is a loop of frd's own that has stopped
coming round: the frame loop, a camera's frame thread or child process stuck on a frame (a hung model), a
camera reader stuck in a call that never returns, the command thread stuck on one command longer than any
command may take, or paho's network thread gone. systemd then kills and restarts frd.

Each loop says it came round (:meth:`Beats.beat`); the frame loop (the daemon's main thread) checks them all
before it feeds the watchdog, so a frame loop that is stuck itself feeds nothing.
"""

from __future__ import annotations

from typing import Any

from ..mqtt.commands import MAX_CAPTURE_TIMEOUT_S
from ..vision.camera import READER_STALL_S

#: A loop of frd's own (a camera's frame thread, a camera reader, a camera process) that has not come round for
#: this long is stalled. The longest legitimate wait inside one is a network camera's open or read timeout
#: (``STREAM_TIMEOUT_S``, 10 s), or one frame through the pipeline on a slow board (well under a second).
LOOP_STALL_S = READER_STALL_S
#: The command thread may spend this long on one command: a capture enrollment waits for frames for up to
#: ``MAX_CAPTURE_TIMEOUT_S`` (60 s).
COMMAND_STALL_S = MAX_CAPTURE_TIMEOUT_S + LOOP_STALL_S


class Beats:
    """When each loop last came round, and how long it may go without (CLOCK_MONOTONIC seconds)."""

    def __init__(self) -> None:
        self._at: dict[str, tuple[float, float]] = {}

    def beat(self, name: str, now: float, limit_s: float = LOOP_STALL_S) -> None:
        self._at[name] = (now, limit_s)  # one dict item: safe without a lock under the GIL

    def stalled(self, now: float) -> dict[str, str]:
        """``{loop: why}`` for each loop past its limit."""
        out = {}
        for name, (at, limit) in list(self._at.items()):
            if now - at > limit:
                out[name] = f"{name} has not come round for {now - at:.0f} s"
        return out


def reader_problem(name: str, reader: Any, now: float) -> str | None:
    """Why camera ``name``'s reader (a thread, or a camera process) does not run, or None while it does.

    A reader that does not say (a test's or a benchmark's replay, without ``running`` and ``stalled_s``) is not
    judged. A reader retrying a camera that is away runs: its waits between attempts are progress.
    """
    running = getattr(reader, "running", None)
    if running is None:
        return None
    if not running:
        if getattr(reader, "state", None) == "ended":
            return f"camera {name}: its source has ended (loop is off)"
        return f"camera {name}: its reader has stopped"
    idle = reader.stalled_s(now)
    if idle > LOOP_STALL_S:
        return f"camera {name}: its reader has made no progress for {idle:.0f} s (stuck in a call)"
    return None
