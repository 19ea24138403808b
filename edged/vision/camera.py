"""Frame sources: image files, folders, video files, cameras and streams.

Everything becomes an iterator of :class:`Frame` (RGB uint8), so the pipeline
does not care where pixels come from. OpenCV's VideoCapture covers V4L2
devices, files and RTSP/HTTP streams (through FFmpeg). The Raspberry Pi camera
modules (CSI) are driven by libcamera on current Raspberry Pi OS, not plain V4L2,
so ``picamera2:<n>`` reads them through the ``picamera2`` library when it is
importable (Raspberry Pi OS ships it as the Debian package python3-picamera2).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..core.errors import InputError
from ..core.sources import IMAGE_SUFFIXES, OTHER_IMAGE_SUFFIXES, source_kind
from .images import FORMATS, load_image
from .picamera import PicameraCapture

log = logging.getLogger(__name__)

#: Longest wait between two attempts to reopen a failed source (not a config option). A camera that comes
#: back is streaming again within this (plus its open), so events resume within seconds of its return.
BACKOFF_MAX_S = 10.0
#: How long opening a network camera, or waiting for its next frame, may take before the attempt fails and
#: is retried (OpenCV's default is 30 s). A camera that is away (a Wi-Fi camera out of reach answers nothing)
#: must not hold its reader in one call longer than frd's liveness check allows (``READER_STALL_S``).
STREAM_TIMEOUT_S = 10.0
#: A reader that has made no progress (no frame read, no attempt to open its camera, no wait between two
#: attempts) for this long is stalled: stuck in a call that does not return. Twice the stream timeout.
READER_STALL_S = 2 * STREAM_TIMEOUT_S
#: What a file that is neither an image frd reads nor a video OpenCV decodes is told.
UNREADABLE_FILE = f"neither an image frd reads ({FORMATS}) nor a video it can decode"


@dataclass
class Frame:
    """A frame as its source gave it. A camera reader hands out OpenCV's BGR (``bgr``): converting every
    1080p frame to RGB would cost an idle camera more than all the rest of frd (0.9 ms a frame, 2.6 % of
    a core at 30 fps), and the tracker works on BGR (only the chips it cuts are turned to RGB)."""

    source: str
    index: int
    image: np.ndarray
    ts: float
    bgr: bool = False
    #: Frames the reader passed over just before this one, unread, because its consumer said it would not
    #: look at them (:meth:`CameraReader.skip_ahead`).
    skipped: int = 0

    @property
    def rgb(self) -> np.ndarray:
        """The frame in RGB (converted on each call for a BGR frame: read it once)."""
        return cv2.cvtColor(self.image, cv2.COLOR_BGR2RGB) if self.bgr else self.image






def open_capture(spec: str | int) -> cv2.VideoCapture | PicameraCapture:
    """A VideoCapture for a camera index, device, file or URL (picamera2 for a Pi camera), or InputError."""
    kind = source_kind(spec)
    if kind == "picamera":
        return PicameraCapture(str(spec))
    if kind == "camera":
        target: str | int = int(spec) if str(spec).isdigit() else str(spec)
        device = Path(f"/dev/video{target}" if isinstance(target, int) else target)
        if sys.platform.startswith("linux") and not device.exists():  # say it, rather than OpenCV's WARN line
            raise InputError(f"{spec}: no such device" if device == Path(str(spec)) else
                             f"camera {spec} ({device}): no such device")
        cap = cv2.VideoCapture(target, cv2.CAP_V4L2) if not isinstance(target, int) else cv2.VideoCapture(target)
    elif kind == "stream":
        ms = int(STREAM_TIMEOUT_S * 1000)
        cap = cv2.VideoCapture(str(spec), cv2.CAP_FFMPEG,
                               [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])
    else:
        if not Path(str(spec)).is_file():
            raise InputError(f"{spec}: no such file")
        cap = cv2.VideoCapture(str(spec))
    if not cap.isOpened():
        if kind == "video":
            raise InputError(f"{spec}: {UNREADABLE_FILE}")
        raise InputError(f"{spec}: cannot open as a {kind}")
    return cap


def read_video(spec: str | int, loop: bool = False) -> Iterator[Frame]:
    """Frames of a video file, camera or stream; ``loop`` replays a file forever. A source that opens but
    gives no frame at all is an InputError (a file OpenCV opens and cannot decode is not an empty video)."""
    cap = open_capture(spec)
    index = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                if loop and source_kind(spec) == "video" and index > 0:
                    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    ok, bgr = cap.read()
                if not ok and index == 0:
                    kind = source_kind(spec)
                    raise InputError(f"{spec}: {UNREADABLE_FILE}" if kind == "video" else
                                     f"{spec}: the {kind} gave no frame")
                if not ok:
                    return
            yield Frame(str(spec), index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), time.time())
            index += 1
    finally:
        cap.release()


def read_images(paths: list[Path]) -> Iterator[Frame | InputError]:
    """Each image as a one-frame source; undecodable ones come back as InputError, not raised."""
    for p in paths:
        try:
            yield Frame(str(p), 0, load_image(p), time.time())
        except InputError as e:
            yield e


def folder_images(folder: Path) -> list[Path]:
    """The images of a folder by their suffix: those frd reads, and those it refuses by name (a GIF, a TIFF:
    said, rather than silently left out)."""
    suffixes = IMAGE_SUFFIXES | OTHER_IMAGE_SUFFIXES
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes and p.is_file())


def frames(spec: str | int, loop: bool = False) -> Iterator[Frame | InputError]:
    """Frames of any source spec."""
    kind = source_kind(spec)
    if kind == "image":
        yield from read_images([Path(str(spec))])
    elif kind == "folder":
        yield from read_images(folder_images(Path(str(spec))))
    else:
        yield from read_video(spec, loop=loop)


class CameraReader:
    """Reads one source in its own thread and keeps only the newest frame.

    A slow pipeline must not fall behind a live camera: a frame not taken
    before the next one arrives is dropped and counted. File sources are paced
    at their own frame rate so a looping clip behaves like a camera. When the
    source fails (device unplugged, stream ends, file removed) the reader
    reports it in ``state`` and reopens it with exponential backoff.

    ``beat`` (CLOCK_MONOTONIC) is when the reader last made progress: a frame read, an attempt to open the
    source, a second of waiting between two attempts. A reader that retries a camera that is away keeps
    beating; one stuck in a call that never returns does not (:attr:`stalled_s`).
    """

    def __init__(
        self,
        name: str,
        source: str | int,
        *,
        loop: bool,
        fps_limit: float | None,
        backoff_max_s: float = BACKOFF_MAX_S,
    ) -> None:
        """``loop`` and ``fps_limit`` are the camera's config (``cameras[]``, whose defaults are the only ones)."""
        import threading

        self.name = name
        self.source = source
        self.loop = loop
        self.fps_limit = fps_limit
        self.backoff_max_s = backoff_max_s
        self.state = "starting"
        self.error: str | None = None
        self.dropped = 0
        self.reconnects = 0
        self._frame: Frame | None = None
        self._skip = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self.beat = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"camera-{name}", daemon=True)

    def start(self) -> CameraReader:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        """Whether the reader's thread runs (False before :meth:`start`, after :meth:`stop` or an ended file)."""
        return self._thread.is_alive()

    def stalled_s(self, now: float) -> float:
        """Seconds since the reader last made progress (0 when it beat just now)."""
        return max(0.0, now - self.beat)

    def take(self, timeout: float) -> Frame | None:
        """The newest unseen frame, waiting up to ``timeout`` seconds."""
        with self._cond:
            if self._frame is None:
                self._cond.wait(timeout)
            frame, self._frame = self._frame, None
            return frame

    def skip_ahead(self, frames: int) -> None:
        """Do not hand out the next ``frames`` frames: they are grabbed (the stream moves on, decoded as far
        as the source must) but not turned into images. An idle tracker looks at one frame in
        ``detect_every``; converting the others cost an empty doorway's camera a third of its reading.
        A camera with ``fps_limit`` passes over nothing: its consumer's schedule already thins the frames,
        and the two would compound."""
        self._skip = max(int(frames), 0) if self.fps_limit is None else 0

    def _put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._cond.notify_all()

    def _wait(self, seconds: float) -> None:
        """Wait between two attempts (until stopped), beating every second: waiting on purpose is progress."""
        end = time.monotonic() + seconds
        while not self._stop.is_set():
            self.beat = now = time.monotonic()
            if now >= end:
                return
            self._stop.wait(min(1.0, end - now))

    def _run(self) -> None:
        delay = 1.0
        kind = source_kind(self.source)
        while not self._stop.is_set():
            self.beat = time.monotonic()
            try:
                cap = open_capture(self.source)
            except InputError as e:
                self._failed(str(e))
                self._wait(delay)
                delay = min(delay * 2, self.backoff_max_s)
                continue
            got_any = self._stream(cap, kind)
            cap.release()
            if self._stop.is_set():
                break
            if kind == "video" and got_any and not self.loop:
                self.state = "ended"
                log.info("camera %s: end of %s (loop is off)", self.name, self.source)
                return
            self._failed(f"{self.source}: no more frames")
            if got_any:
                delay = 1.0
            self._wait(delay)
            delay = min(delay * 2, self.backoff_max_s)
        self.state = "stopped"

    def _failed(self, msg: str) -> None:
        if self.state != "reconnecting" or self.error != msg:  # one line per change, not per retry
            log.warning("camera %s: %s; retrying (every %g s at most)", self.name, msg, self.backoff_max_s)
        self.state = "reconnecting"
        self.error = msg
        self.reconnects += 1

    def _stream(self, cap: cv2.VideoCapture | PicameraCapture, kind: str) -> bool:
        # Files are paced like a camera (at their own rate, or fps_limit if lower);
        # live sources are read as fast as they deliver and the newest frame wins.
        rates = [r for r in (cap.get(cv2.CAP_PROP_FPS), self.fps_limit) if r and r > 0] if kind == "video" else []
        period = 1.0 / min(rates) if rates else 0.0
        index, got_any, skipped = 0, False, 0
        next_t = time.monotonic()
        grab = getattr(cap, "grab", None)  # a Pi camera (picamera2) only reads
        while not self._stop.is_set():
            self.beat = time.monotonic()
            skip = self._skip > 0 and grab is not None
            if skip:
                ok = grab()
            else:
                ok, bgr = cap.read()
            if not ok:
                if kind == "video" and self.loop and index > 0:
                    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    ok, bgr = cap.read()
                    skip = False
                if not ok:
                    return got_any
            got_any = True
            if period:
                next_t += period
                pause = next_t - time.monotonic()
                if pause > 0:
                    self._stop.wait(pause)
                else:
                    next_t = time.monotonic()
            if self.state != "streaming":
                log.info("camera %s: %s", self.name, "back, streaming" if self.state == "reconnecting" else "streaming")
            self.state, self.error = "streaming", None
            if skip:
                self._skip -= 1
                skipped += 1
            else:
                self._put(Frame(self.name, index, bgr, time.monotonic(), bgr=True, skipped=skipped))
                skipped = 0
            index += 1
        return got_any
