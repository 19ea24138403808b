"""Image decoding with clear refusals.

OpenCV decodes JPEG/PNG/BMP/WebP, applies EXIF orientation and is already a
dependency for video; everything is returned as RGB uint8, the order dlib and
the embedder expect.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .errors import InputError

#: Refuse images with more pixels than this before decoding them fully
#: (a 12000×12000 PNG of zeros is a few kB and 432 MB decoded).
MAX_PIXELS = 40_000_000


def _header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header, without decoding pixels."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            seg_len = int.from_bytes(data[i + 2 : i + 4], "big")
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
            i += 2 + seg_len
    return None


def decode_image(data: bytes, what: str = "image", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode encoded image bytes to RGB uint8, or raise InputError saying why."""
    if not data:
        raise InputError(f"{what}: empty file")
    size = _header_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise InputError(f"{what}: {size[0]}x{size[1]} is more than {max_pixels} pixels")
    buf = np.frombuffer(data, np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None:
        raise InputError(f"{what}: not a decodable image (JPEG, PNG, BMP or WebP expected)")
    if img.shape[0] * img.shape[1] > max_pixels:
        raise InputError(f"{what}: {img.shape[1]}x{img.shape[0]} is more than {max_pixels} pixels")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def load_image(path: Path | str, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read and decode an image file to RGB uint8."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"{p}: cannot read ({e.strerror or e})") from e
    return decode_image(data, what=str(p), max_pixels=max_pixels)
