"""systemd notification: READY, STATUS, WATCHDOG, RELOADING, STOPPING.

Uses the ``sdnotify`` package; without ``$NOTIFY_SOCKET`` every call is a
no-op, so frd runs the same outside systemd. The watchdog is fed by
:meth:`Notifier.alive`, which the daemon's frame loop calls only while every
loop of frd's own runs (:mod:`edged.daemon.liveness`): a hung model or a
stalled loop stops the feed and lets systemd restart the service, while a
camera that is away (its reader retrying) does not.
"""

from __future__ import annotations

import os
import threading
import time

import sdnotify


class Notifier:
    def __init__(self) -> None:
        self.enabled = bool(os.environ.get("NOTIFY_SOCKET"))
        self._sd = sdnotify.SystemdNotifier() if self.enabled else None
        usec = os.environ.get("WATCHDOG_USEC", "")
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 else None
        pid = os.environ.get("WATCHDOG_PID")
        if pid and pid.isdigit() and int(pid) != os.getpid():
            self.watchdog_s = None  # the watchdog belongs to another process
        # feed at most four times per watchdog period (and at least once a second when none is set)
        self._feed_every = self.watchdog_s / 4 if self.watchdog_s else 1.0
        self._last_feed = 0.0
        self._lock = threading.Lock()

    def _send(self, msg: str) -> None:
        if self._sd is None:
            return
        with self._lock:
            self._sd.notify(msg)

    def ready(self) -> None:
        self._send("READY=1")

    def status(self, text: str) -> None:
        self._send("STATUS=" + text.replace("\n", " ")[:200])

    def reloading(self) -> None:
        mono_usec = int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6)
        self._send(f"RELOADING=1\nMONOTONIC_USEC={mono_usec}")

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def alive(self) -> None:
        """Every loop of frd's own runs: feed the watchdog (rate-limited)."""
        now = time.monotonic()
        if now - self._last_feed >= self._feed_every:
            self._last_feed = now
            self._send("WATCHDOG=1")
