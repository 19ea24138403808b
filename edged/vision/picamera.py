"""Raspberry Pi camera modules (CSI) through picamera2, behind the VideoCapture interface the readers use.

On current Raspberry Pi OS these cameras are driven by libcamera, not by plain V4L2, so OpenCV cannot open
them. ``picamera2`` (Debian package python3-picamera2; its libcamera bindings are not on PyPI) can; it is imported
only when such a source is opened, so frd runs everywhere else without it and says what to install when a
``picamera2:`` source is configured where it is missing. Separate from camera.py so that config validation
can check the syntax without importing OpenCV.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import InputError

#: ``picamera2:0``, ``libcamera:1@1280x720``: a libcamera camera (by number) and an optional capture size.
PICAMERA_PREFIXES = ("picamera2:", "libcamera:")
_PICAMERA = re.compile(r"^(?:picamera2|libcamera):(?P<index>\d{1,2})(?:@(?P<w>\d{2,5})x(?P<h>\d{2,5}))?$")
#: Capture size when the spec gives none: enough for faces across a room, cheap to convert.
PICAMERA_DEFAULT_SIZE = (1280, 720)
PICAMERA_HELP = (
    "the picamera2 module is not importable here. On Raspberry Pi OS: `sudo apt install python3-picamera2` "
    "and create frd's virtualenv with `python3 -m venv --system-site-packages` (picamera2 and libcamera come "
    "from Debian packages, not from PyPI). A USB camera is a V4L2 device instead (/dev/video0), a network "
    "camera an rtsp:// URL."
)


@dataclass(frozen=True)
class PicameraSpec:
    index: int
    size: tuple[int, int]


def parse_picamera(spec: str) -> PicameraSpec:
    """``picamera2:<n>[@<W>x<H>]`` (or ``libcamera:...``) as a :class:`PicameraSpec`, or InputError."""
    m = _PICAMERA.match(spec)
    if not m:
        raise InputError(f"{spec}: a Raspberry Pi camera is picamera2:<number> with an optional @<width>x<height>, "
                         "e.g. picamera2:0 or picamera2:0@1280x720")
    size = (int(m["w"]), int(m["h"])) if m["w"] else PICAMERA_DEFAULT_SIZE
    if not (32 <= size[0] <= 9152 and 32 <= size[1] <= 6944):
        raise InputError(f"{spec}: capture size {size[0]}x{size[1]} is outside 32x32 .. 9152x6944")
    return PicameraSpec(int(m["index"]), size)


class PicameraCapture:
    """The part of cv2.VideoCapture the readers use (read/isOpened/get/set/release), over picamera2.

    libcamera's ``RGB888`` format is laid out B, G, R in memory -- OpenCV's BGR -- so frames need no
    conversion beyond what every other source gets.
    """

    def __init__(self, spec: str) -> None:
        parsed = parse_picamera(spec)
        try:
            from picamera2 import Picamera2  # type: ignore[import-not-found]
        except ImportError as e:
            raise InputError(f"{spec}: {PICAMERA_HELP} ({e})") from e
        try:
            self._cam: Any = Picamera2(parsed.index)
            config = self._cam.create_video_configuration(main={"size": parsed.size, "format": "RGB888"})
            self._cam.configure(config)
            self._cam.start()
        except Exception as e:  # libcamera reports a missing camera or a busy one in many ways
            self.release()
            raise InputError(f"{spec}: cannot open Raspberry Pi camera {parsed.index}: {e}") from e
        self._open = True

    def isOpened(self) -> bool:  # the cv2.VideoCapture name
        return getattr(self, "_open", False)

    def read(self) -> tuple[bool, np.ndarray | None]:
        if not self.isOpened():
            return False, None
        try:
            return True, np.ascontiguousarray(self._cam.capture_array("main")[:, :, :3])
        except Exception:  # the camera went away; the reader reopens it with backoff
            return False, None

    def get(self, _prop: int) -> float:
        return 0.0

    def set(self, _prop: int, _value: float) -> bool:
        return False

    def release(self) -> None:
        cam = getattr(self, "_cam", None)
        self._open = False
        if cam is not None:
            for step in (cam.stop, cam.close):
                try:
                    step()
                except Exception:  # closing a half-opened camera: nothing more to do
                    continue
