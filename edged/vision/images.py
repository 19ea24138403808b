"""Image decoding with clear refusals, bounded in memory before a pixel is decoded.

OpenCV decodes JPEG/PNG/BMP/WebP, applies EXIF orientation and is already a
dependency for video; everything is returned as RGB uint8, the order dlib and
the embedder expect.

Images arrive from the network (MQTT enrollment), so nothing is handed to a
decoder before its size is known: only the four formats whose width and
height can be read from the header are accepted (:func:`read_header`, a small
parser of each format's published header layout, fuzzed against OpenCV and
Pillow in the tests), and an image with a side longer than ``max_side`` or
more than ``max_pixels`` pixels is refused before a single pixel is decoded
(a 20000×20000 PNG of zeros is 1 MB on the wire and 1.2 GB decoded). A
request's images are decoded one at a time, each within what is left of the
request's :class:`Budget` (``security.max_request_pixels``). Limits are
process-wide and set once from the configuration (:func:`configure`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..config import SecurityConfig, default
from ..core.errors import InputError
from ..core.sources import image_format

#: Refuse images with more pixels than this before decoding them fully (``security.max_image_pixels``) ...
MAX_PIXELS = default(SecurityConfig, "max_image_pixels")
#: ... or with a side longer than this (``security.max_image_side``) ...
MAX_SIDE = default(SecurityConfig, "max_image_side")
#: ... or once one request's images add up to more pixels than this (``security.max_request_pixels``).
MAX_REQUEST_PIXELS = default(SecurityConfig, "max_request_pixels")
#: Bytes OpenCV holds at its peak per pixel while decoding: twice the 3-byte BGR image (measured for baseline and
#: progressive JPEG, PNG, WebP and BMP at 8000×5000: +235 MB each; docs/security.md, "Memory"). The RGB
#: conversion is done in place, so a decoded image then holds 3 bytes a pixel.
DECODE_BYTES_PER_PIXEL = 6
FORMATS = "JPEG, PNG, BMP or WebP"


@dataclass
class Limits:
    max_pixels: int = MAX_PIXELS
    max_side: int = MAX_SIDE
    max_request_pixels: int = MAX_REQUEST_PIXELS


LIMITS = Limits()


def configure(max_pixels: int, max_side: int, max_request_pixels: int = MAX_REQUEST_PIXELS) -> None:
    """Set the process-wide limits (``security.max_image_pixels`` / ``max_image_side`` / ``max_request_pixels``)."""
    LIMITS.max_pixels = int(max_pixels)
    LIMITS.max_side = int(max_side)
    LIMITS.max_request_pixels = int(max_request_pixels)


@dataclass(frozen=True)
class Header:
    """What an image's header says: its format and size, all that is known before decoding."""

    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


class Budget:
    """The pixels one request may still decode: its images, decoded one at a time, share it.

    Decoding one at a time bounds memory by the largest image; the budget bounds the time a request can
    hold the command thread (20 images of 40 M pixels each would be 20 decodes of a second or more).
    """

    def __init__(self, pixels: int | None = None) -> None:
        self.total = LIMITS.max_request_pixels if pixels is None else int(pixels)
        self.left = self.total

    def take(self, header: Header, what: str) -> None:
        """Charge ``header``'s pixels, or InputError (nothing charged) if they do not fit."""
        if header.pixels > self.left:
            raise InputError(f"{what}: {header.width}x{header.height} would pass the request's budget of "
                             f"{self.total} decoded pixels ({self.left} left; security.max_request_pixels): send "
                             "fewer or smaller images")
        self.left -= header.pixels


