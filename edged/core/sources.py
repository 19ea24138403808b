"""Frame sources as the config and the command line name them: what kind a source is, and the syntax of the
ones frd must parse (a stream URL's scheme, a Raspberry Pi camera's ``picamera2:<n>[@<W>x<H>]``).

No OpenCV and no camera library here: the config checks every camera's source when it is loaded, and
:mod:`edged.vision.camera` (OpenCV) and :mod:`edged.vision.picamera` (picamera2) open them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

#: Suffixes of the images frd reads (JPEG's ``.jfif``/``.jpe`` too) ...
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".jif", ".png", ".bmp", ".webp"})
#: ... and of images it recognises but refuses by name (:func:`image_format`), rather than try them as a video.
OTHER_IMAGE_SUFFIXES = frozenset({".gif", ".tif", ".tiff", ".heic", ".heif", ".avif", ".jp2"})
#: ISO media brands of still images (HEIF, AVIF): an MP4's ``ftyp`` box names a video brand instead.
_STILL_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis")
#: URL schemes read as network streams (through FFmpeg); the config accepts exactly these in a camera source.
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp")

#: ``picamera2:0``, ``libcamera:1@1280x720``: a libcamera camera (by number) and an optional capture size.
PICAMERA_PREFIXES = ("picamera2:", "libcamera:")
_PICAMERA = re.compile(r"^(?:picamera2|libcamera):(?P<index>\d{1,2})(?:@(?P<w>\d{2,5})x(?P<h>\d{2,5}))?$")
#: Capture size when the spec gives none: enough for faces across a room, cheap to convert.
PICAMERA_DEFAULT_SIZE = (1280, 720)


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


def url_scheme(spec: str) -> str | None:
    """The lower-cased scheme of a ``scheme://…`` source, or None for anything else (paths, indices)."""
    scheme, sep, _ = spec.partition("://")
    return scheme.lower() if sep else None


def image_format(head: bytes) -> str | None:
    """The image format a file's first bytes announce (one frd reads or not), or None.

    By content, not by name: a JPEG saved without a suffix, or as ``.jfif``, is still a photo, and a GIF or
    a TIFF is named when it is refused instead of being opened as a video that yields nothing."""
    if head[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[:2] == b"BM" and len(head) >= 26:
        return "BMP"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[4:8] == b"ftyp" and head[8:12] in _STILL_BRANDS:
        return "AVIF" if head[8:12].startswith(b"avi") else "HEIF"
    if head[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n" or head[:4] == b"\xff\x4f\xff\x51":
        return "JPEG 2000"
    return None


def _looks_like_image(path: Path) -> bool:
    """A file whose first bytes announce an image (:func:`image_format`)."""
    try:
        with path.open("rb") as f:
            return image_format(f.read(32)) is not None
    except OSError:
        return False  # opened later as a video, which says what is wrong with it


def source_kind(spec: str | int) -> str:
    """``image``, ``folder``, ``video``, ``camera``, ``picamera`` or ``stream`` for a source spec.

    A file is an image by its suffix, or, whatever its name, when its first bytes are an image's."""
    if isinstance(spec, int) or str(spec).isdigit():
        return "camera"
    s = str(spec)
    if s.startswith(PICAMERA_PREFIXES):
        return "picamera"
    if url_scheme(s) in STREAM_SCHEMES:
        return "stream"
    if s.startswith("/dev/"):
        return "camera"
    p = Path(s)
    if p.is_dir():
        return "folder"
    if p.suffix.lower() in IMAGE_SUFFIXES | OTHER_IMAGE_SUFFIXES or (p.is_file() and _looks_like_image(p)):
        return "image"
    return "video"


def is_still(spec: str | int) -> bool:
    return source_kind(spec) in ("image", "folder")
