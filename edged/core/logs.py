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
import threading
import time
import weakref
from collections.abc import Callable, Iterator

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


#: Kinds :class:`Tally` counts apart within one interval; the rest are counted as "other".
MAX_KINDS = 50
#: Every tally, so that one timer reports the floods that stopped (:func:`flush_tallies`).
_TALLIES: weakref.WeakSet[Tally] = weakref.WeakSet()


def flush_tallies() -> None:
    """Each tally's count of lines held back, at the end of its interval (the daemon's status timer calls it)."""
    for tally in list(_TALLIES):
        tally.flush()


class Tally:
    """A warning that may come thousands of times a second (refused commands, dropped messages), logged as a
    count: the first ``burst`` lines of an interval in full, then one line per interval with how many more there
    were and of which kinds.

    One line per refused message let a flood write 132,000 lines (and slowed the thread that logged them);
    the counts say the same in a few. Thread-safe; :meth:`flush` (the status timer) reports a flood that
    stopped.
    """

    def __init__(self, logger: logging.Logger, what: str, interval_s: float = 10.0, burst: int = 5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.what = what
        self.interval_s = interval_s
        self.burst = burst
        self.clock = clock
        self._lock = threading.Lock()
        self._start = clock()
        self._logged = 0
        self._held: dict[str, int] = {}  # kind -> lines not logged this interval
        self.total = 0
        _TALLIES.add(self)

    def warning(self, kind: str, msg: str, *args: object) -> None:
        """Log ``msg % args`` unless ``burst`` lines were logged this interval; then count it under ``kind``."""
        self.flush()
        with self._lock:
            self.total += 1
            if self._logged < self.burst:
                self._logged += 1
                held = False
            else:
                if kind not in self._held and len(self._held) >= MAX_KINDS:
                    kind = "other"  # kinds may carry what a sender chose: their number stays bounded
                self._held[kind] = self._held.get(kind, 0) + 1
                held = True
        if not held:
            self.logger.warning(msg, *args)

    def flush(self) -> None:
        """At the end of an interval: one line with the count of what was not logged, by kind."""
        now = self.clock()
        with self._lock:
            if now - self._start < self.interval_s:
                return
            span, held = now - self._start, self._held
            self._start, self._logged, self._held = now, 0, {}
        if held:
            kinds = ", ".join(f"{k}: {n}" for k, n in sorted(held.items(), key=lambda kv: -kv[1])[:10])
            self.logger.warning("%d more %s in the last %.0f s (%s)", sum(held.values()), self.what, span, kinds)