def _u16be(b: bytes, i: int) -> int:
    return int.from_bytes(b[i : i + 2], "big")


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first frame header (SOFn), walking the marker segments (ITU T.81, B.1.1)."""
    i, n = 2, len(data)
    while i < n:
        if data[i] != 0xFF:
            return None
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            return None
        marker = data[i]
        i += 1
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            continue
        if marker in (0x00, 0xD9, 0xDA) or i + 2 > n:  # end of image or scan data before any frame header
            return None
        seg_len = _u16be(data, i)
        if seg_len < 2:
            return None
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOFn: length, P, Y, X
            if seg_len < 8 or i + 7 > n:
                return None
            return _u16be(data, i + 5), _u16be(data, i + 3)
        i += seg_len
    return None


def _bmp_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the DIB header: OS/2 1.x (16-bit sides) or Windows 3.x and later (32-bit, signed)."""
    if len(data) < 26:
        return None
    dib = int.from_bytes(data[14:18], "little")
    if dib == 12:
        return int.from_bytes(data[18:20], "little"), int.from_bytes(data[20:22], "little")
    if dib not in (16, 40, 52, 56, 64, 108, 124):
        return None
    w = int.from_bytes(data[18:22], "little", signed=True)
    h = int.from_bytes(data[22:26], "little", signed=True)
    return abs(w), abs(h)  # a negative height is a top-down image; a negative width is no image (refused below)


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of the first chunk: lossy VP8 (RFC 6386 frame header), lossless VP8L, or extended VP8X."""
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def header_size(data: bytes) -> tuple[str, tuple[int, int] | None] | None:
    """(format, (width, height) or None if the header is unreadable); None for an unsupported format."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        if len(data) >= 24 and data[8:16] == b"\x00\x00\x00\x0dIHDR":  # the first chunk, 13 bytes long
            return "PNG", (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"))
        return "PNG", None
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG", _jpeg_size(data)
    if data[:2] == b"BM":
        return "BMP", _bmp_size(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP", _webp_size(data)
    return None


def read_header(data: bytes, what: str = "image", max_pixels: int | None = None,
                max_side: int | None = None) -> Header:
    """The image's header, checked against the limits; InputError (saying why) for anything not to decode."""
    max_pixels = LIMITS.max_pixels if max_pixels is None else max_pixels
    max_side = LIMITS.max_side if max_side is None else max_side
    if not data:
        raise InputError(f"{what}: empty file")
    head = header_size(data)
    if head is None:
        other = image_format(data[:32])
        if other is not None:  # named, so that the user knows what to convert (its size cannot be bounded first)
            raise InputError(f"{what}: a {other} image, which frd does not read ({FORMATS} expected: convert it)")
        raise InputError(f"{what}: not a decodable image ({FORMATS} expected)")
    fmt, size = head
    if size is None:
        raise InputError(f"{what}: not a decodable image (a damaged {fmt} header: the image size cannot be read)")
    _check_size(what, size[0], size[1], max_pixels, max_side)
    return Header(fmt, size[0], size[1])


def _check_size(what: str, w: int, h: int, max_pixels: int, max_side: int) -> None:
    if w <= 0 or h <= 0:
        raise InputError(f"{what}: the header gives an empty image ({w}x{h})")
    if max(w, h) > max_side:
        raise InputError(f"{what}: {w}x{h} has a side of more than {max_side} pixels")
    if w * h > max_pixels:
        raise InputError(f"{what}: {w}x{h} is more than {max_pixels} pixels")


def decode_image(data: bytes, what: str = "image", max_pixels: int | None = None,
                 max_side: int | None = None, budget: Budget | None = None) -> np.ndarray:
    """Decode encoded image bytes to RGB uint8, or raise InputError saying why.

    The header is read and checked first (and charged to ``budget``, a request's); only then is OpenCV given the
    bytes, and the decoded image is checked again (EXIF orientation may swap its sides).
    """
    max_pixels = LIMITS.max_pixels if max_pixels is None else max_pixels
    max_side = LIMITS.max_side if max_side is None else max_side
    header = read_header(data, what, max_pixels, max_side)
    if budget is not None:
        budget.take(header, what)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise InputError(f"{what}: not a decodable image (a damaged {header.format} file)")
    _check_size(what, img.shape[1], img.shape[0], max_pixels, max_side)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB, dst=img)  # in place: a second copy would cost 3 bytes a pixel


def load_image(path: Path | str, max_pixels: int | None = None) -> np.ndarray:
    """Read and decode an image file to RGB uint8."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"{p}: cannot read ({e.strerror or e})") from e
    return decode_image(data, what=str(p), max_pixels=max_pixels)
