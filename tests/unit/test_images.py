import io
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from edged.core.errors import InputError
from edged.vision.images import Budget, Header, decode_image, header_size, load_image, read_header


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


# ---------------------------------------------------------------- the header parser, against two decoders

#: Pillow writes the encodings OpenCV does not choose by itself: VP8X WebP, the other BMP headers.
PIL_FORMATS = [("WEBP", {"lossless": True}), ("WEBP", {"quality": 50}), ("WEBP", {"exif": b"Exif\0\0MM\0*"}),
               ("BMP", {}), ("PNG", {}), ("JPEG", {"progressive": True}), ("JPEG", {"quality": 90})]
CV_FORMATS = [(".png", []), (".jpg", []), (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]), (".bmp", []),
              (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101]), (".webp", [cv2.IMWRITE_WEBP_QUALITY, 60])]


def _noise(w: int, h: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _pil(img: np.ndarray, fmt: str, opts: dict) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, fmt, **opts)
    return buf.getvalue()


@settings(max_examples=100, deadline=None)
@given(w=st.integers(1, 700), h=st.integers(1, 700), which=st.integers(0, len(CV_FORMATS) + len(PIL_FORMATS) - 1))
def test_the_header_gives_the_size_opencv_and_pillow_decode(w, h, which):
    """Every encoding OpenCV or Pillow writes, at any size: the header parser reads what both decoders decode."""
    img = _noise(w, h, which)
    if which < len(CV_FORMATS):
        ext, params = CV_FORMATS[which]
        ok, buf = cv2.imencode(ext, img, params)
        assert ok
        data = buf.tobytes()
    else:
        data = _pil(img, *PIL_FORMATS[which - len(CV_FORMATS)])
    head = read_header(data)
    assert (head.width, head.height) == (w, h)
    assert Image.open(io.BytesIO(data)).size == (w, h)
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape[:2] == (h, w)


def _seeds() -> list[bytes]:
    """Small valid images of each format: what the mutations start from."""
    img = _noise(37, 23, 1)
    out = [cv2.imencode(ext, img, params)[1].tobytes() for ext, params in CV_FORMATS]
    return out + [_pil(img, fmt, opts) for fmt, opts in PIL_FORMATS]


SEEDS = _seeds()


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), edits=st.lists(st.tuples(st.integers(0, 63), st.integers(0, 255)), max_size=6),
       cut=st.integers(0, 4096))
@example(seed=SEEDS[0], edits=[(16, 0x7F), (20, 0x7F)], cut=4096)  # a PNG claiming 2 G × 2 G
def test_no_decoder_makes_more_pixels_than_the_header_allowed(seed, edits, cut):
    """Mutated and cut headers: the parser never raises, and whatever OpenCV then decodes has at most the pixels
    the header said (so the header's check bounds the decoder's memory)."""
    data = bytearray(seed[: max(cut, 1)] if cut < len(seed) else seed)
    for i, v in edits:
        if i < len(data):
            data[i] = v
    data = bytes(data)
    got = header_size(data)  # never raises
    try:
        head = read_header(data, max_pixels=2_000_000, max_side=4096)
    except InputError as e:
        assert str(e).startswith("image: ")
        return
    assert got is not None and head.pixels <= 2_000_000
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is not None:
        assert img.shape[0] * img.shape[1] <= head.pixels, (head, img.shape)


@settings(max_examples=1000, deadline=None)
@given(magic=st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"RIFF\0\0\0\0WEBP", b""]),
       rest=st.binary(max_size=200))
def test_the_parser_never_raises_and_sizes_are_in_range(magic, rest):
    got = header_size(magic + rest)
    if got is not None and got[1] is not None:
        w, h = got[1]
        assert 0 <= w < 2**32 and 0 <= h < 2**32


def test_a_request_decodes_within_its_budget_one_image_at_a_time():
    budget = Budget(1000)
    budget.take(Header("PNG", 20, 30), "a")  # 600
    with pytest.raises(InputError, match=r"b: 20x30 would pass the request's budget of 1000 decoded pixels \(400 left"):
        budget.take(Header("PNG", 20, 30), "b")
    budget.take(Header("PNG", 20, 20), "c")  # exactly what was left
    assert budget.left == 0
    png = cv2.imencode(".png", np.zeros((10, 10, 3), np.uint8))[1].tobytes()
    with pytest.raises(InputError, match="budget"):
        decode_image(png, "d", budget=budget)


def test_a_jpeg_frame_header_without_a_height_is_refused_before_decoding():
    """A height of 0 in the frame header means "given later" (DNL): the size is not known, so it is not decoded."""
    data = bytearray(cv2.imencode(".jpg", _noise(16, 16, 3))[1].tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 7] = b"\0\0"
    with pytest.raises(InputError, match=r"empty image \(16x0\)"):
        read_header(bytes(data))
