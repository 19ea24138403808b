import zlib

import numpy as np
import pytest

from edged.core.errors import InputError
from edged.vision.images import decode_image, load_image


def _png(width: int, height: int) -> bytes:
    """A valid PNG header claiming width×height with a tiny compressed body."""
    import struct

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_empty_file_is_refused(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        load_image(p)


def test_non_image_is_refused(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("this is not a picture\n")
    with pytest.raises(InputError, match="not a decodable image"):
        load_image(p)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        load_image(tmp_path / "nope.png")


def test_decompression_bomb_is_refused_before_decoding():
    with pytest.raises(InputError, match="more than"):
        decode_image(_png(20000, 20000))


def test_images_come_back_rgb(tmp_path):
    import cv2

    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[..., 2] = 255  # red in BGR
    ok, buf = cv2.imencode(".png", bgr)
    assert ok
    rgb = decode_image(buf.tobytes())
    assert rgb.shape == (4, 4, 3)
    assert rgb[0, 0].tolist() == [255, 0, 0]
