"""A network camera for the booted hosts: the clip served as HTTP/MJPEG by ffmpeg on this machine, which can be
switched off (a camera that is away) and on again.

The hosts share this machine's network, so ``http://127.0.0.1:PORT/live.mjpg`` reaches it from inside. ffmpeg's
``-listen 1`` serves one client and ends when it disconnects (frd restarted, an upgrade), so a thread here starts
it again each time, until :meth:`StreamCamera.off`.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest


def listening(port: int) -> bool:
    """Whether something listens on the port, read from /proc (a probe connection would be the one client
    ``-listen 1`` serves)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                    return True
    return False


class StreamCamera:
    """The clip, looping at its own pace and sent at 5 fps, as multipart JPEG over HTTP; on until :meth:`off`."""

    def __init__(self, clip: Path, port: int) -> None:
        if shutil.which("ffmpeg") is None:
            pytest.fail("ffmpeg is not installed (apt-get install ffmpeg; scripts/test installs it)")
        self.clip, self.port = clip, port
        self.url = f"http://127.0.0.1:{port}/live.mjpg"
        self._on = threading.Event()
        self._closed = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.served = 0  # clients served so far
        self._thread = threading.Thread(target=self._run, name="stream-camera", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", str(self.clip),
               "-an", "-r", "5", "-c:v", "mjpeg", "-q:v", "3", "-f", "mpjpeg", "-listen", "1", self.url]
        while not self._closed.is_set():
            if not self._on.wait(0.2):
                continue
            with self._lock:
                if not self._on.is_set():
                    continue
                self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL, start_new_session=True)
            self._proc.wait()
            self.served += 1
            time.sleep(0.2)

    def on(self, timeout: float = 15.0) -> None:
        """Plug the camera in; returns once it listens."""
        self._on.set()
        deadline = time.monotonic() + timeout
        while not listening(self.port):
            assert time.monotonic() < deadline, f"ffmpeg did not listen on {self.port} within {timeout} s"
            time.sleep(0.05)

    def off(self) -> None:
        """Unplug it: the server goes, and its port is closed until :meth:`on`."""
        with self._lock:
            self._on.clear()
            if self._proc is not None and self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait(10)

    def close(self) -> None:
        self._closed.set()
        self.off()
        self._thread.join(5)
