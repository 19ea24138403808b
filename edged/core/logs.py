"""Logging a person can read: frd's own lines only, one per state change, journald-aware.

At the default level nothing from third-party libraries reaches stderr: OpenCV's
``[ WARN:0@2.661] …`` lines are silenced through ``cv2.utils.logging`` (frd reports
a missing camera itself), and TFLite's C++ ``INFO: Created TensorFlow Lite XNNPACK
delegate`` line is caught at the file-descriptor level (:func:`captured_stderr`)
and logged at debug level. Under systemd (``$JOURNAL_STREAM`` names our stderr)
lines carry a ``<N>`` syslog priority and no timestamp: journald adds both.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator

LEVELS = ("debug", "info", "warning", "error")

#: logging level -> syslog priority, which journald reads from a "<N>" line prefix
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def under_journald(stream: object = None, environ: dict | None = None) -> bool:
    """Whether ``stream`` (stderr) is connected to the journal, as ``$JOURNAL_STREAM`` (device:inode) says."""
    env = os.environ if environ is None else environ
    value = env.get("JOURNAL_STREAM", "")
    dev, _, ino = value.partition(":")
    if not (dev.isdigit() and ino.isdigit()):
        return False
    try:
        st = os.fstat((stream or sys.stderr).fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return st.st_dev == int(dev) and st.st_ino == int(ino)


class _JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prio = _PRIORITY.get(record.levelno, 6)
        return "\n".join(f"<{prio}>{line}" for line in super().format(record).splitlines() or [""])


def setup(level: str, *, daemon: bool = False) -> None:
    """Configure the root logger once: ``level`` is one of :data:`LEVELS`.

    ``daemon``: a long-running ``frd run`` in a terminal gets timestamps; one-shot commands keep
    the short ``frd: WARNING: …`` form.
    """
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    if under_journald(sys.stderr):
        handler.setFormatter(_JournalFormatter("%(levelname)s: %(message)s"))
    elif daemon:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    else:
        handler.setFormatter(logging.Formatter("frd: %(levelname)s: %(message)s"))
    root.addHandler(handler)
    set_level(level)
    quiet_third_parties()


def set_level(level: str) -> None:
    """Set frd's level; libraries stay at warning unless frd is debugging."""
    lvl = getattr(logging, level.upper())
    logging.getLogger().setLevel(lvl)
    for name in ("paho", "amqtt", "matplotlib", "PIL", "asyncio"):
        logging.getLogger(name).setLevel(lvl if lvl <= logging.DEBUG else max(lvl, logging.WARNING))


def quiet_third_parties() -> None:
    """OpenCV prints to stderr from C++ on its own ("[ WARN:0@…] can't capture by name"): errors only."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # for code that imports cv2 later, and FFmpeg's backend
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET: frd reports a failed stream itself
    try:
        import cv2

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except (ImportError, AttributeError):
        pass


@contextlib.contextmanager
def captured_stderr(what: str) -> Iterator[None]:
    """Catch what C/C++ code writes to file descriptor 2 meanwhile and log it at debug level.

    TFLite announces its XNNPACK delegate with ``INFO: …`` on stderr for every interpreter; that is
    not frd's voice. Only the creating thread should print meanwhile (frd builds pipelines at start).
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(ValueError, OSError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", "replace")
            log = logging.getLogger("frd")
            for line in text.splitlines():
                if line.strip():
                    log.log(logging.DEBUG if line.startswith("INFO:") else logging.WARNING, "%s: %s", what, line)
