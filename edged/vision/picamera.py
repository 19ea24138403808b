"""Raspberry Pi camera modules (CSI) through picamera2, behind the VideoCapture interface the readers use.

On current Raspberry Pi OS these cameras are driven by libcamera, not by plain V4L2, so OpenCV cannot open
them. ``picamera2`` (Debian package python3-picamera2; its libcamera bindings are not on PyPI) can; it is imported
only when such a source is opened, so frd runs everywhere else without it and says what to install when a
``picamera2:`` source is configured where it is missing. The syntax of such a source is
:mod:`edged.core.sources`'s (the config checks it without importing a camera library).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import InputError
from ..core.sources import parse_picamera

PICAMERA_HELP = (
    "the picamera2 module is not importable here. On Raspberry Pi OS: `sudo apt install python3-picamera2` "
    "and create frd's virtualenv with `python3 -m venv --system-site-packages` (picamera2 and libcamera come "
    "from Debian packages, not from PyPI). A USB camera is a V4L2 device instead (/dev/video0), a network "
    "camera an rtsp:// URL."
)






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
