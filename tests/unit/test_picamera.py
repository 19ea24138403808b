"""Raspberry Pi camera sources (picamera2:<n>): the syntax, and the clear error where picamera2 is missing.

This machine has no libcamera camera, so the capture itself is exercised on a Pi only; what every machine
checks is that a Pi camera source is recognised, validated in the config, and refused with what to install
(instead of OpenCV's silent "cannot open") where the picamera2 module cannot be imported.
"""

from __future__ import annotations

import sys
import textwrap

import pytest

from edged.config import ConfigError, parse_config
from edged.core.errors import InputError
from edged.core.sources import PICAMERA_DEFAULT_SIZE, PicameraSpec, parse_picamera, source_kind
from edged.vision.camera import open_capture

F = "/etc/frd/frd.yaml"


@pytest.fixture
def no_picamera2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import picamera2`` fail as it does on any machine without python3-picamera2."""
    monkeypatch.setitem(sys.modules, "picamera2", None)


@pytest.mark.parametrize(("spec", "want"), [
    ("picamera2:0", PicameraSpec(0, PICAMERA_DEFAULT_SIZE)),
    ("libcamera:1", PicameraSpec(1, PICAMERA_DEFAULT_SIZE)),
    ("picamera2:0@640x480", PicameraSpec(0, (640, 480))),
    ("libcamera:12@2304x1296", PicameraSpec(12, (2304, 1296))),
])
def test_spec_parses(spec: str, want: PicameraSpec) -> None:
    assert parse_picamera(spec) == want
    assert source_kind(spec) == "picamera"


@pytest.mark.parametrize("spec", [
    "picamera2:", "picamera2:x", "picamera2:-1", "picamera2:0@", "picamera2:0@640", "picamera2:0@10x10",
    "picamera2:0@99999x480", "libcamera:0:1", "picamera2: 0",
])
def test_bad_spec_is_refused_with_the_syntax(spec: str) -> None:
    with pytest.raises(InputError) as info:
        parse_picamera(spec)
    assert str(info.value).startswith(f"{spec}: ")
    assert "picamera2:0" in str(info.value) or "outside" in str(info.value)


def test_other_sources_are_not_pi_cameras() -> None:
    assert source_kind("/dev/video0") == "camera"
    assert source_kind("0") == "camera"
    assert source_kind("rtsp://192.0.2.1/x") == "stream"


def test_config_accepts_a_pi_camera_and_names_the_line_of_a_bad_one() -> None:
    cfg = parse_config("cameras:\n  - name: pi\n    source: picamera2:0@1280x720\n", F)
    assert cfg.cameras[0].source == "picamera2:0@1280x720"
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent("""\
            cameras:
              - name: ok
                source: /dev/video0
              - name: pi
                source: picamera2:front
            """), F)
    msg = str(info.value)
    assert msg.startswith(f"{F}:5: cameras[1].source"), msg
    assert "picamera2:<number>" in msg


def test_missing_picamera2_says_what_to_install(no_picamera2: None) -> None:
    with pytest.raises(InputError) as info:
        open_capture("picamera2:0")
    msg = str(info.value)
    assert msg.startswith("picamera2:0: the picamera2 module is not importable")
    assert "apt install python3-picamera2" in msg and "--system-site-packages" in msg
    assert "/dev/video0" in msg  # and what a USB camera is instead
