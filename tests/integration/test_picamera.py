"""Raspberry Pi camera sources (picamera2:<n>): the syntax, and the clear error where picamera2 is missing.

This machine has no libcamera camera, so the capture itself is exercised on a Pi only; what every machine
checks is that a Pi camera source is recognised, validated in the config, and refused with what to install
(instead of OpenCV's silent "cannot open") where the picamera2 module cannot be imported.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest

from edged.vision.camera import CameraReader


@pytest.fixture
def no_picamera2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import picamera2`` fail as it does on any machine without python3-picamera2."""
    monkeypatch.setitem(sys.modules, "picamera2", None)


def test_camera_reader_reports_the_missing_module_and_keeps_retrying(no_picamera2: None) -> None:
    """The daemon's reader does not die: it reports the reason in its state (status topic) and retries."""
    reader = CameraReader("pi", "picamera2:0", loop=False, fps_limit=None, backoff_max_s=0.2).start()
    try:
        deadline = time.monotonic() + 10
        while reader.reconnects < 2:
            assert time.monotonic() < deadline, (reader.state, reader.error)
            time.sleep(0.05)
        assert reader.state == "reconnecting"
        assert reader.error is not None and "python3-picamera2" in reader.error
        assert reader.take(0.1) is None
    finally:
        reader.stop()


@pytest.mark.skipif(importlib.util.find_spec("picamera2") is not None, reason="picamera2 is installed here")
def test_cli_recognize_on_a_pi_camera_without_picamera2(frd, tmp_path: Path) -> None:
    r = frd("recognize", "--gallery", tmp_path / "g", "picamera2:0")
    assert r.code == 1, (r.code, r.err)
    assert "picamera2:0: the picamera2 module is not importable" in r.err, r.err
